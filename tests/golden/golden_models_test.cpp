// SPDX-License-Identifier: MIT
// The lam-mkmodel models of the golden fixture load through LoadModel as the variant they
// claim, are not degenerate, and lam-mkmodel is byte-deterministic.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "engine/model_loader.h"
#include "support/golden_data.h"

namespace lam::golden {
namespace {

namespace fs = std::filesystem;
using engine::Family;
using engine::LoadModel;
using engine::Variant;

class GoldenModelTest : public ::testing::TestWithParam<const char*> {
 protected:
  std::string Dir() const { return GoldenDir() + "/models/" + GetParam(); }
};

TEST_P(GoldenModelTest, LoadsAsTheVariantItClaimsWithTheV1Shapes) {
  auto m = LoadModel(Dir());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const engine::ModelWeights& w = m.value()->weights();
  const std::string v = GetParam();
  EXPECT_EQ(w.config.layers, 6);
  EXPECT_EQ(w.config.vocab_size, 30522);
  if (v == "bert") {
    EXPECT_EQ(w.config.family, Family::kBert);
    EXPECT_EQ(w.config.max_tokens, 512);
    EXPECT_EQ(w.bert_layers.size(), 6u);
  } else {
    EXPECT_EQ(w.config.family, Family::kLam);
    EXPECT_STREQ(engine::variant_name(w.config.variant), v.c_str());
    EXPECT_EQ(w.config.max_tokens, 8192);
    ASSERT_EQ(w.lam_layers.size(), 6u);
    EXPECT_EQ(w.lam_layers[5].flux_w_per_head, v != "r32");
    EXPECT_EQ(w.lam_layers[5].tflux_net1_w != nullptr, v != "r32");
  }
  EXPECT_EQ(m.value()->fingerprint().size(), 32u);
  // LAM-base-v1's file holds 27,396,948 unique fp32 parameters (lam-model.md section 0/7).
  if (v == "f128" || v == "r64t") {
    EXPECT_GT(fs::file_size(Dir() + "/model.safetensors"), 27396948u * 4);
    EXPECT_LT(fs::file_size(Dir() + "/model.safetensors"), 27396948u * 4 + 200000);
  }
}

TEST_P(GoldenModelTest, WeightsAreFiniteAndScaledLikeATrainedModel) {
  auto m = LoadModel(Dir());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const engine::ModelWeights& w = m.value()->weights();
  double ln_mean = 0;
  for (int i = 0; i < 384; ++i) ln_mean += w.emb_ln_w[i] / 384.0;
  EXPECT_NEAR(ln_mean, 1.0, 0.02);
  double sq = 0;
  bool finite = true;
  for (size_t i = 0; i < size_t{30522} * 384; ++i) {
    finite = finite && std::isfinite(w.word[i]);
    sq += double(w.word[i]) * w.word[i];
  }
  EXPECT_TRUE(finite);
  EXPECT_NEAR(std::sqrt(sq / (30522.0 * 384)), 0.05, 0.005);
  if (w.config.family == Family::kLam) {
    const auto& l = w.lam_layers[0];
    for (int h = 0; h < 12; ++h) {
      EXPECT_GT(l.flux_temp[h], 0.5f);
      EXPECT_NEAR(l.fdecay_bias2[h], std::log(0.3), 0.5);
      EXPECT_NEAR(l.sdecay_bias2[h], std::log(0.85), 0.5);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, GoldenModelTest,
                         ::testing::Values("f128", "r64t", "r32", "bert"));

TEST(LamMkmodelTest, SameOptionsGiveTheSameBytesAndOtherSeedsDiffer) {
  const fs::path tmp = fs::path(LAM_TEST_DATA_DIR) / ("golden_mkmodel_" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  auto run = [&](const std::string& seed, const std::string& out) {
    const std::string cmd = std::string(LAM_MKMODEL) + " --variant r32 --layers 2 --vocab-size 2000 --seed " +
                            seed + " --out " + (tmp / out).string();
    return std::system(cmd.c_str());
  };
  ASSERT_EQ(run("5", "a"), 0);
  ASSERT_EQ(run("5", "b"), 0);
  ASSERT_EQ(run("6", "c"), 0);
  EXPECT_NE(run("5", "a"), 0) << "an existing directory must not be replaced without --force";
  auto a = LoadModel((tmp / "a").string());
  auto b = LoadModel((tmp / "b").string());
  auto c = LoadModel((tmp / "c").string());
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a.value()->fingerprint(), b.value()->fingerprint());
  EXPECT_NE(a.value()->fingerprint(), c.value()->fingerprint());
  EXPECT_EQ(a.value()->weights().config.layers, 2);
  // No temporary directories left beside the outputs.
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(tmp)) ++entries;
  EXPECT_EQ(entries, 3u);
  fs::remove_all(tmp);
}

}  // namespace
}  // namespace lam::golden
