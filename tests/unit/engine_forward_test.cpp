// SPDX-License-Identifier: MIT
// The whole engine (all three variants) against the double-precision reference written from
// lam-model.md, on random weights, one sequence at a time.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "engine/engine.h"
#include "engine/synthetic_model.h"
#include "engine_test_reference.h"

namespace lam::engine {
namespace {

constexpr int kVocab = 2000;

std::unique_ptr<Engine> MakeEngine(Variant v, std::shared_ptr<SyntheticModel>* model_out) {
  auto model = std::make_shared<SyntheticModel>(v, 1234 + static_cast<int>(v), /*layers=*/2, kVocab);
  model->mutable_weights().config.max_tokens = 1024;
  EngineOptions opt;
  opt.buckets = {{8, 256}, {64, 1024}};
  ModelInfo info;
  info.name = "synthetic";
  auto r = Engine::FromWeights(model, model->weights(), info, opt);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  *model_out = model;
  return std::move(r).value();
}

std::vector<int32_t> RandomIds(int len, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(1, kVocab - 1);
  std::vector<int32_t> ids(static_cast<size_t>(len));
  for (auto& x : ids) x = d(rng);
  ids[0] = 101 % kVocab;
  return ids;
}

class ForwardTest : public ::testing::TestWithParam<Variant> {};

TEST_P(ForwardTest, MatchesDoubleReferenceAtChunkBoundaries) {
  std::shared_ptr<SyntheticModel> model;
  auto engine = MakeEngine(GetParam(), &model);
  ASSERT_NE(engine, nullptr);
#ifdef LAM_TEST_SANITIZED
  // The double-precision reference is test code that sanitizers only slow down (10 CPU-minutes
  // for all three variants under ASan at these lengths): sanitized builds keep every chunk
  // boundary kind (32, 64 and 128) but not the two longest lengths.
  const std::vector<int> lengths = {1, 33, 65, 100, 130};
#else
  const std::vector<int> lengths = {1, 33, 65, 100, 200, 256};
#endif
  for (int len : lengths) {
    const auto ids = RandomIds(len, 77 + len);
    TokenSpan sp{ids.data(), ids.size()};
    std::vector<float> got(384);
    ASSERT_TRUE(engine->Embed({&sp, 1}, got.data()).ok());
    const auto want = enginetest::ForwardRef(model->weights(), ids);
    double dot = 0, max_abs = 0;
    for (int i = 0; i < 384; ++i) {
      dot += want[i] * got[i];
      max_abs = std::max(max_abs, std::abs(want[i] - got[i]));
    }
    RecordProperty("L" + std::to_string(len) + "_max_abs_err", std::to_string(max_abs));
    EXPECT_GT(dot, 1.0 - 2e-6) << "variant " << variant_name(GetParam()) << " L=" << len;
    EXPECT_LT(max_abs, 5e-4) << "variant " << variant_name(GetParam()) << " L=" << len;
  }
}

INSTANTIATE_TEST_SUITE_P(AllVariants, ForwardTest,
                         ::testing::Values(Variant::kF128, Variant::kR64T, Variant::kR32),
                         [](const auto& p) { return std::string(variant_name(p.param)); });

}  // namespace
}  // namespace lam::engine
