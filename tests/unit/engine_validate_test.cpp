// SPDX-License-Identifier: MIT
// Engine::Validate / Embed on bad input (distinct codes, messages naming sequence and position,
// nothing computed, engine still usable), backend selection, bucket planning and counters.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "engine/engine.h"
#if LAM_HAVE_CUDA
#include "backend/cuda/cuda_driver.h"
#endif
#include "engine/synthetic_model.h"

namespace lam::engine {
namespace {

constexpr int kVocab = 500;

class ValidateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = std::make_shared<SyntheticModel>(Variant::kF128, 11, /*layers=*/1, kVocab);
    model_->mutable_weights().config.max_tokens = 256;
    EngineOptions opt;
    opt.buckets = {{4, 64}, {16, 256}};
    auto r = Engine::FromWeights(model_, model_->weights(), ModelInfo{}, opt);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    engine_ = std::move(r).value();
  }
  Status EmbedOne(std::vector<int32_t> ids, std::vector<float>* out) {
    TokenSpan sp{ids.data(), ids.size()};
    out->assign(384, -7.0f);
    return engine_->Embed({&sp, 1}, out->data());
  }
  std::shared_ptr<SyntheticModel> model_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(ValidateTest, EmptyBatch) {
  float out[384];
  Status st = engine_->Embed({}, out);
  EXPECT_EQ(st.code(), LAM_STATUS_EMPTY_BATCH);
}

TEST_F(ValidateTest, EmptySequenceNamesItsIndex) {
  std::vector<int32_t> a = {1, 2, 3};
  TokenSpan batch[] = {{a.data(), a.size()}, {a.data(), 0}};
  std::vector<float> out(2 * 384, -7.0f);
  Status st = engine_->Embed(batch, out.data());
  EXPECT_EQ(st.code(), LAM_STATUS_EMPTY_SEQUENCE);
  EXPECT_NE(st.message().find("sequence 1"), std::string::npos) << st.message();
  for (float v : out) ASSERT_EQ(v, -7.0f);  // nothing computed, nothing written
}

TEST_F(ValidateTest, TokenOutOfRangeNamesSequenceAndPosition) {
  std::vector<float> out;
  for (int32_t bad : {-1, kVocab, std::numeric_limits<int32_t>::max()}) {
    std::vector<int32_t> a = {1, 2, 3}, b = {4, 5, bad, 6};
    TokenSpan batch[] = {{a.data(), a.size()}, {b.data(), b.size()}};
    Status st = engine_->Validate(batch);
    EXPECT_EQ(st.code(), LAM_STATUS_TOKEN_OUT_OF_RANGE);
    EXPECT_NE(st.message().find("position 2 of sequence 1"), std::string::npos) << st.message();
  }
}

TEST_F(ValidateTest, SequenceTooLong) {
  std::vector<int32_t> ids(257, 3);
  std::vector<float> out;
  Status st = EmbedOne(ids, &out);
  EXPECT_EQ(st.code(), LAM_STATUS_SEQUENCE_TOO_LONG);
  EXPECT_NE(st.message().find("sequence 0"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("256"), std::string::npos) << st.message();
  ids.resize(256);
  EXPECT_TRUE(EmbedOne(ids, &out).ok());
}

TEST_F(ValidateTest, EngineStaysUsableAndDeterministicAfterErrors) {
  std::vector<float> before, after, junk;
  ASSERT_TRUE(EmbedOne({101, 7, 8, 102}, &before).ok());
  EXPECT_FALSE(EmbedOne({101, -5, 102}, &junk).ok());
  EXPECT_FALSE(EmbedOne({}, &junk).ok());
  ASSERT_TRUE(EmbedOne({101, 7, 8, 102}, &after).ok());
  EXPECT_EQ(0, std::memcmp(before.data(), after.data(), 384 * sizeof(float)));
  double n2 = 0;
  for (float v : after) n2 += static_cast<double>(v) * v;
  EXPECT_NEAR(n2, 1.0, 1e-5);
}

TEST_F(ValidateTest, SplitsBatchesLargerThanTheLargestBucketAndCountsHits) {
  // 40 sequences of 16 tokens: sub-batches of 16, 16 and 8 in the 16x256 bucket.
  std::vector<std::vector<int32_t>> seqs(40, std::vector<int32_t>(16));
  std::vector<TokenSpan> batch;
  for (size_t i = 0; i < seqs.size(); ++i) {
    for (size_t t = 0; t < 16; ++t) seqs[i][t] = static_cast<int32_t>((i * 31 + t * 7) % kVocab);
    batch.push_back({seqs[i].data(), seqs[i].size()});
  }
  std::vector<float> out(batch.size() * 384);
  ASSERT_TRUE(engine_->Embed(batch, out.data()).ok());
  EngineStats s = engine_->stats();
  EXPECT_EQ(s.runs, 3u);
  EXPECT_EQ(s.compiles, 1u);  // 16x256 serves all three; the first run compiles it
  EXPECT_EQ(s.hits, 2u);
  EXPECT_GT(s.executable_bytes, 0u);
  // Each row equals the sequence embedded alone.
  std::vector<float> one;
  ASSERT_TRUE(EmbedOne(seqs[37], &one).ok());
  EXPECT_EQ(0, std::memcmp(one.data(), out.data() + 37 * 384, 384 * sizeof(float)));
  ASSERT_TRUE(engine_->CompileAll().ok());
  EXPECT_EQ(engine_->stats().executables, 2u);
  ASSERT_EQ(engine_->buckets().size(), 2u);
  EXPECT_EQ(engine_->buckets()[0].ToString(), "4x64");
}

TEST(EngineOpenTest, BackendSelection) {
  auto model = std::make_shared<SyntheticModel>(Variant::kF128, 1, /*layers=*/1, kVocab);
  EngineOptions opt;
  opt.buckets = {{64, 8192}};
  opt.backend = "cuda";
  auto r = Engine::FromWeights(model, model->weights(), ModelInfo{}, opt);
  // Without a GPU the engine logs why and serves on the CPU; with one, the CUDA module serves.
#if LAM_HAVE_CUDA
  const char* expected = cuda::DeviceCount() > 0 ? "cuda" : "cpu";
#else
  const char* expected = "cpu";
#endif
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_STREQ((*r)->backend_name(), expected);
  opt.backend = "tpu";
  EXPECT_EQ(Engine::FromWeights(model, model->weights(), ModelInfo{}, opt).status().code(), LAM_STATUS_INVALID_ARG);
  opt.backend = "auto";
  auto a = Engine::FromWeights(model, model->weights(), ModelInfo{}, opt);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_STREQ((*a)->backend_name(), expected);
}

// tf32 is the CUDA backend's fast mode: named in the model info where it serves, refused (never
// silently fp32) where it cannot.
TEST(EngineOpenTest, Tf32IsServedByTheCudaBackendOnly) {
  auto model = std::make_shared<SyntheticModel>(Variant::kF128, 1, /*layers=*/1, kVocab);
  EngineOptions opt;
  opt.buckets = {{4, 64}};
  opt.precision = "tf32";
  opt.backend = "cpu";
  auto cpu = Engine::FromWeights(model, model->weights(), ModelInfo{}, opt);
  EXPECT_EQ(cpu.status().code(), LAM_STATUS_UNSUPPORTED);
  EXPECT_NE(cpu.status().message().find("CUDA backend only"), std::string::npos) << cpu.status().ToString();
  opt.backend = "cuda";
  auto cuda = Engine::FromWeights(model, model->weights(), ModelInfo{}, opt);
#if LAM_HAVE_CUDA
  if (cuda::DeviceCount() > 0) {
    ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
    EXPECT_STREQ((*cuda)->backend_name(), "cuda");
    EXPECT_EQ((*cuda)->info().precision, "tf32");
    return;
  }
#endif
  EXPECT_EQ(cuda.status().code(), LAM_STATUS_UNSUPPORTED);
  EXPECT_NE(cuda.status().message().find("needs the CUDA backend"), std::string::npos) << cuda.status().ToString();
  opt.precision = "tf16";
  EXPECT_EQ(Engine::FromWeights(model, model->weights(), ModelInfo{}, opt).status().code(), LAM_STATUS_INVALID_ARG);
}

TEST(EngineOpenTest, LargestBucketMustHoldTheMostSequences) {
  auto model = std::make_shared<SyntheticModel>(Variant::kR32, 1, /*layers=*/1, kVocab);
  EngineOptions opt;
  opt.buckets = {{8, 1024}};  // shorter than max_tokens 8192: longer sequences get on-demand buckets
  EXPECT_TRUE(Engine::FromWeights(model, model->weights(), ModelInfo{}, opt).ok());
  opt.buckets = {{64, 128}, {8, 1024}};
  EXPECT_EQ(Engine::FromWeights(model, model->weights(), ModelInfo{}, opt).status().code(), LAM_STATUS_INVALID_ARG);
  EXPECT_EQ(DefaultBuckets().back().token_budget, 8192);
  EXPECT_EQ(DefaultBuckets().back().max_sequences, 64);
}

TEST(EngineOpenTest, MissingModelDirectoryIsAnError) {
  auto r = Engine::Open("/nonexistent/lam-model-dir", EngineOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().code(), LAM_STATUS_OK);
}

TEST(EngineOpenTest, MissingTensorIsModelInvalid) {
  auto model = std::make_shared<SyntheticModel>(Variant::kR64T, 1, /*layers=*/2, kVocab);
  model->mutable_weights().lam_layers[1].tflux_net1_w = nullptr;
  EngineOptions opt;
  auto r = Engine::FromWeights(model, model->weights(), ModelInfo{}, opt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), LAM_STATUS_MODEL_INVALID);
  EXPECT_NE(r.status().message().find("layer 1"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace lam::engine
