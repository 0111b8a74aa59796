// SPDX-License-Identifier: MIT
// lamd's text API gives sentence-transformers' embeddings for a model directory in its layout:
// the real all-MiniLM-L6-v2 through a real lamd against SentenceTransformer(dir).encode(texts)
// (tests/data/bert/st_reference.json, written by tests/data/bert/make_st_fixture.py with
// sentence-transformers itself), for texts of every length, those past max_seq_length (256)
// included; a request's max_tokens asks for a longer limit up to the position table (512), and
// a limit outside it is refused while lamd serves on. `lamctl embed --text --model` in-process
// gives the daemon's bytes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "integration/support/lamd_harness.h"
#include "tokenizer/sentence_config.h"

namespace lam::itest {
namespace {

std::string MiniLmDir() { return std::string(LAM_SOURCE_DIR) + "/models/all-MiniLM-L6-v2"; }

double Cosine(const float* a, const std::vector<double>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    ab += a[i] * b[i];
    aa += double{a[i]} * a[i];
    bb += b[i] * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

class SentenceTransformersTest : public LamdTest {
 protected:
  void SetUp() override {
    LamdTest::SetUp();
    ASSERT_TRUE(std::filesystem::exists(MiniLmDir() + "/model.safetensors"))
        << "run tools/models/fetch-minilm.sh (tools/install-deps.sh does)";
    std::ifstream in(std::string(LAM_SOURCE_DIR) + "/tests/data/bert/st_reference.json");
    ASSERT_TRUE(in) << "tests/data/bert/st_reference.json is missing";
    fixture_ = nlohmann::json::parse(in);
    for (const auto& t : fixture_["texts"]) texts_.push_back(t.get<std::string>());
    for (const auto& t : texts_) ptrs_.push_back(t.c_str());
    for (const auto& t : texts_) lengths_.push_back(t.size());
  }

  // Embeds every fixture text through lamd with `max_tokens` (0 = the model's default).
  lam_status Embed(lam_client* c, uint32_t max_tokens, std::vector<float>* out) {
    lam_embed_text_request req = LAM_EMBED_TEXT_REQUEST_INIT;
    req.texts = ptrs_.data();
    req.lengths = lengths_.data();
    req.n_texts = texts_.size();
    req.max_tokens = max_tokens;
    out->assign(texts_.size() * 384, 0.0f);
    size_t n = 0;
    return Api().embed_text(c, &req, out->data(), out->size(), &n);
  }

  // Every row against the fixture set `set`: cosine >= 0.99999 (sentence-transformers' rows are
  // unit-norm, lamd's too).
  void ExpectRowsMatch(const std::vector<float>& got, const std::string& set) {
    const auto& want = fixture_["sets"][set]["embeddings"];
    ASSERT_EQ(want.size(), texts_.size());
    for (size_t i = 0; i < texts_.size(); ++i) {
      const std::vector<double> w = want[i].get<std::vector<double>>();
      ASSERT_EQ(w.size(), 384u);
      const double cos = Cosine(got.data() + i * 384, w);
      EXPECT_GE(cos, 0.99999) << set << ": text " << i << " ("
                              << fixture_["sets"][set]["token_counts"][i].get<int>() << " tokens), cosine " << cos;
    }
  }

  nlohmann::json fixture_;
  std::vector<std::string> texts_;
  std::vector<const char*> ptrs_;
  std::vector<size_t> lengths_;
};

TEST_F(SentenceTransformersTest, TextEmbeddingsAreSentenceTransformersAtEveryLengthAndALongerLimitIsExplicit) {
  LamdProcess lamd(socket_, {"--model", MiniLmDir(), "--cache-dir", "none", "--buckets", "64,512"});
  ASSERT_TRUE(lamd.Start());
  lam_status st = LAM_STATUS_OK;
  lam_client* c = OpenClient(socket_, &st);
  ASSERT_NE(c, nullptr) << Api().status_str(st);

  // The directory's max_seq_length (256), texts past it included.
  std::vector<float> got;
  ASSERT_EQ(Embed(c, 0, &got), LAM_STATUS_OK) << Api().client_last_error(c);
  ExpectRowsMatch(got, "default");

  // In-process, as `lamctl embed --text --model` does it: the daemon's bytes.
  {
    engine::EngineOptions eo;
    eo.backend = "cpu";
    eo.buckets = {{64, 512}};
    auto eng = engine::Engine::Open(MiniLmDir(), eo);
    ASSERT_TRUE(eng.ok()) << eng.status().ToString();
    auto front = tokenizer::LoadTextFrontEnd(MiniLmDir(), static_cast<size_t>((*eng)->info().config.max_tokens));
    ASSERT_TRUE(front.ok()) << front.status().ToString();
    EXPECT_EQ(front->max_tokens, 256u);
    std::vector<std::vector<int32_t>> ids;
    std::vector<engine::TokenSpan> spans;
    for (const auto& t : texts_) {
      auto r = front->tokenizer.Encode(t, front->max_tokens);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ids.push_back(*r);
    }
    for (size_t i = 0; i < texts_.size(); ++i) {
      EXPECT_EQ(ids[i].size(), fixture_["sets"]["default"]["token_counts"][i].get<size_t>()) << "text " << i;
      spans.push_back({ids[i].data(), ids[i].size()});
    }
    std::vector<float> local(texts_.size() * 384);
    ASSERT_TRUE((*eng)->Embed(spans, local.data()).ok());
    EXPECT_EQ(std::memcmp(local.data(), got.data(), local.size() * sizeof(float)), 0);
  }

  // A request may ask for the whole position table, explicitly: sentence-transformers with
  // max_seq_length = 512.
  ASSERT_EQ(Embed(c, 512, &got), LAM_STATUS_OK) << Api().client_last_error(c);
  ExpectRowsMatch(got, "max_seq_length_512");

  // Past the position table, or no room for [CLS] and [SEP]: refused, and lamd serves on.
  EXPECT_EQ(Embed(c, 513, &got), LAM_STATUS_INVALID_ARG);
  EXPECT_NE(std::string(Api().client_last_error(c)).find("max_tokens 513"), std::string::npos)
      << Api().client_last_error(c);
  EXPECT_EQ(Embed(c, 1, &got), LAM_STATUS_INVALID_ARG);
  ASSERT_EQ(Embed(c, 0, &got), LAM_STATUS_OK) << Api().client_last_error(c);
  ExpectRowsMatch(got, "default");
  Api().client_close(c);
  EXPECT_EQ(lamd.Stop(), 0);
}

TEST_F(SentenceTransformersTest, APipelineLamdWouldComputeDifferentlyIsRefusedAtStart) {
  // A copy of the model directory (links to its large files) whose Pooling module asks for CLS.
  const std::string dir = dir_ + "/cls-model";
  std::filesystem::create_directories(dir + "/1_Pooling");
  for (const char* f : {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json", "modules.json",
                        "sentence_bert_config.json"}) {
    std::filesystem::create_symlink(MiniLmDir() + "/" + f, dir + "/" + f);
  }
  {
    std::ofstream p(dir + "/1_Pooling/config.json");
    p << R"({"word_embedding_dimension": 384, "pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false})";
  }
  const pid_t pid = Spawn({BinDir() + "/lamd", "--model", dir, "--socket", socket_, "--backend", "cpu", "--cache-dir",
                           "none", "--buckets", "64", "--log-level", "warning"});
  ASSERT_GT(pid, 0);
  const int status = WaitPid(pid, 120000);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0) << "lamd served a CLS-pooling model with mean pooling";
}

}  // namespace
}  // namespace lam::itest
