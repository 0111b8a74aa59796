// SPDX-License-Identifier: MIT
// lamd restarts over one --cache-dir: embeddings are bitwise identical before and after, and
// `lamctl cache ls` shows every warmed bucket resident with no compile after warm-up;
// `lamctl cache clear` drops them and `lamctl cache warm` brings them back.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "integration/support/lamd_harness.h"

namespace lam::itest {
namespace {

nlohmann::json CacheCmd(const std::string& socket, const std::string& verb) {
  int rc = 0;
  const std::string out = Lamctl({"cache", verb, "--json", "--socket", socket}, &rc);
  EXPECT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << out;
  return j;
}

std::vector<float> EmbedAll(const std::string& socket, const std::vector<std::vector<int32_t>>& seqs) {
  lam_status st;
  lam_client* c = OpenClient(socket, &st);
  EXPECT_NE(c, nullptr) << Api().status_str(st);
  std::vector<float> all;
  if (c == nullptr) return all;
  for (const auto& s : seqs) {
    const uint32_t len = static_cast<uint32_t>(s.size());
    lam_embed_tokens_request req = LAM_EMBED_TOKENS_REQUEST_INIT;
    req.token_ids = s.data();
    req.lengths = &len;
    req.n_sequences = 1;
    req.timeout_ms = LAM_TIMEOUT_INFINITE;
    float out[384];
    size_t n = 0;
    EXPECT_EQ(Api().embed_tokens(c, &req, out, 384, &n), LAM_STATUS_OK) << Api().client_last_error(c);
    all.insert(all.end(), out, out + 384);
  }
  Api().client_close(c);
  return all;
}

TEST(CacheRestartTest, RestartKeepsEmbeddingsBitwiseAndLsShowsWarmedBuckets) {
  const std::string cache_dir = ScratchDir("excache-restart") + "/cache";
  std::vector<std::vector<int32_t>> seqs;
  for (uint32_t len : {3u, 16u, 100u, 400u, 700u}) seqs.push_back(RandomSequence(len, len));
  const std::vector<std::string> args = {"--cache-dir", cache_dir, "--threads", "1"};

  std::vector<float> before, after;
  {
    LamdProcess lamd(SocketPath(), args);
    ASSERT_TRUE(lamd.Start());
    before = EmbedAll(lamd.socket(), seqs);
    const auto ls = CacheCmd(lamd.socket(), "ls");
    ASSERT_TRUE(ls.contains("executables"));
    std::vector<std::string> resident;
    uint64_t compiles = 0;
    for (const auto& b : ls["executables"]) {
      if (b.value("resident", 0) == 1) resident.push_back(b.value("bucket", ""));
      compiles += b.value("compiles", 0ull);
    }
    // Every default bucket (64 sequences, 128 tokens up to the model maximum) was warmed.
    EXPECT_GE(resident.size(), 2u) << ls.dump();
    EXPECT_NE(std::find(resident.begin(), resident.end(), "64x128"), resident.end()) << ls.dump();
    EXPECT_NE(std::find(resident.begin(), resident.end(), "64x512"), resident.end()) << ls.dump();
    EXPECT_EQ(compiles, resident.size()) << "a request compiled after warm-up: " << ls.dump();
    EXPECT_EQ(ls["disk"].value("dir", ""), cache_dir);

    const auto cleared = CacheCmd(lamd.socket(), "clear");
    EXPECT_EQ(cleared.value("dropped", 0ull), resident.size());
    const auto warmed = CacheCmd(lamd.socket(), "warm");
    EXPECT_EQ(warmed.value("warmed", 0ull), resident.size());
    EXPECT_EQ(EmbedAll(lamd.socket(), seqs), before);
    EXPECT_EQ(lamd.Stop(), 0);
    RemoveSocketDir(lamd.socket());
  }
  {
    LamdProcess lamd(SocketPath(), args);
    ASSERT_TRUE(lamd.Start());
    after = EmbedAll(lamd.socket(), seqs);
    EXPECT_EQ(lamd.Stop(), 0);
    RemoveSocketDir(lamd.socket());
  }
  ASSERT_EQ(before.size(), seqs.size() * 384);
  ASSERT_EQ(after.size(), before.size());
  EXPECT_EQ(0, std::memcmp(before.data(), after.data(), before.size() * sizeof(float)));
}

}  // namespace
}  // namespace lam::itest
