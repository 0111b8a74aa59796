// SPDX-License-Identifier: MIT
// lamd --precision bf16 on the golden models (issue 14, item 2): for every variant and every
// golden length, the bf16 embedding is within cosine 0.9999 of the fp32 one, and a sequence's
// bf16 embedding is bitwise the same alone and in ragged batches (file order and reversed).
// bf16 runs only where oneDNN has native bf16 (AVX512_BF16 or AMX); elsewhere these tests skip,
// naming what the CPU lacks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cpu/cpu_precision.h"
#include "engine/engine.h"
#include "support/golden_data.h"
#include "../unit/support/cosine.h"

namespace lam::golden {
namespace {

constexpr double kMinCosineToFp32 = 0.9999;
constexpr int kDim = 384;
#ifdef LAM_TEST_SANITIZED
constexpr int64_t kMaxCheckedLength = 300;  // as golden_engine_test
#else
constexpr int64_t kMaxCheckedLength = INT64_MAX;
#endif

using lam::testing::Cosine;

class GoldenBf16Test : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    const Status native = cpu::CheckNativeBf16();
    if (!native.ok()) GTEST_SKIP() << native.message();
    std::string err;
    auto g = ReadGoldenFile(GoldenDir() + "/" + GetParam() + ".json", &err);
    ASSERT_TRUE(g.has_value()) << err;
    golden_ = std::move(*g);
    for (const char* precision : {"fp32", "bf16"}) {
      engine::EngineOptions o;
      o.backend = "cpu";
      o.precision = precision;
      auto e = engine::Engine::Open(golden_.model_dir, o);
      ASSERT_TRUE(e.ok()) << precision << ": " << e.status().ToString();
      ASSERT_EQ(e.value()->info().precision, precision);
      (precision == std::string("bf16") ? bf16_ : fp32_) = std::move(e.value());
    }
    for (const auto& c : golden_.cases) {
      if (c.expect_error.empty() && static_cast<int64_t>(c.ids.size()) <= kMaxCheckedLength) cases_.push_back(&c);
    }
    ASSERT_FALSE(cases_.empty());
  }

  std::vector<float> Alone(engine::Engine& e) const {
    std::vector<float> out(cases_.size() * kDim);
    for (size_t i = 0; i < cases_.size(); ++i) {
      const engine::TokenSpan span{cases_[i]->ids.data(), cases_[i]->ids.size()};
      const Status st = e.Embed({&span, 1}, out.data() + i * kDim);
      EXPECT_TRUE(st.ok()) << "L=" << cases_[i]->length << ": " << st.ToString();
    }
    return out;
  }

  GoldenFile golden_;
  std::vector<const GoldenCase*> cases_;
  std::unique_ptr<engine::Engine> fp32_, bf16_;
};

TEST_P(GoldenBf16Test, EachSequenceIsWithinCosine09999OfFp32) {
  const std::vector<float> ref = Alone(*fp32_), got = Alone(*bf16_);
  double worst = 1.0;
  bool differs = false;
  for (size_t i = 0; i < cases_.size(); ++i) {
    const double c = Cosine(got.data() + i * kDim, ref.data() + i * kDim);
    EXPECT_GE(c, kMinCosineToFp32) << GetParam() << " L=" << cases_[i]->length;
    worst = std::min(worst, c);
    differs = differs || std::memcmp(got.data() + i * kDim, ref.data() + i * kDim, kDim * sizeof(float)) != 0;
  }
  EXPECT_TRUE(differs) << "bf16 gave fp32's bits for every sequence: the bf16 GEMMs did not run";
  std::printf("[golden-bf16] %s: %zu sequences, min cosine to fp32 %.9f (oneDNN ISA %s)\n", GetParam(),
              cases_.size(), worst, cpu::OnednnIsaName().c_str());
}

TEST_P(GoldenBf16Test, RaggedBatchesGiveTheSingleResultsBitwise) {
  const std::vector<float> alone = Alone(*bf16_);
  for (bool reversed : {false, true}) {
    std::vector<size_t> order(cases_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = reversed ? order.size() - 1 - i : i;
    std::vector<engine::TokenSpan> batch;
    for (size_t i : order) batch.push_back({cases_[i]->ids.data(), cases_[i]->ids.size()});
    std::vector<float> out(batch.size() * kDim);
    const Status st = bf16_->Embed(batch, out.data());
    ASSERT_TRUE(st.ok()) << st.ToString();
    for (size_t j = 0; j < order.size(); ++j) {
      EXPECT_TRUE(std::equal(out.begin() + j * kDim, out.begin() + (j + 1) * kDim, alone.begin() + order[j] * kDim))
          << GetParam() << " L=" << cases_[order[j]]->length << (reversed ? " (reversed)" : "")
          << ": batched bf16 result differs from the single-sequence result";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, GoldenBf16Test, ::testing::Values("f128", "r64t", "r32", "bert"),
                         [](const auto& param_info) { return std::string(param_info.param); });

}  // namespace
}  // namespace lam::golden
