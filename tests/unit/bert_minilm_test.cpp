// SPDX-License-Identifier: MIT
// The real all-MiniLM-L6-v2 (tools/models/fetch-minilm.sh) through the engine's CPU path and
// the WordPiece tokenizer: float64 reference embeddings (tests/data/bert/minilm_reference.json,
// written by tests/data/bert/make_fixture.py with tools/reference/lam_reference.py), and the
// model's purpose: paraphrases score above unrelated sentences.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "tokenizer/wordpiece.h"

namespace lam {
namespace {

constexpr int kDim = 384;

std::string ModelDir() { return std::string(LAM_SOURCE_DIR) + "/models/all-MiniLM-L6-v2"; }

struct Sentence {
  std::string text;
  std::vector<int32_t> ids;
  std::vector<double> reference;  // empty when the fixture stores none
};

class BertMiniLmTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(ModelDir() + "/model.safetensors")) {
      setup_error_ = "the all-MiniLM-L6-v2 model is missing at " + ModelDir() +
                     "; run tools/models/fetch-minilm.sh first";
      return;
    }
    engine::EngineOptions opts;
    opts.threads = 2;
    opts.buckets = {{32, 512}, {32, 2048}};
    auto eng = engine::Engine::Open(ModelDir(), opts);
    if (!eng.ok()) {
      setup_error_ = "Engine::Open: " + eng.status().message();
      return;
    }
    engine_ = std::move(eng).value().release();
    auto tok = tokenizer::WordPieceTokenizer::LoadFromModelDir(ModelDir());
    if (!tok.ok()) {
      setup_error_ = "tokenizer: " + tok.status().message();
      return;
    }
    tokenizer_ = new tokenizer::WordPieceTokenizer(std::move(tok).value());
    std::ifstream in(std::string(LAM_SOURCE_DIR) + "/tests/data/bert/minilm_reference.json");
    if (!in) {
      setup_error_ = "tests/data/bert/minilm_reference.json is missing";
      return;
    }
    const auto j = nlohmann::json::parse(in);
    for (const auto& s : j.at("sentences")) {
      Sentence st;
      st.text = s.at("text").get<std::string>();
      st.ids = s.at("ids").get<std::vector<int32_t>>();
      if (s.contains("embedding")) st.reference = s.at("embedding").get<std::vector<double>>();
      sentences_.push_back(std::move(st));
    }
    for (const auto& p : j.at("pairs")) pairs_.emplace_back(p.at(0).get<std::string>(), p.at(1).get<std::string>());
  }
  static void TearDownTestSuite() {
    delete engine_;
    delete tokenizer_;
    engine_ = nullptr;
    tokenizer_ = nullptr;
    sentences_.clear();
    pairs_.clear();
  }
  void SetUp() override {
    if (!setup_error_.empty()) GTEST_FAIL() << setup_error_;
  }

  static std::vector<int32_t> Encode(const std::string& text) {
    auto r = tokenizer_->Encode(text);
    EXPECT_TRUE(r.ok()) << text << ": " << r.status().message();
    return r.ok() ? std::move(r).value() : std::vector<int32_t>{};
  }
  static std::vector<float> Embed(const std::vector<std::vector<int32_t>>& seqs) {
    std::vector<engine::TokenSpan> spans;
    for (const auto& s : seqs) spans.push_back({s.data(), s.size()});
    std::vector<float> out(seqs.size() * kDim, std::nanf(""));
    const Status st = engine_->Embed(spans, out.data());
    EXPECT_TRUE(st.ok()) << st.message();
    return out;
  }

  static inline std::string setup_error_;
  static inline engine::Engine* engine_ = nullptr;
  static inline tokenizer::WordPieceTokenizer* tokenizer_ = nullptr;
  static inline std::vector<Sentence> sentences_;
  static inline std::vector<std::pair<std::string, std::string>> pairs_;
};

double Dot(const float* a, const float* b) {
  double s = 0.0;
  for (int i = 0; i < kDim; ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

TEST_F(BertMiniLmTest, EngineReportsTheBertModel) {
  const auto& info = engine_->info();
  EXPECT_EQ(info.config.family, engine::Family::kBert);
  EXPECT_EQ(info.config.max_tokens, 512);
  EXPECT_EQ(info.embedding_dim, kDim);
  EXPECT_STREQ(engine_->backend_name(), "cpu");
}

TEST_F(BertMiniLmTest, TokenizerGivesTheFixtureIds) {
  ASSERT_FALSE(sentences_.empty());
  for (const auto& s : sentences_) EXPECT_EQ(Encode(s.text), s.ids) << s.text;
}

TEST_F(BertMiniLmTest, EmbeddingsMatchTheFloat64Reference) {
  std::vector<std::vector<int32_t>> seqs;
  std::vector<const Sentence*> refs;
  for (const auto& s : sentences_) {
    if (s.reference.empty()) continue;
    ASSERT_EQ(s.reference.size(), static_cast<size_t>(kDim));
    seqs.push_back(Encode(s.text));
    refs.push_back(&s);
  }
  ASSERT_GE(refs.size(), 5u);
  const auto batched = Embed(seqs);
  double worst_rel = 0.0;
  for (size_t b = 0; b < refs.size(); ++b) {
    const float* e = batched.data() + b * kDim;
    double num = 0.0, den = 0.0, dot = 0.0, norm = 0.0;
    for (int i = 0; i < kDim; ++i) {
      const double r = refs[b]->reference[i];
      num += (e[i] - r) * (e[i] - r);
      den += r * r;
      dot += e[i] * r;
      norm += static_cast<double>(e[i]) * e[i];
    }
    worst_rel = std::max(worst_rel, std::sqrt(num / den));
    EXPECT_LE(std::sqrt(num / den), 1e-4) << refs[b]->text;
    EXPECT_GE(dot / std::sqrt(norm * den), 0.99999) << refs[b]->text;
    EXPECT_NEAR(norm, 1.0, 1e-5) << refs[b]->text;
    // The same sequence alone: bitwise the batched result.
    const auto alone = Embed({seqs[b]});
    EXPECT_TRUE(std::equal(alone.begin(), alone.end(), e)) << refs[b]->text << ": alone != batched";
  }
  std::printf("[bert] all-MiniLM-L6-v2: %zu sentences, max rel err %.3e vs float64\n", refs.size(), worst_rel);
}

TEST_F(BertMiniLmTest, ParaphrasesOutscoreUnrelatedSentences) {
  ASSERT_GE(pairs_.size(), 10u);
  std::vector<std::vector<int32_t>> seqs;
  for (const auto& [a, b] : pairs_) {
    seqs.push_back(Encode(a));
    seqs.push_back(Encode(b));
  }
  const auto e = Embed(seqs);
  auto row = [&](size_t i) { return e.data() + i * kDim; };
  double min_similar = 2.0, max_cross = -2.0;
  for (size_t i = 0; i < pairs_.size(); ++i) {
    const double similar = Dot(row(2 * i), row(2 * i + 1));
    min_similar = std::min(min_similar, similar);
    for (size_t j = 0; j < pairs_.size(); ++j) {
      if (j == i) continue;
      for (size_t k : {2 * j, 2 * j + 1}) {
        const double cross = Dot(row(2 * i), row(k));
        max_cross = std::max(max_cross, cross);
        EXPECT_GT(similar, cross) << "\"" << pairs_[i].first << "\" is closer to an unrelated sentence";
      }
    }
  }
  // all-MiniLM-L6-v2 puts these paraphrases at 0.58-0.86 and the unrelated pairings below 0.25.
  EXPECT_GT(min_similar, 0.5);
  EXPECT_LT(max_cross, 0.35);
}

TEST_F(BertMiniLmTest, SequencesOver512TokensAreRefused) {
  std::vector<int32_t> ids(513, 1996);  // "the"
  ids.front() = tokenizer_->cls_id();
  ids.back() = tokenizer_->sep_id();
  const engine::TokenSpan span{ids.data(), ids.size()};
  std::vector<float> out(kDim);
  EXPECT_EQ(engine_->Embed({&span, 1}, out.data()).code(), LAM_STATUS_SEQUENCE_TOO_LONG);
  ids.erase(ids.begin() + 1);  // 512 tokens: the longest BERT serves
  const engine::TokenSpan ok_span{ids.data(), ids.size()};
  EXPECT_TRUE(engine_->Embed({&ok_span, 1}, out.data()).ok());
  EXPECT_NEAR(Dot(out.data(), out.data()), 1.0, 1e-5);
}

}  // namespace
}  // namespace lam
