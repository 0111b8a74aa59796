// SPDX-License-Identifier: MIT
// Bitwise batch and padding invariance (lam-model.md section 8): a sequence's embedding alone,
// inside mixed batches of 1-64 sequences at any position, and in any bucket is the same bits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "engine/engine.h"
#include "engine/synthetic_model.h"

namespace lam::engine {
namespace {

constexpr int kVocab = 1000;
const int kLengths[] = {1, 31, 32, 33, 63, 64, 65, 100, 128, 130, 200, 256, 300, 513};

std::unique_ptr<Engine> MakeEngine(const std::shared_ptr<SyntheticModel>& model,
                                   std::vector<backend::Bucket> buckets) {
  EngineOptions opt;
  opt.buckets = std::move(buckets);
  auto r = Engine::FromWeights(model, model->weights(), ModelInfo{}, opt);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

std::vector<std::vector<int32_t>> MakeSequences(uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(0, kVocab - 1);
  std::vector<std::vector<int32_t>> seqs;
  for (int len : kLengths) {
    std::vector<int32_t> ids(static_cast<size_t>(len));
    for (auto& x : ids) x = d(rng);
    seqs.push_back(std::move(ids));
  }
  return seqs;
}

class InvarianceTest : public ::testing::TestWithParam<Variant> {};

TEST_P(InvarianceTest, AloneMixedAndBucketsAreBitwiseEqual) {
  // One layer is enough here: engine_forward_test checks the multi-layer maths.
  auto model = std::make_shared<SyntheticModel>(GetParam(), 99, /*layers=*/1, kVocab);
  model->mutable_weights().config.max_tokens = 1024;
  auto small = MakeEngine(model, {{1, 600}, {8, 1024}});
  auto big = MakeEngine(model, {{64, 1024}, {64, 4096}});
  ASSERT_TRUE(small && big);
  const auto seqs = MakeSequences(5);
  const size_t n = seqs.size();

  // Alone, in the smallest bucket that fits.
  std::vector<std::vector<float>> alone(n, std::vector<float>(384));
  for (size_t i = 0; i < n; ++i) {
    TokenSpan sp{seqs[i].data(), seqs[i].size()};
    ASSERT_TRUE(small->Embed({&sp, 1}, alone[i].data()).ok());
  }
  // Mixed batches of 2..64 at random positions, in the other engine's buckets (and split where
  // the batch exceeds the largest bucket).
  std::mt19937 rng(42);
  for (int size : {3, 17, 64}) {
    std::vector<size_t> pick(static_cast<size_t>(size));
    for (auto& p : pick) p = rng() % n;
    std::vector<TokenSpan> batch;
    for (size_t p : pick) batch.push_back({seqs[p].data(), seqs[p].size()});
    std::vector<float> out(batch.size() * 384);
    for (Engine* e : {small.get(), big.get()}) {
      ASSERT_TRUE(e->Embed(batch, out.data()).ok());
      for (size_t j = 0; j < pick.size(); ++j) {
        EXPECT_EQ(0, std::memcmp(out.data() + j * 384, alone[pick[j]].data(), 384 * sizeof(float)))
            << "variant " << variant_name(GetParam()) << " L=" << seqs[pick[j]].size()
            << " at position " << j << " of a batch of " << size;
      }
    }
  }
  // Every configured bucket was used and cached.
  EXPECT_GE(big->stats().hits + big->stats().compiles, 4u);
}

// Batches of at most 64 packed rows run each GEMM as two column halves on two threads
// (cpu_exec_common.h); larger batches run whole row tiles, one thread per tile. Both must give
// the same bits: every length 1..64 alone (every tail plan of cpu_exec_common.h, or one full tile),
// short sequences together (still the column-half path), all of them inside one batch of
// thousands of rows, and the same on one thread (no halves at all) and on 5 and 7 (balanced parts).
TEST_P(InvarianceTest, SmallBatchColumnHalvesMatchRowTiles) {
  auto model = std::make_shared<SyntheticModel>(GetParam(), 17, /*layers=*/2, kVocab);
  model->mutable_weights().config.max_tokens = 1024;
  cpu::CpuBackendOptions two, one;
  two.threads = 2;
  one.threads = 1;
  auto be2 = cpu::CpuBackend::Create(model->weights(), two);
  auto be1 = cpu::CpuBackend::Create(model->weights(), one);
  ASSERT_TRUE(be2.ok() && be1.ok());
  if (!(*be2)->column_split() && !(*be2)->split_layout_error().empty()) {
    GTEST_SKIP() << "the column halves could not be set up on this CPU: " << (*be2)->split_layout_error();
  }
  ASSERT_TRUE((*be2)->column_split())
      << "oneDNN's column halves did not reproduce the full GEMMs' bits: small batches would run on one thread";
  EXPECT_FALSE((*be1)->column_split());
  auto small = (*be2)->Compile({4, 64});
  auto big2 = (*be2)->Compile({64, 4096});
  auto big1 = (*be1)->Compile({64, 4096});
  ASSERT_TRUE(small.ok() && big2.ok() && big1.ok());

  std::mt19937 rng(23);
  std::uniform_int_distribution<int32_t> d(0, kVocab - 1);
  std::vector<std::vector<int32_t>> seqs;
  for (int len = 1; len <= 64; ++len) {
    std::vector<int32_t> ids(static_cast<size_t>(len));
    for (auto& x : ids) x = d(rng);
    seqs.push_back(std::move(ids));
  }
  std::vector<std::vector<float>> alone(seqs.size(), std::vector<float>(384));
  for (size_t i = 0; i < seqs.size(); ++i) {
    TokenSpan sp{seqs[i].data(), seqs[i].size()};
    ASSERT_TRUE((*be2)->Run(**small, {&sp, 1}, alone[i].data()).ok());
  }
  auto check = [&](const std::vector<size_t>& pick, const std::vector<float>& out, const char* where) {
    for (size_t j = 0; j < pick.size(); ++j) {
      EXPECT_EQ(0, std::memcmp(out.data() + j * 384, alone[pick[j]].data(), 384 * sizeof(float)))
          << "variant " << variant_name(GetParam()) << " L=" << seqs[pick[j]].size() << " at position " << j
          << " " << where;
    }
  };
  // Short sequences together: 57 rows in tail tiles, still the column-half path.
  {
    const std::vector<size_t> pick = {2, 15, 28, 8};
    std::vector<TokenSpan> batch;
    for (size_t p : pick) batch.push_back({seqs[p].data(), seqs[p].size()});
    std::vector<float> out(batch.size() * 384);
    ASSERT_TRUE((*be2)->Run(**small, batch, out.data()).ok());
    check(pick, out, "in a small batch");
  }
  // All 64 together (2,080 rows: row tiles), reversed, on two threads and on one.
  std::vector<size_t> pick;
  std::vector<TokenSpan> batch;
  for (size_t i = seqs.size(); i-- > 0;) {
    pick.push_back(i);
    batch.push_back({seqs[i].data(), seqs[i].size()});
  }
  std::vector<float> out(batch.size() * 384);
  ASSERT_TRUE((*be2)->Run(**big2, batch, out.data()).ok());
  check(pick, out, "in a batch of 64 on two threads");
  std::fill(out.begin(), out.end(), 0.0f);
  ASSERT_TRUE((*be1)->Run(**big1, batch, out.data()).ok());
  check(pick, out, "in a batch of 64 on one thread");
  // On 5 and 7 threads the batch is cut into balanced parts, each ending in an exact cover of
  // tail tiles (cpu_exec_common.h): other tile heights at other rows, the same bits.
  for (int threads : {5, 7}) {
    cpu::CpuBackendOptions o;
    o.threads = threads;
    auto be = cpu::CpuBackend::Create(model->weights(), o);
    ASSERT_TRUE(be.ok());
    auto exe = (*be)->Compile({64, 4096});
    ASSERT_TRUE(exe.ok());
    std::fill(out.begin(), out.end(), 0.0f);
    ASSERT_TRUE((*be)->Run(**exe, batch, out.data()).ok());
    check(pick, out, threads == 5 ? "in a batch of 64 on five threads" : "in a batch of 64 on seven threads");
  }
}

INSTANTIATE_TEST_SUITE_P(AllVariants, InvarianceTest,
                         ::testing::Values(Variant::kF128, Variant::kR64T, Variant::kR32),
                         [](const auto& p) { return std::string(variant_name(p.param)); });

TEST(InvarianceTest, RepeatedRunsAndThreadCountsGiveTheSameBits) {
  auto model = std::make_shared<SyntheticModel>(Variant::kF128, 3, /*layers=*/1, kVocab);
  model->mutable_weights().config.max_tokens = 1024;
  EngineOptions one;
  one.threads = 1;
  one.buckets = {{64, 1024}};
  EngineOptions two = one;
  two.threads = 2;
  auto e1 = Engine::FromWeights(model, model->weights(), ModelInfo{}, one);
  auto e2 = Engine::FromWeights(model, model->weights(), ModelInfo{}, two);
  ASSERT_TRUE(e1.ok() && e2.ok());
  const auto seqs = MakeSequences(8);
  std::vector<TokenSpan> batch;
  for (const auto& s : seqs) {
    if (s.size() <= 300) batch.push_back({s.data(), s.size()});
  }
  std::vector<float> a(batch.size() * 384), b(a.size()), c(a.size());
  ASSERT_TRUE((*e1)->Embed(batch, a.data()).ok());
  ASSERT_TRUE((*e2)->Embed(batch, b.data()).ok());
  ASSERT_TRUE((*e2)->Embed(batch, c.data()).ok());
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(b.data(), c.data(), b.size() * sizeof(float)));
}

}  // namespace
}  // namespace lam::engine
