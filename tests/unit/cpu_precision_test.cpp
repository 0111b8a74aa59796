// SPDX-License-Identifier: MIT
// lamd --precision (issue 14, item 2). bf16 is refused, naming the missing instruction set, where
// oneDNN has no native bf16 (checked on every CPU: the test caps oneDNN's ISA at AVX2 first);
// auto then serves fp32, bit for bit the fp32 engine, and says so in the status, the hello reply
// and the executable keys. Where the CPU runs bf16 natively (AVX512_BF16 or AMX), a bf16 engine
// keeps its executables apart from fp32's, stays within cosine 0.9999 of fp32 and is bitwise
// batch-invariant; elsewhere that test skips.
#include <gtest/gtest.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_bert.h"
#include "backend/cpu/cpu_precision.h"
#include "cache/executable_cache.h"
#include "engine/engine.h"
#include "engine/synthetic_model.h"
#include "random_bert.h"
#include "unit/support/cosine.h"
#include "unit/support/inproc_server.h"
#include "unit/support/raw_control.h"

namespace lam::cpu {
namespace {

using engine::Engine;
using engine::EngineOptions;
using engine::ModelInfo;
using engine::SyntheticModel;
using engine::TokenSpan;
using engine::Variant;

constexpr int kVocab = 1000;

Result<std::unique_ptr<Engine>> Open(const std::shared_ptr<const void>& owner, const engine::ModelWeights& w,
                                     const std::string& precision, cache::ExecutableCache* cache,
                                     int threads = 1) {
  EngineOptions o;
  o.precision = precision;
  o.threads = threads;
  o.buckets = {{8, 512}, {64, 2048}};
  o.cache = cache;
  ModelInfo info;
  info.fingerprint = "00112233445566778899aabbccddeeff";
  return Engine::FromWeights(owner, w, info, o);
}

std::vector<std::vector<int32_t>> Sequences(uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(0, kVocab - 1);
  std::vector<std::vector<int32_t>> seqs;
  for (int len : {1, 5, 17, 31, 33, 64, 65, 100, 130, 300}) {
    std::vector<int32_t> ids(static_cast<size_t>(len));
    for (auto& x : ids) x = d(rng);
    seqs.push_back(std::move(ids));
  }
  return seqs;
}

std::vector<float> EmbedEach(Engine& e, const std::vector<std::vector<int32_t>>& seqs) {
  std::vector<float> out(seqs.size() * 384);
  for (size_t i = 0; i < seqs.size(); ++i) {
    const TokenSpan sp{seqs[i].data(), seqs[i].size()};
    const Status st = e.Embed({&sp, 1}, out.data() + i * 384);
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  return out;
}

std::vector<float> EmbedBatch(Engine& e, const std::vector<std::vector<int32_t>>& seqs) {
  std::vector<TokenSpan> batch;
  for (const auto& s : seqs) batch.push_back({s.data(), s.size()});
  std::vector<float> out(seqs.size() * 384);
  const Status st = e.Embed(batch, out.data());
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

using lam::testing::Cosine;

TEST(CpuPrecisionTest, Bf16IsRefusedNamingTheMissingInstructionSetAndAutoServesFp32) {
  // Run by ctest in its own process, this is the first oneDNN call, so the cap takes effect and
  // the refusal is checked on AMX machines too. Where it cannot (the whole binary run at once on
  // a bf16 CPU), there is nothing to refuse.
  const dnnl::status capped = dnnl::set_max_cpu_isa(dnnl::cpu_isa::avx2);
  const Status native = CheckNativeBf16();
  if (native.ok()) {
    GTEST_SKIP() << "oneDNN runs bf16 natively here and its ISA could not be capped at avx2 (status "
                 << static_cast<int>(capped) << "); run this test alone";
  }
  EXPECT_EQ(native.code(), LAM_STATUS_UNSUPPORTED);
  EXPECT_NE(native.message().find("AVX512_BF16 or AMX"), std::string::npos) << native.message();
  EXPECT_NE(native.message().find("ISA on this CPU is " + OnednnIsaName()), std::string::npos) << native.message();

  auto model = std::make_shared<SyntheticModel>(Variant::kR64T, 3, /*layers=*/1, kVocab);
  CpuBackendOptions bo;
  bo.threads = 1;
  bo.precision = Precision::kBf16;
  auto backend = CpuBackend::Create(model->weights(), bo);
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), LAM_STATUS_UNSUPPORTED);
  enginetest::RandomBert bert(4, /*layers=*/1);
  auto bert_backend = CpuBertBackend::Create(bert.weights(), 1, Precision::kBf16);
  ASSERT_FALSE(bert_backend.ok());
  EXPECT_EQ(bert_backend.status().code(), LAM_STATUS_UNSUPPORTED);

  cache::ExecutableCache cache;
  auto refused = Open(model, model->weights(), "bf16", &cache);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), LAM_STATUS_UNSUPPORTED);
  EXPECT_NE(refused.status().message().find("AVX512_BF16"), std::string::npos) << refused.status().message();
  EXPECT_NE(refused.status().message().find(OnednnIsaName()), std::string::npos) << refused.status().message();
  auto unknown = Open(model, model->weights(), "fp16", &cache);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), LAM_STATUS_INVALID_ARG);

  auto fp32 = Open(model, model->weights(), "fp32", &cache);
  auto autop = Open(model, model->weights(), "auto", &cache);
  ASSERT_TRUE(fp32.ok() && autop.ok());
  EXPECT_EQ((*fp32)->info().precision, "fp32");
  EXPECT_EQ((*autop)->info().precision, "fp32");
  const auto seqs = Sequences(7);
  const std::vector<float> a = EmbedBatch(**fp32, seqs), b = EmbedBatch(**autop, seqs);
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
  ASSERT_FALSE((*autop)->ExecutableStats().empty());
  for (const auto& s : (*autop)->ExecutableStats()) EXPECT_EQ(s.key.precision, "fp32") << s.bucket;
}

TEST(CpuPrecisionTest, StatusAndHelloReplyReportThePrecisionServed) {
  auto model = std::make_shared<SyntheticModel>(Variant::kF128, 5, /*layers=*/1, kVocab);
  cache::ExecutableCache cache;
  auto e = Open(model, model->weights(), "auto", &cache);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const std::string want = CheckNativeBf16().ok() ? "bf16" : "fp32";
  EXPECT_EQ((*e)->info().precision, want);

  testing::InprocServer server;
  ASSERT_TRUE(server.Start(e->get()).ok());
  testing::RawControl c;
  ASSERT_TRUE(c.Connect(server.socket()));
  ASSERT_EQ(c.Hello(), LAM_STATUS_OK);
  EXPECT_STREQ(c.last_hello.precision, want.c_str());
  std::string reply;
  ASSERT_TRUE(c.Call(shm::kFrameStatusRequest, "", shm::kFrameStatusReply, &reply));
  const auto doc = nlohmann::json::parse(reply, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << reply;
  EXPECT_EQ(doc["model"].value("precision", ""), want) << reply;
  EXPECT_EQ(doc["executables"].value("precision", ""), want) << reply;
  server.Stop();
}

// fp32 and bf16 executables of one model never share a key, in memory or on disk.
TEST(CpuPrecisionTest, Fp32AndBf16IdentitiesGiveDifferentKeys) {
  cache::ExecutableIdentity id;
  id.model_fingerprint = "00112233445566778899aabbccddeeff";
  id.backend = "cpu";
  id.device = cache::HostCpuIsa() + "/threads=0";
  id.toolkit = "onednn-2.6.3";
  id.artifact = "cpu-exe-lam";
  cache::ExecutableIdentity bf16 = id;
  bf16.precision = "bf16";
  const backend::Bucket b{64, 512};
  const cache::CacheKey k32 = cache::MakeExecutableKey(id, b), k16 = cache::MakeExecutableKey(bf16, b);
  EXPECT_EQ(k32.precision, "fp32");
  EXPECT_EQ(k16.precision, "bf16");
  EXPECT_TRUE(k32.Validate().ok() && k16.Validate().ok());
  EXPECT_NE(k32.Canonical(), k16.Canonical());
  EXPECT_NE(k32.Hash(), k16.Hash());  // the disk cache's file name
}

class NativeBf16Test : public ::testing::TestWithParam<Variant> {};

TEST_P(NativeBf16Test, Bf16IsCloseToFp32KeptApartInTheCacheAndBitwiseBatchInvariant) {
  const Status native = CheckNativeBf16();
  if (!native.ok()) GTEST_SKIP() << native.message();
  std::shared_ptr<const void> owner;
  const engine::ModelWeights* w = nullptr;
  if (GetParam() == Variant::kNone) {
    auto bert = std::make_shared<enginetest::RandomBert>(8, /*layers=*/2);
    w = &bert->weights();
    owner = bert;
  } else {
    auto lam = std::make_shared<SyntheticModel>(GetParam(), 8, /*layers=*/2, kVocab);
    w = &lam->weights();
    owner = lam;
  }
  cache::ExecutableCache cache;
  // Two threads: batches of at most 64 rows run as verified GEMM column halves.
  auto fp32 = Open(owner, *w, "fp32", &cache, 2);
  auto bf16 = Open(owner, *w, "bf16", &cache, 2);
  ASSERT_TRUE(fp32.ok()) << fp32.status().ToString();
  ASSERT_TRUE(bf16.ok()) << bf16.status().ToString();
  EXPECT_EQ((*bf16)->info().precision, "bf16");
  const auto seqs = Sequences(11);
  const std::vector<float> ref = EmbedEach(**fp32, seqs), alone = EmbedEach(**bf16, seqs);
  bool differs = false;
  for (size_t i = 0; i < seqs.size(); ++i) {
    EXPECT_GE(Cosine(alone.data() + i * 384, ref.data() + i * 384), 0.9999) << "L=" << seqs[i].size();
    differs = differs || std::memcmp(alone.data() + i * 384, ref.data() + i * 384, 384 * sizeof(float)) != 0;
  }
  EXPECT_TRUE(differs) << "bf16 gave fp32's bits for every sequence: the bf16 GEMMs did not run";
  // Batched (forward and reversed) and alone: the same bits.
  const std::vector<float> batch = EmbedBatch(**bf16, seqs);
  EXPECT_EQ(0, std::memcmp(batch.data(), alone.data(), batch.size() * sizeof(float)));
  std::vector<std::vector<int32_t>> rev(seqs.rbegin(), seqs.rend());
  const std::vector<float> rbatch = EmbedBatch(**bf16, rev);
  for (size_t i = 0; i < seqs.size(); ++i) {
    EXPECT_EQ(0, std::memcmp(rbatch.data() + (seqs.size() - 1 - i) * 384, alone.data() + i * 384, 384 * sizeof(float)))
        << "L=" << seqs[i].size();
  }
  // One cache, two engines: every bucket twice, once per precision.
  size_t n16 = 0, n32 = 0;
  for (const auto& s : cache.List()) (s.key.precision == "bf16" ? n16 : n32) += 1;
  EXPECT_EQ(n16, (*bf16)->ExecutableStats().size());
  EXPECT_EQ(n32, (*fp32)->ExecutableStats().size());
  for (const auto& s : (*bf16)->ExecutableStats()) EXPECT_EQ(s.key.precision, "bf16");
}

INSTANTIATE_TEST_SUITE_P(Families, NativeBf16Test,
                         ::testing::Values(Variant::kF128, Variant::kR64T, Variant::kR32, Variant::kNone),
                         [](const auto& param_info) {
                           return param_info.param == Variant::kNone ? std::string("bert")
                                                               : std::string(engine::variant_name(param_info.param));
                         });

}  // namespace
}  // namespace lam::cpu
