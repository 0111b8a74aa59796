// SPDX-License-Identifier: MIT
// tokenizer/sentence_config.h: what lamd takes from a sentence-transformers model directory, and
// what it refuses rather than compute differently from the model.
#include "tokenizer/sentence_config.h"

#include <gtest/gtest.h>

#include <string>

namespace lam::tokenizer {
namespace {

constexpr const char* kModules = R"([
  {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
  {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
  {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])";
constexpr const char* kMean = R"({"word_embedding_dimension": 384, "pooling_mode_cls_token": false,
  "pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": false,
  "pooling_mode_mean_sqrt_len_tokens": false})";
constexpr const char* kSbert = R"({"max_seq_length": 256, "do_lower_case": false})";

Result<SentenceConfig> Parse(std::optional<std::string_view> modules, std::optional<std::string_view> sbert,
                             std::optional<std::string_view> pooling) {
  return ParseSentenceConfig(modules, sbert, pooling, "/m");
}

TEST(SentenceConfigTest, AllMiniLmsFilesGiveItsTruncationAndNormalize) {
  auto c = Parse(kModules, kSbert, kMean);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->present);
  EXPECT_EQ(c->max_seq_length, 256u);
  EXPECT_FALSE(c->do_lower_case);
  EXPECT_TRUE(c->normalize);
  EXPECT_EQ(DefaultTextMaxTokens(*c, 512), 256u);
  auto folder = PoolingFolder(kModules, "/m");
  ASSERT_TRUE(folder.ok());
  EXPECT_EQ(*folder, "1_Pooling");
}

TEST(SentenceConfigTest, ADirectoryWithoutTheFilesKeepsLamdsDefaults) {
  auto c = Parse(std::nullopt, std::nullopt, std::nullopt);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->present);
  EXPECT_EQ(DefaultTextMaxTokens(*c, 8192), 8192u);
  EXPECT_TRUE(c->normalize);
}

TEST(SentenceConfigTest, MaxSeqLengthPastThePositionTableIsCappedAndLowerCasingIsRead) {
  auto c = Parse(kModules, R"({"max_seq_length": 4096, "do_lower_case": true})", kMean);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(DefaultTextMaxTokens(*c, 512), 512u);
  EXPECT_TRUE(c->do_lower_case);
  auto no_normalize = Parse(R"([{"path": "", "type": "sentence_transformers.models.Transformer"},
                               {"path": "p", "type": "sentence_transformers.models.Pooling"}])",
                            kSbert, kMean);
  ASSERT_TRUE(no_normalize.ok());
  EXPECT_FALSE(no_normalize->normalize);
}

TEST(SentenceConfigTest, PoolingLamdDoesNotComputeIsRefusedByName) {
  for (const char* mode : {"pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens",
                           "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"}) {
    const std::string pooling = std::string(R"({"pooling_mode_mean_tokens": false, ")") + mode + R"(": true})";
    auto c = Parse(kModules, kSbert, pooling);
    ASSERT_FALSE(c.ok()) << mode;
    EXPECT_EQ(c.status().code(), LAM_STATUS_MODEL_INVALID);
    EXPECT_NE(c.status().message().find(mode), std::string::npos) << c.status().message();
    EXPECT_NE(c.status().message().find("1_Pooling/config.json"), std::string::npos) << c.status().message();
  }
  EXPECT_FALSE(Parse(kModules, kSbert, R"({"pooling_mode_mean_tokens": false})").ok());
  EXPECT_FALSE(Parse(kModules, kSbert, R"({"pooling_mode_mean_tokens": true, "pooling_mode": "cls"})").ok());
  EXPECT_FALSE(Parse(kModules, kSbert, std::nullopt).ok()) << "a Pooling module without its config";
}

TEST(SentenceConfigTest, PipelinesWithOtherModulesAreRefused) {
  const char* bad[] = {
      // A Dense layer after pooling changes the embedding.
      R"([{"path": "", "type": "sentence_transformers.models.Transformer"},
          {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
          {"path": "2_Dense", "type": "sentence_transformers.models.Dense"}])",
      // The Transformer's files elsewhere than the directory itself.
      R"([{"path": "0_Transformer", "type": "sentence_transformers.models.Transformer"},
          {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}])",
      // No pooling.
      R"([{"path": "", "type": "sentence_transformers.models.Transformer"}])",
  };
  for (const char* m : bad) {
    auto c = Parse(m, kSbert, kMean);
    ASSERT_FALSE(c.ok()) << m;
    EXPECT_EQ(c.status().code(), LAM_STATUS_MODEL_INVALID);
    EXPECT_NE(c.status().message().find("modules.json"), std::string::npos) << c.status().message();
  }
}

TEST(SentenceConfigTest, HostileFilesAreErrorsNeverPathsOutOfTheDirectory) {
  for (const char* path : {"..", "../etc", "/etc", "a/b", "", ".", "x\\y"}) {
    const std::string m = std::string(R"([{"path": "", "type": "sentence_transformers.models.Transformer"},
                                          {"path": ")") + path + R"(", "type": "sentence_transformers.models.Pooling"}])";
    EXPECT_FALSE(PoolingFolder(m, "/m").ok()) << path;
    EXPECT_FALSE(Parse(m, kSbert, kMean).ok()) << path;
  }
  const char* bad_sbert[] = {"[]", "{", R"({"max_seq_length": "256"})", R"({"max_seq_length": 1})",
                             R"({"max_seq_length": -5})", R"({"max_seq_length": 1e300})",
                             R"({"max_seq_length": 9999999999999})", R"({"do_lower_case": 1})", "\xff\xfe"};
  for (const char* s : bad_sbert) {
    auto c = Parse(kModules, s, kMean);
    ASSERT_FALSE(c.ok()) << s;
    EXPECT_EQ(c.status().code(), LAM_STATUS_MODEL_INVALID) << s;
  }
  for (const char* m : {"", "{}", "[]", "[1]", R"([{"type": 3}])", "null", R"([{"type": "x", "path": 1}])"}) {
    EXPECT_FALSE(Parse(m, kSbert, kMean).ok()) << m;
  }
  EXPECT_FALSE(Parse(kModules, kSbert, R"({"pooling_mode_cls_token": "yes", "pooling_mode_mean_tokens": true})").ok());
}

}  // namespace
}  // namespace lam::tokenizer
