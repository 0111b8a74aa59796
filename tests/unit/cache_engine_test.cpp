// SPDX-License-Identifier: MIT
// The engine on the executable cache: default buckets cover every length up to the model
// maximum with batches 1-64, warm-up reports every bucket, a sequence longer than the largest
// configured bucket is served (a bucket compiled on demand, then cached) with the same bits as
// in a big bucket, and engines sharing one cache keep their executables apart.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "cache/executable_cache.h"
#include "engine/engine.h"
#include "engine/synthetic_model.h"

namespace lam::engine {
namespace {

constexpr int kVocab = 1000;

std::vector<int32_t> Ids(size_t n, int salt) {
  std::vector<int32_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<int32_t>((i * 131 + static_cast<size_t>(salt) * 17) % kVocab);
  return v;
}

const cache::BucketStats* Find(const std::vector<cache::BucketStats>& all, const std::string& bucket) {
  for (const auto& s : all) {
    if (s.bucket == bucket) return &s;
  }
  return nullptr;
}

TEST(CacheEngineTest, DefaultBucketsCoverTheModelMaximumAndBatchesTo64) {
  for (int max_tokens : {512, 8192, 3000, 100}) {
    const auto b = DefaultBuckets(max_tokens);
    ASSERT_FALSE(b.empty());
    EXPECT_EQ(b.back().token_budget, std::max(max_tokens, 64)) << max_tokens;
    for (const auto& x : b) {
      EXPECT_EQ(x.max_sequences, 64);
      EXPECT_LE(x.token_budget, std::max(max_tokens, 64));
    }
  }
  EXPECT_EQ(DefaultBuckets(8192).size(), 4u);
  EXPECT_EQ(DefaultBuckets(512).size(), 2u);  // 64x128, 64x512
}

TEST(CacheEngineTest, WarmReportsEveryBucketAndLaterRunsHit) {
  auto model = std::make_shared<SyntheticModel>(Variant::kF128, 3, /*layers=*/1, kVocab);
  cache::ExecutableCache cache;
  EngineOptions opt;
  opt.threads = 1;
  opt.buckets = {{8, 64}, {8, 256}};
  opt.cache = &cache;
  auto e = Engine::FromWeights(model, model->weights(), ModelInfo{}, opt);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  std::vector<cache::WarmProgress> seen;
  ASSERT_TRUE((*e)->Warm([&](const cache::WarmProgress& p) { seen.push_back(p); }).ok());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].index, 2u);
  EXPECT_EQ(seen[1].bucket, "8x256");
  EXPECT_EQ((*e)->stats().compiles, 2u);
  EXPECT_EQ((*e)->stats().executables, 2u);
  const auto ids = Ids(100, 1);
  const TokenSpan s{ids.data(), ids.size()};
  std::vector<float> out(384);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE((*e)->Embed({&s, 1}, out.data()).ok());
  const EngineStats st = (*e)->stats();
  EXPECT_EQ(st.compiles, 2u);
  EXPECT_EQ(st.hits, 20u);
  EXPECT_EQ(st.runs, 20u);
  // ClearExecutables drops them; the next request compiles its bucket again.
  EXPECT_EQ((*e)->ClearExecutables(), 2u);
  EXPECT_EQ((*e)->stats().executables, 0u);
  ASSERT_TRUE((*e)->Embed({&s, 1}, out.data()).ok());
  EXPECT_EQ((*e)->stats().compiles, 3u);
}

TEST(CacheEngineTest, LongerThanLargestBucketIsServedOnDemandAndCached) {
  auto model = std::make_shared<SyntheticModel>(Variant::kR64T, 5, /*layers=*/1, kVocab);
  cache::ExecutableCache cache;
  EngineOptions small;
  small.threads = 1;
  small.buckets = {{8, 256}};  // max_tokens is 8192
  small.cache = &cache;
  auto e = Engine::FromWeights(model, model->weights(), ModelInfo{}, small);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_TRUE((*e)->CompileAll().ok());

  const auto long_ids = Ids(1500, 2), short_ids = Ids(40, 3);
  const std::vector<TokenSpan> batch = {{short_ids.data(), short_ids.size()},
                                        {long_ids.data(), long_ids.size()},
                                        {short_ids.data(), short_ids.size()}};
  std::vector<float> out(3 * 384), again(3 * 384);
  Status st = (*e)->Embed(batch, out.data());
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE((*e)->Embed(batch, again.data()).ok());
  EXPECT_EQ(0, std::memcmp(out.data(), again.data(), out.size() * sizeof(float)));
  const auto stats = (*e)->ExecutableStats();
  const cache::BucketStats* od = Find(stats, "1x2048");
  ASSERT_NE(od, nullptr) << "no on-demand bucket";
  EXPECT_EQ(od->compiles, 1u);
  EXPECT_EQ(od->hits, 1u);
  EXPECT_EQ(od->resident, 1u);

  // The same bits as an engine whose configured buckets hold the long sequence.
  EngineOptions big = small;
  big.buckets = {{8, 4096}};
  auto ref = Engine::FromWeights(model, model->weights(), ModelInfo{}, big);
  ASSERT_TRUE(ref.ok());
  std::vector<float> ref_out(3 * 384);
  ASSERT_TRUE((*ref)->Embed(batch, ref_out.data()).ok());
  EXPECT_EQ(0, std::memcmp(out.data(), ref_out.data(), out.size() * sizeof(float)));
  // Engines sharing the cache keep apart: the second compiled its own executable.
  EXPECT_EQ((*ref)->stats().compiles, 1u);
  EXPECT_EQ((*e)->stats().compiles, 2u);

  // The model maximum itself is served.
  const auto max_ids = Ids(8192, 4);
  const TokenSpan m{max_ids.data(), max_ids.size()};
  ASSERT_TRUE((*e)->Embed({&m, 1}, out.data()).ok());
  EXPECT_NE(Find((*e)->ExecutableStats(), "1x8192"), nullptr);
  e->reset();
  EXPECT_EQ(cache.ListFor(nullptr).size(), 0u);
  EXPECT_EQ(cache.List().size(), 1u);  // only the reference engine's entry is left
}

}  // namespace
}  // namespace lam::engine
