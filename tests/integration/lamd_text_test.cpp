// SPDX-License-Identifier: MIT
// Text requests through a real lamd: the daemon's tokenisation + embedding is bitwise what the
// in-process tokenizer + engine give, invalid UTF-8 is named (text index, byte offset) without
// disturbing the daemon, and `lamctl embed --text` prints the same bytes in-process and via lamd.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "integration/support/lamd_harness.h"
#include "tokenizer/wordpiece.h"

namespace lam::itest {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Embeds `texts` in this process: tokenise (truncating to the model maximum) then embed.
std::vector<float> InProcess(const std::vector<std::string>& texts) {
  engine::EngineOptions eo;
  eo.backend = "cpu";
  auto eng = engine::Engine::Open(ModelDir(), eo);
  EXPECT_TRUE(eng.ok()) << eng.status().ToString();
  auto tok = tokenizer::WordPieceTokenizer::LoadFromModelDir(ModelDir());
  EXPECT_TRUE(tok.ok()) << tok.status().ToString();
  if (!eng.ok() || !tok.ok()) return {};
  const size_t max_tokens = static_cast<size_t>((*eng)->info().config.max_tokens);
  std::vector<std::vector<int32_t>> ids;
  std::vector<engine::TokenSpan> spans;
  for (const auto& t : texts) {
    auto r = tok->Encode(t, max_tokens);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    ids.push_back(r.ok() ? *r : std::vector<int32_t>{});
  }
  for (const auto& v : ids) spans.push_back({v.data(), v.size()});
  std::vector<float> out(texts.size() * static_cast<size_t>((*eng)->info().embedding_dim));
  Status st = (*eng)->Embed(spans, out.data());
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

using LamdTextTest = LamdTest;

TEST_F(LamdTextTest, DaemonTokenisationIsBitwiseTheInProcessResultAndBadUtf8IsNamed) {
  std::string long_text;
  for (int i = 0; i < 900; ++i) long_text += (i % 3 == 0 ? "alpha " : "b ");  // past max_tokens
  const std::vector<std::string> texts = {"Hello, world!", "", "Ünïcödé text — with accents and 漢字",
                                          long_text, "  spaces\tand\nnewlines  "};
  const std::vector<float> want = InProcess(texts);
  ASSERT_FALSE(want.empty());

  LamdProcess lamd(socket_);
  ASSERT_TRUE(lamd.Start());
  const LamApi& api = Api();
  lam_status st = LAM_STATUS_OK;
  lam_client* c = OpenClient(socket_, &st);
  ASSERT_NE(c, nullptr) << api.status_str(st);

  std::vector<const char*> ptrs;
  std::vector<size_t> lengths;
  for (const auto& t : texts) {
    ptrs.push_back(t.c_str());
    lengths.push_back(t.size());
  }
  lam_embed_text_request req = LAM_EMBED_TEXT_REQUEST_INIT;
  req.texts = ptrs.data();
  req.lengths = lengths.data();
  req.n_texts = texts.size();
  std::vector<float> got(want.size(), -1.0f);
  size_t n = 0;
  ASSERT_EQ(api.embed_text(c, &req, got.data(), got.size(), &n), LAM_STATUS_OK) << api.client_last_error(c);
  EXPECT_EQ(n, want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)), 0);

  // NUL-terminated texts (lengths NULL) through the zero-copy variant: the same rows.
  req.lengths = nullptr;
  lam_result res = LAM_RESULT_INIT;
  ASSERT_EQ(api.embed_text_result(c, &req, &res), LAM_STATUS_OK) << api.client_last_error(c);
  ASSERT_EQ(res.n_sequences, texts.size());
  EXPECT_EQ(std::memcmp(res.data, want.data(), want.size() * sizeof(float)), 0);
  api.result_release(c, &res);

  // Invalid UTF-8 in the second text: named by index and byte offset; nothing written.
  const char* bad[] = {"fine", "ok \xC3\x28 not", "also fine"};
  req.texts = bad;
  req.n_texts = 3;
  std::fill(got.begin(), got.end(), -1.0f);
  EXPECT_EQ(api.embed_text(c, &req, got.data(), got.size(), &n), LAM_STATUS_INVALID_UTF8);
  const std::string err = api.client_last_error(c);
  EXPECT_NE(err.find("text 1"), std::string::npos) << err;
  EXPECT_NE(err.find("byte offset 3"), std::string::npos) << err;
  EXPECT_EQ(got[0], -1.0f);

  // The daemon keeps serving this client and a new one.
  req.texts = ptrs.data();
  req.lengths = lengths.data();
  req.n_texts = 1;
  ASSERT_EQ(api.embed_text(c, &req, got.data(), got.size(), &n), LAM_STATUS_OK) << api.client_last_error(c);
  EXPECT_EQ(std::memcmp(got.data(), want.data(), n * sizeof(float)), 0);
  lam_client* c2 = OpenClient(socket_, &st);
  ASSERT_NE(c2, nullptr);
  EXPECT_EQ(api.embed_text(c2, &req, got.data(), got.size(), &n), LAM_STATUS_OK) << api.client_last_error(c2);

  // Bad arguments are refused by the library.
  req.n_texts = 0;
  EXPECT_EQ(api.embed_text(c, &req, got.data(), got.size(), &n), LAM_STATUS_EMPTY_BATCH);
  req.n_texts = 1;
  req.texts = nullptr;
  EXPECT_EQ(api.embed_text(c, &req, got.data(), got.size(), &n), LAM_STATUS_INVALID_ARG);
  api.client_close(c2);
  api.client_close(c);
  EXPECT_EQ(lamd.Stop(), 0);
}

TEST_F(LamdTextTest, LamctlEmbedTextPrintsTheSameBytesInProcessAndViaLamd) {
  const std::string input = dir_ + "/in.txt";
  {
    std::ofstream f(input, std::ios::binary);
    f << "The quick brown fox\n\nnaïve café\n";
    for (int i = 0; i < 70; ++i) f << "line " << i << "\n";  // more than one --batch of 64
    f << "bad \xFF byte\n" << "never reached\n";
  }
  LamdProcess lamd(socket_);
  ASSERT_TRUE(lamd.Start());
  const std::string lamctl = BinDir() + "/lamctl embed --text ";
  auto run = [&](const std::string& how, const std::string& tag) {
    const std::string cmd = lamctl + how + " < '" + input + "' > '" + dir_ + "/" + tag + ".out' 2> '" + dir_ +
                            "/" + tag + ".err'";
    return std::system(cmd.c_str());
  };
  const int rc_local = run("--model '" + ModelDir() + "' --threads 1", "local");
  const int rc_daemon = run("--socket '" + socket_ + "'", "daemon");
  EXPECT_TRUE(WIFEXITED(rc_local) && WEXITSTATUS(rc_local) == 1) << rc_local;
  EXPECT_TRUE(WIFEXITED(rc_daemon) && WEXITSTATUS(rc_daemon) == 1) << rc_daemon;
  const std::string local = ReadAll(dir_ + "/local.out");
  const std::string daemon = ReadAll(dir_ + "/daemon.out");
  EXPECT_EQ(std::count(local.begin(), local.end(), '\n'), 73);  // every line before the bad one
  EXPECT_TRUE(local == daemon) << "in-process and lamd outputs differ";
  for (const std::string tag : {"local", "daemon"}) {
    const std::string err = ReadAll(dir_ + "/" + tag + ".err");
    EXPECT_NE(err.find("line 74: INVALID_UTF8"), std::string::npos) << tag << ": " << err;
  }
  EXPECT_EQ(lamd.Stop(), 0);
}

}  // namespace
}  // namespace lam::itest
