// SPDX-License-Identifier: MIT
// WordPieceTokenizer against Hugging Face `tokenizers` (reference ids generated once by
// tests/data/tokenizer/make_fixture.py with the real all-MiniLM-L6-v2 vocabulary), plus strict
// UTF-8 validation, truncation, batching and loading errors.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tokenizer/utf8.h"
#include "tokenizer/wordpiece.h"

namespace lam::tokenizer {
namespace {

namespace fs = std::filesystem;

const std::string kModelDir = std::string(LAM_SOURCE_DIR) + "/models/all-MiniLM-L6-v2";
const std::string kFixtureDir = std::string(LAM_SOURCE_DIR) + "/tests/data/tokenizer";

std::string Join(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) {
    if (!s.empty()) s.push_back(' ');
    s.append(std::to_string(id));
  }
  return s;
}

// The real vocabulary is required: the test runner fetches it first, so its absence is an error.
class RealVocabTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kModelDir + "/vocab.txt")) return;
    auto t = WordPieceTokenizer::LoadFromModelDir(kModelDir);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    tok_ = new WordPieceTokenizer(std::move(t).value());
  }
  static void TearDownTestSuite() {
    delete tok_;
    tok_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(tok_, nullptr) << kModelDir << "/vocab.txt is missing: run tools/models/fetch-minilm.sh "
                             << "(tools/install-deps.sh does) before the tests";
  }
  static WordPieceTokenizer* tok_;
};
WordPieceTokenizer* RealVocabTest::tok_ = nullptr;

TEST_F(RealVocabTest, LoadsBertUncasedVocabulary) {
  EXPECT_EQ(tok_->vocab_size(), 30522u);
  EXPECT_EQ(tok_->pad_id(), 0);
  EXPECT_EQ(tok_->unk_id(), 100);
  EXPECT_EQ(tok_->cls_id(), 101);
  EXPECT_EQ(tok_->sep_id(), 102);
  EXPECT_TRUE(tok_->options().do_lower_case);
  EXPECT_TRUE(tok_->options().strip_accents);
  EXPECT_EQ(tok_->token(7592), "hello");
  EXPECT_EQ(tok_->token_id("##ing"), 2075);
  EXPECT_EQ(tok_->token(30522), "");
}

TEST_F(RealVocabTest, MatchesOracleOnSentences) {
  std::ifstream in(kFixtureDir + "/sentences.jsonl");
  ASSERT_TRUE(in) << "missing " << kFixtureDir << "/sentences.jsonl";
  std::string line;
  size_t checked = 0, failed = 0;
  while (std::getline(in, line)) {
    const auto rec = nlohmann::json::parse(line);
    if (rec.contains("meta")) continue;
    const std::string text = rec["text"].get<std::string>();
    const auto want = rec["ids"].get<std::vector<int32_t>>();
    const size_t max_length = rec.contains("max_length") ? rec["max_length"].get<size_t>()
                                                         : WordPieceTokenizer::kNoTruncation;
    auto got = tok_->Encode(text, max_length);
    ++checked;
    if (!got.ok() || got.value() != want) {
      if (++failed <= 20) {
        ADD_FAILURE() << "text " << nlohmann::json(text).dump() << " max_length " << max_length
                      << "\n  want " << Join(want) << "\n  got  "
                      << (got.ok() ? Join(got.value()) : got.status().ToString());
      }
    }
  }
  EXPECT_GE(checked, 1000u);
  EXPECT_EQ(failed, 0u) << "of " << checked << " sentences";
}

// Every Unicode scalar value c, as the text c + " a" + c + "a": pins cleanup, whitespace, CJK,
// accent stripping, lowercasing and punctuation for the whole code space.
TEST_F(RealVocabTest, MatchesOracleOnEveryCodePoint) {
  std::ifstream in(kFixtureDir + "/codepoints.txt");
  ASSERT_TRUE(in) << "missing " << kFixtureDir << "/codepoints.txt";
  std::string line, text;
  std::vector<int32_t> want, got;
  size_t checked = 0, failed = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    unsigned long first = 0, last = 0;
    ls >> std::hex >> first >> last >> std::dec;
    want.clear();
    for (int32_t id; ls >> id;) want.push_back(id);
    for (unsigned long c = first; c <= last; ++c) {
      if (c >= 0xD800 && c <= 0xDFFF) continue;
      text.clear();
      const auto cp = static_cast<char32_t>(c);
      AppendUtf8(cp, &text);
      text += " a";
      AppendUtf8(cp, &text);
      text += "a";
      got.clear();
      Status st = tok_->EncodeAppend(text, WordPieceTokenizer::kNoTruncation, &got);
      ++checked;
      if (!st.ok() || got != want) {
        if (++failed <= 20) {
          char name[16];
          std::snprintf(name, sizeof name, "U+%04lX", c);
          ADD_FAILURE() << name << ": want " << Join(want) << ", got "
                        << (st.ok() ? Join(got) : st.ToString());
        }
      }
    }
  }
  EXPECT_EQ(checked, 0x110000u - 0x800u);
  EXPECT_EQ(failed, 0u);
}

struct BadUtf8 {
  const char* name;
  std::string bytes;
  size_t offset;
};

TEST_F(RealVocabTest, RejectsInvalidUtf8WithByteOffset) {
  const std::vector<BadUtf8> cases = {
      {"lone continuation", "ok \x80 rest", 3},
      {"overlong NUL", "ok \xC0\x80", 3},
      {"overlong 2-byte lead C1", "ok \xC1\xBF", 3},
      {"overlong 3-byte slash", "ok \xE0\x80\xAF", 3},
      {"overlong 4-byte", "ok \xF0\x8F\xBF\xBF", 3},
      {"surrogate D800", "ok \xED\xA0\x80", 3},
      {"surrogate DFFF", "ok \xED\xBF\xBF", 3},
      {"above U+10FFFF (F4 90)", "ok \xF4\x90\x80\x80", 3},
      {"lead F5", "ok \xF5\x80\x80\x80", 3},
      {"lead FF", "ok \xFF", 3},
      {"truncated at end", "ok \xE2\x82", 3},
      {"truncated before ASCII", "ok \xE2\x82z", 3},
      {"truncated 4-byte", "ok \xF0\x9F\x98 x", 3},
      {"second sequence bad", "\xC3\xA9\xC3\xA9\xC3", 4},
  };
  for (const auto& c : cases) {
    auto r = tok_->Encode(c.bytes);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), LAM_STATUS_INVALID_UTF8) << c.name;
    EXPECT_NE(r.status().message().find("byte offset " + std::to_string(c.offset)), std::string::npos)
        << c.name << ": " << r.status().message();
  }
  // Boundary values that are valid.
  for (const std::string ok : {"\x7F", "\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80", "\xED\x9F\xBF",
                               "\xEE\x80\x80", "\xEF\xBF\xBF", "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF"}) {
    EXPECT_TRUE(tok_->Encode(ok).ok()) << Join(std::vector<int32_t>(ok.begin(), ok.end()));
  }
  // Invalid bytes beyond the truncation point are still rejected.
  auto r = tok_->Encode(std::string(1000, 'a') + " b \xFF", 4);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), LAM_STATUS_INVALID_UTF8);
  EXPECT_NE(r.status().message().find("byte offset 1003"), std::string::npos) << r.status().message();
}

TEST_F(RealVocabTest, TruncationKeepsSepLast) {
  std::string text;
  for (int i = 0; i < 300; ++i) text += "unbelievable tokenization, ";
  auto full = tok_->Encode(text);
  ASSERT_TRUE(full.ok());
  ASSERT_GT(full->size(), 600u);
  for (size_t max_length : {2u, 3u, 4u, 5u, 17u, 128u, 512u}) {
    auto t = tok_->Encode(text, max_length);
    ASSERT_TRUE(t.ok());
    ASSERT_EQ(t->size(), max_length);
    EXPECT_EQ(t->front(), 101);
    EXPECT_EQ(t->back(), 102);
    EXPECT_TRUE(std::equal(t->begin(), t->end() - 1, full->begin())) << max_length;
  }
  // A limit above the need changes nothing.
  auto t = tok_->Encode("hello world", 512);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, (std::vector<int32_t>{101, 7592, 2088, 102}));
  for (size_t bad : {0u, 1u}) {
    auto r = tok_->Encode("hello", bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), LAM_STATUS_INVALID_ARG);
  }
}

TEST_F(RealVocabTest, BatchMatchesSingleAndNamesBadText) {
  const std::vector<std::string_view> texts = {"Hello, world!", "", "Café 日本 😀", "[MASK] it"};
  auto batch = tok_->EncodeBatch(texts, 6);
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    auto one = tok_->Encode(texts[i], 6);
    ASSERT_TRUE(one.ok());
    EXPECT_EQ((*batch)[i], *one) << i;
  }
  const std::vector<std::string_view> bad = {"fine", "also fine", "bad \xC0\xAF"};
  auto r = tok_->EncodeBatch(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), LAM_STATUS_INVALID_UTF8);
  EXPECT_EQ(r.status().message().rfind("text 2: invalid UTF-8 at byte offset 4", 0), 0u)
      << r.status().message();
  auto empty = tok_->EncodeBatch({});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST_F(RealVocabTest, EncodeAppendKeepsPrefixAndRollsBackNothingOnSuccess) {
  std::vector<int32_t> out = {7, 8};
  ASSERT_TRUE(tok_->EncodeAppend("hello", 3, &out).ok());
  EXPECT_EQ(out, (std::vector<int32_t>{7, 8, 101, 7592, 102}));
  EXPECT_FALSE(tok_->EncodeAppend("\xFF", 3, &out).ok());
  EXPECT_EQ(out.size(), 5u);
}

TEST_F(RealVocabTest, ThreadsGetTheSameIds) {
  const std::string text = "Ünïcödé façade — 東京 İstanbul, unaffable! 👍🏽 x\u0301y";
  auto want = tok_->Encode(text);
  ASSERT_TRUE(want.ok());
  std::vector<int> bad(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        auto got = tok_->Encode(text);
        if (!got.ok() || *got != *want) ++bad[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(bad[t], 0) << "thread " << t;
}

// Arbitrary bytes: either ids framed by [CLS]/[SEP] or INVALID_UTF8, never anything else.
TEST_F(RealVocabTest, ArbitraryBytesNeverMisbehave) {
  std::mt19937 rng(12345);
  const std::vector<std::string> fragments = {"a", "Z", " ", "[", "]", "[CLS]", "##", "\xC3\xA9",
                                              "\xE6\x97\xA5", "\xF0\x9F\x98\x80", "\xCC\x81",
                                              "\x00", "\xEF\xBF\xBD", "\xE2\x80\x8B"};
  std::string text;
  size_t ok = 0, invalid = 0;
  for (int i = 0; i < 20000; ++i) {
    text.clear();
    const int len = static_cast<int>(rng() % 40);
    for (int k = 0; k < len; ++k) {
      if (rng() % 4 == 0) {
        text.push_back(static_cast<char>(rng() & 0xFF));
      } else {
        text += fragments[rng() % fragments.size()];
      }
    }
    auto r = tok_->Encode(text, 1 + 1 + rng() % 64);
    if (r.ok()) {
      ++ok;
      ASSERT_GE(r->size(), 2u);
      EXPECT_EQ(r->front(), 101);
      EXPECT_EQ(r->back(), 102);
      for (int32_t id : *r) ASSERT_TRUE(id >= 0 && id < 30522);
    } else {
      ++invalid;
      ASSERT_EQ(r.status().code(), LAM_STATUS_INVALID_UTF8) << r.status().ToString();
    }
  }
  EXPECT_GT(ok, 1000u);
  EXPECT_GT(invalid, 1000u);
}

// Throughput on the fixture sentences (a measurement for the log, not a timed assertion).
TEST_F(RealVocabTest, ReportsThroughput) {
  std::ifstream in(kFixtureDir + "/sentences.jsonl");
  ASSERT_TRUE(in);
  std::vector<std::string> texts;
  std::string line;
  size_t bytes = 0;
  while (std::getline(in, line)) {
    auto rec = nlohmann::json::parse(line);
    if (rec.contains("meta")) continue;
    texts.push_back(rec["text"].get<std::string>());
    bytes += texts.back().size();
  }
  std::string english;
  for (int i = 0; i < 2000; ++i) english += "The quick brown fox jumps over the lazy dog, again. ";
  std::vector<int32_t> ids;
  auto measure = [&](const char* what, const std::vector<std::string>& corpus, size_t corpus_bytes) {
    size_t tokens = 0, rounds = 0;
    const auto start = std::chrono::steady_clock::now();
    double secs = 0;
    do {
      for (const auto& t : corpus) {
        ids.clear();
        ASSERT_TRUE(tok_->EncodeAppend(t, WordPieceTokenizer::kNoTruncation, &ids).ok());
        tokens += ids.size();
      }
      ++rounds;
      secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } while (secs < 0.3);
    std::printf("[ tokenizer ] %s: %.2f M tokens/s, %.1f MB/s (%zu rounds)\n", what,
                tokens / secs / 1e6, corpus_bytes * rounds / secs / 1e6, rounds);
  };
  measure("fixture sentences (mixed Unicode)", texts, bytes);
  measure("English prose", {english}, english.size());
}

// ---- small in-memory vocabularies ----------------------------------------------------------------

// The ids of `text`, or a test failure and no ids.
std::vector<int32_t> Ids(const WordPieceTokenizer& t, std::string_view text) {
  auto r = t.Encode(text);
  if (!r.ok()) {
    ADD_FAILURE() << r.status().ToString();
    return {};
  }
  return std::move(r).value();
}

std::vector<std::string> SmallVocab() {
  return {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "aff", "able",
          "hello", "##o", "h", "##ell", "!", "é", "cafe", "caf", "##é", "Hello", "i", "##̇"};
}

TEST(WordPieceSmallVocab, GreedyLongestMatchFirst) {
  auto t = WordPieceTokenizer::FromVocab(SmallVocab());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->cls_id(), 2);
  EXPECT_EQ(t->sep_id(), 3);
  EXPECT_EQ(t->unk_id(), 1);
  EXPECT_EQ(Ids(*t, "unaffable"), (std::vector<int32_t>{2, 5, 6, 7, 3}));
  EXPECT_EQ(Ids(*t, "Hello!"), (std::vector<int32_t>{2, 10, 14, 3}));
  EXPECT_EQ(Ids(*t, "hellx hello"), (std::vector<int32_t>{2, 1, 10, 3}));  // no full cover
  EXPECT_EQ(Ids(*t, "CAFÉ"), (std::vector<int32_t>{2, 16, 3}));           // accent stripped
  EXPECT_EQ(Ids(*t, "[MASK]un[SEP]"), (std::vector<int32_t>{2, 4, 5, 3, 3}));
}

TEST(WordPieceSmallVocab, CasedOptionsKeepCaseAndAccents) {
  TokenizerOptions o;
  o.do_lower_case = false;
  o.strip_accents = false;
  auto t = WordPieceTokenizer::FromVocab(SmallVocab(), o);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(Ids(*t, "Hello hello"), (std::vector<int32_t>{2, 19, 10, 3}));
  EXPECT_EQ(Ids(*t, "café"), (std::vector<int32_t>{2, 17, 18, 3}));
  // Lowercasing without accent stripping: İ lowercases to i + U+0307 (full mapping).
  o.do_lower_case = true;
  auto l = WordPieceTokenizer::FromVocab(SmallVocab(), o);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(Ids(*l, "\xC4\xB0"), (std::vector<int32_t>{2, 20, 21, 3}));
}

TEST(WordPieceSmallVocab, LongWordsBecomeOneUnk) {
  TokenizerOptions o;
  o.max_input_chars_per_word = 4;
  auto t = WordPieceTokenizer::FromVocab(SmallVocab(), o);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(Ids(*t, "aff"), (std::vector<int32_t>{2, 8, 3}));
  EXPECT_EQ(Ids(*t, "unaffable"), (std::vector<int32_t>{2, 1, 3}));
  EXPECT_EQ(Ids(*t, "unaf"), (std::vector<int32_t>{2, 1, 3}));  // 4 chars, no cover
}

TEST(WordPieceSmallVocab, RejectsVocabularyWithoutSpecialTokens) {
  auto t = WordPieceTokenizer::FromVocab({"[PAD]", "[UNK]", "[SEP]", "a"});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), LAM_STATUS_MODEL_INVALID);
  EXPECT_NE(t.status().message().find("[CLS]"), std::string::npos);
  auto e = WordPieceTokenizer::FromVocab({});
  EXPECT_EQ(e.status().code(), LAM_STATUS_MODEL_INVALID);
  auto bad = WordPieceTokenizer::FromVocab({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "\xFF"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("vocabulary entry 4"), std::string::npos);
}

class ModelDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(LAM_TEST_DATA_DIR) / ("tokenizer_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& name, const std::string& body) {
    std::ofstream(dir_ / name, std::ios::binary) << body;
  }
  fs::path dir_;
};

TEST_F(ModelDirTest, ReadsConfigAndCrlfVocab) {
  Write("vocab.txt", "<pad>\r\n<unk>\r\n<s>\r\n</s>\r\nHello\r\nhello\r\n");
  Write("tokenizer_config.json",
        R"({"do_lower_case": false, "strip_accents": null, "unk_token": "<unk>",
            "cls_token": {"content": "<s>"}, "sep_token": "</s>", "pad_token": "<pad>"})");
  auto t = WordPieceTokenizer::LoadFromModelDir(dir_.string());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_FALSE(t->options().do_lower_case);
  EXPECT_FALSE(t->options().strip_accents);
  EXPECT_EQ(Ids(*t, "Hello hello HELLO"), (std::vector<int32_t>{2, 4, 5, 1, 3}));
}

TEST_F(ModelDirTest, ReportsMissingAndMalformedFiles) {
  auto missing = WordPieceTokenizer::LoadFromModelDir(dir_.string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), LAM_STATUS_IO_ERROR);
  EXPECT_NE(missing.status().message().find("vocab.txt"), std::string::npos);
  Write("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n");
  Write("tokenizer_config.json", "{\"do_lower_case\": ");
  auto malformed = WordPieceTokenizer::LoadFromModelDir(dir_.string());
  ASSERT_FALSE(malformed.ok());
  EXPECT_EQ(malformed.status().code(), LAM_STATUS_MODEL_INVALID);
  EXPECT_NE(malformed.status().message().find("tokenizer_config.json"), std::string::npos);
  Write("tokenizer_config.json", "{\"do_lower_case\": \"yes\"}");
  auto wrong_type = WordPieceTokenizer::LoadFromModelDir(dir_.string());
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_NE(wrong_type.status().message().find("do_lower_case"), std::string::npos);
}

// The in-memory entry point (used by tokenizer_fuzz) reads the same files the same way.
TEST_F(ModelDirTest, FromFileContentsMatchesLoadFromModelDir) {
  const std::string vocab = "<pad>\r\n<unk>\r\n<s>\r\n</s>\r\nHello\r\nhello";  // no final newline
  const std::string config = R"({"do_lower_case": false, "unk_token": "<unk>", "cls_token": "<s>",
                                  "sep_token": "</s>", "pad_token": "<pad>"})";
  Write("vocab.txt", vocab);
  Write("tokenizer_config.json", config);
  auto from_dir = WordPieceTokenizer::LoadFromModelDir(dir_.string());
  auto from_text = WordPieceTokenizer::FromFileContents(vocab, config, dir_.string());
  ASSERT_TRUE(from_dir.ok()) << from_dir.status().ToString();
  ASSERT_TRUE(from_text.ok()) << from_text.status().ToString();
  EXPECT_EQ(from_text->vocab_size(), 6u);
  EXPECT_EQ(from_dir->vocab_size(), from_text->vocab_size());
  EXPECT_EQ(Ids(*from_dir, "Hello hello x"), Ids(*from_text, "Hello hello x"));
  // No tokenizer_config.json: the defaults, which need BERT's special tokens.
  auto no_config = WordPieceTokenizer::FromFileContents(vocab, std::nullopt, "m");
  ASSERT_FALSE(no_config.ok());
  EXPECT_NE(no_config.status().message().find("m/vocab.txt"), std::string::npos);
  auto bad_config = WordPieceTokenizer::FromFileContents(vocab, "[1]", "m");
  ASSERT_FALSE(bad_config.ok());
  EXPECT_NE(bad_config.status().message().find("m/tokenizer_config.json"), std::string::npos);
}

}  // namespace
}  // namespace lam::tokenizer
