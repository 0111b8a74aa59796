// SPDX-License-Identifier: MIT
// `lam-bench soak` in small: a short run with restarts and SIGKILLs passes with every result
// checked, and a run whose checker is told to corrupt one row fails (the soak can fail).
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "integration/support/lamd_harness.h"

namespace lam::itest {
namespace {

// Runs lam-bench with `args` (and `env` "K=V " prefixes); returns stdout+stderr, *rc = exit code.
std::string RunBench(const std::string& env, const std::string& args, int* rc) {
  const std::string cmd = env + " '" + BinDir() + "/lam-bench' soak --model '" + ModelDir() + "' " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  *rc = -1;
  if (p == nullptr) return "";
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int st = ::pclose(p);
  if (WIFEXITED(st)) *rc = WEXITSTATUS(st);
  return out;
}

// Small pools and short sequences keep the references and lamd's work light on a 2-core CI box.
constexpr const char* kSmall = "--pool 96 --max-len 48 --max-seqs 4 --report-every 4 --warmup-sec 4";

TEST(LamBenchSoak, ShortRunWithRestartsAndKillsPasses) {
  int rc = 0;
  const std::string out =
      RunBench("", std::string("--minutes 0.35 --clients 5 --restart-every 9 --kill-every 1.5 ") + kSmall, &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("- verdict: PASS"), std::string::npos) << out;
  EXPECT_NE(out.find("- wrong 0, lost 0, unexpected 0;"), std::string::npos) << out;
  // The run really restarted lamd and killed clients, and checked rows of both kinds of request.
  int restarts = 0, kills = 0;
  const size_t at = out.find("unexpected 0; ");
  ASSERT_NE(at, std::string::npos) << out;
  ASSERT_EQ(std::sscanf(out.c_str() + at, "unexpected 0; %d restarts, %d SIGKILLs", &restarts, &kills), 2) << out;
  EXPECT_GE(restarts, 1) << out;
  EXPECT_GE(kills, 3) << out;
  unsigned long long requests = 0, ok = 0, rows = 0;
  const size_t tot = out.find("- total: ");
  ASSERT_NE(tot, std::string::npos) << out;
  ASSERT_EQ(std::sscanf(out.c_str() + tot, "- total: %llu requests, %llu ok, %llu rows checked", &requests, &ok, &rows),
            3)
      << out;
  EXPECT_GT(rows, 20u) << out;
  EXPECT_EQ(out.find("texts: off"), std::string::npos) << "the test model has a vocab.txt\n" << out;
}

TEST(LamBenchSoak, FailsOnAWrongRow) {
  int rc = 0;
  const std::string out = RunBench("LAM_BENCH_SOAK_CORRUPT_ROW=3",
                                   std::string("--minutes 0.2 --clients 3 --restart-every 0 --kill-every 0 ") + kSmall,
                                   &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("WRONG result"), std::string::npos) << out;
  EXPECT_NE(out.find("- wrong 1, lost 0"), std::string::npos) << out;
  EXPECT_NE(out.find("- verdict: FAIL"), std::string::npos) << out;
  EXPECT_NE(out.find("1 wrong result(s)"), std::string::npos) << out;
}

}  // namespace
}  // namespace lam::itest
