// SPDX-License-Identifier: MIT
// lamd's configuration: file, flags, precedence and errors that name the key and line.
#include "server/config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "server/peer_auth.h"

namespace lam::server {
namespace {

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = std::string(LAM_TEST_DATA_DIR) + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(ServerConfigTest, DefaultsWork) {
  Config c;
  EXPECT_EQ(c.socket, "/run/lamd/lamd.sock");
  EXPECT_EQ(c.backend, "auto");
  EXPECT_EQ(c.polling_us, 0u);
  EXPECT_EQ(c.idle_spin_us, 50u);
  EXPECT_TRUE(c.dispatch_lone_requests);
  EXPECT_EQ(c.allow_group, "lam");
}

TEST(ServerConfigTest, FileKeysAndFlagsCoverTheSameSettingsAndFlagsWin) {
  const std::string path = WriteFile("lamd-test.conf",
                                     "# comment\n"
                                     "model = /models/a   # trailing comment\n"
                                     "max_delay_us = 250\n"
                                     "arena-bytes = 32M\n"
                                     "buckets = 8, 64,512\n"
                                     "socket_mode = 0600\n");
  Config c;
  std::string a0 = "lamd", a1 = "--config", a2 = path, a3 = "--max-delay-us=75", a4 = "--token_budget", a5 = "1024";
  char* argv[] = {a0.data(), a1.data(), a2.data(), a3.data(), a4.data(), a5.data()};
  CommandLine cl;
  ASSERT_TRUE(ParseCommandLine(&c, 6, argv, &cl).ok());
  EXPECT_EQ(c.model, "/models/a");
  EXPECT_EQ(c.max_delay_us, 75);
  EXPECT_EQ(c.token_budget, 1024u);
  EXPECT_EQ(c.arena_bytes, 32ull << 20);
  EXPECT_EQ(c.buckets, (std::vector<uint32_t>{8, 64, 512}));
  EXPECT_EQ(c.socket_mode, 0600u);
}

TEST(ServerConfigTest, ErrorsNameTheKeyAndLine) {
  const std::string path = WriteFile("lamd-bad.conf", "model = x\nring_entries = 100\n");
  Config c;
  Status st = LoadConfigFile(&c, path);
  EXPECT_EQ(st.code(), LAM_STATUS_INVALID_ARG);
  EXPECT_NE(st.message().find(":2:"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("ring_entries"), std::string::npos);
  EXPECT_EQ(ApplyConfigKey(&c, "no_such_key", "1").code(), LAM_STATUS_INVALID_ARG);
  EXPECT_EQ(ApplyConfigKey(&c, "backend", "tpu").code(), LAM_STATUS_INVALID_ARG);
  EXPECT_EQ(ApplyConfigKey(&c, "log-level", "loud").code(), LAM_STATUS_INVALID_ARG);
  EXPECT_EQ(ApplyConfigKey(&c, "max_delay_us", "-5").code(), LAM_STATUS_INVALID_ARG);
  EXPECT_EQ(ApplyConfigKey(&c, "arena_bytes", "12Q").code(), LAM_STATUS_INVALID_ARG);
  EXPECT_EQ(LoadConfigFile(&c, "/nonexistent/lamd.conf").code(), LAM_STATUS_IO_ERROR);
}

TEST(ServerConfigTest, PrecisionIsFp32UnlessAskedAndTakesOnlyTheKnownModes) {
  Config c;
  EXPECT_EQ(c.precision, "fp32");
  for (const char* mode : {"bf16", "tf32", "auto", "fp32"}) {
    ASSERT_TRUE(ApplyConfigKey(&c, "precision", mode).ok()) << mode;
    EXPECT_EQ(c.precision, mode);
  }
  const Status st = ApplyConfigKey(&c, "precision", "fp16");
  EXPECT_EQ(st.code(), LAM_STATUS_INVALID_ARG);
  EXPECT_NE(st.message().find("fp32, bf16, tf32 or auto"), std::string::npos) << st.message();
  EXPECT_EQ(c.precision, "fp32");
  EXPECT_NE(UsageText().find("--precision fp32|bf16|tf32|auto"), std::string::npos);
}

TEST(ServerConfigTest, TheShippedDefaultConfigParses) {
  Config c;
  Status st = LoadConfigFile(&c, std::string(LAM_SOURCE_DIR) + "/systemd/lamd.conf");
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(c.socket, "/run/lamd/lamd.sock");
  EXPECT_EQ(c.ring_entries, 256u);
  EXPECT_EQ(c.idle_spin_us, Config{}.idle_spin_us);
  EXPECT_TRUE(ApplyConfigKey(&c, "idle-spin-us", "0").ok());
  EXPECT_EQ(c.idle_spin_us, 0u);
  EXPECT_EQ(ApplyConfigKey(&c, "idle_spin_us", "2000000").code(), LAM_STATUS_INVALID_ARG);
  EXPECT_TRUE(c.dispatch_lone_requests);
  EXPECT_TRUE(ApplyConfigKey(&c, "dispatch-lone-requests", "Off").ok());
  EXPECT_FALSE(c.dispatch_lone_requests);
  EXPECT_TRUE(ApplyConfigKey(&c, "dispatch_lone_requests", "yes").ok());
  EXPECT_TRUE(c.dispatch_lone_requests);
  EXPECT_EQ(ApplyConfigKey(&c, "dispatch_lone_requests", "maybe").code(), LAM_STATUS_INVALID_ARG);
}

TEST(ServerConfigTest, HelpAndVersionAreRecognised) {
  Config c;
  std::string a0 = "lamd", a1 = "--help";
  char* argv[] = {a0.data(), a1.data()};
  CommandLine cl;
  ASSERT_TRUE(ParseCommandLine(&c, 2, argv, &cl).ok());
  EXPECT_TRUE(cl.help);
  EXPECT_FALSE(cl.version);
  EXPECT_NE(UsageText().find("--polling-us"), std::string::npos);
}

// Parses `args` (after "lamd") into *c; returns the status.
Status Parse(Config* c, std::vector<std::string> args, CommandLine* cl) {
  args.insert(args.begin(), "lamd");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return ParseCommandLine(c, static_cast<int>(argv.size()), argv.data(), cl);
}

TEST(ServerConfigTest, EveryKeyIsAFlagInBothSpellingsAndInTheHelp) {
  for (const std::string& key : ConfigKeys()) {
    std::string dashed = key;
    std::replace(dashed.begin(), dashed.end(), '_', '-');
    EXPECT_NE(UsageText().find("--" + dashed + " "), std::string::npos) << dashed << " is not in lamd --help";
    // Each listed key is applied (a value it refuses is INVALID_ARG, never an unhandled key).
    Config scratch;
    EXPECT_NE(ApplyConfigKey(&scratch, key, "0").code(), LAM_STATUS_INTERNAL) << key;
    if (key == "config") continue;
    for (const std::string& flag : {"--" + dashed, "--" + key}) {
      Config c;
      CommandLine cl;
      const Status st = Parse(&c, {flag + "=not a value of any kind"}, &cl);
      EXPECT_TRUE(st.ok() || st.message().rfind("--" + dashed + ": ", 0) == 0) << flag << ": " << st.message();
    }
  }
}

TEST(ServerConfigTest, FlagsTakeEqualsOrASeparateValueAndErrorsNameTheFlag) {
  Config c;
  CommandLine cl;
  ASSERT_TRUE(Parse(&c, {"--model=/m", "--socket", "/tmp/s.sock", "--ring-entries=64", "--precompile",
                         "--http", "127.0.0.1:8080", "--http=/tmp/h.sock", "--max-delay-us", "5", "--max-delay-us=7"},
                    &cl).ok());
  EXPECT_EQ(c.model, "/m");
  EXPECT_EQ(c.socket, "/tmp/s.sock");
  EXPECT_EQ(c.ring_entries, 64u);
  EXPECT_TRUE(cl.precompile);
  EXPECT_FALSE(cl.help);
  EXPECT_EQ(c.http, (std::vector<std::string>{"127.0.0.1:8080", "/tmp/h.sock"}));
  EXPECT_EQ(c.max_delay_us, 7);  // the last one wins
  // `--http=` (empty) clears what came before, and does not swallow the next flag.
  ASSERT_TRUE(Parse(&c, {"--http=", "--threads", "3"}, &cl).ok());
  EXPECT_TRUE(c.http.empty());
  EXPECT_EQ(c.threads, 3);

  Status st = Parse(&c, {"--ring-entries", "100"}, &cl);
  EXPECT_EQ(st.code(), LAM_STATUS_INVALID_ARG);
  EXPECT_EQ(st.message().rfind("--ring-entries: config key 'ring_entries': '100' is not", 0), 0u) << st.message();
  st = Parse(&c, {"--max_delay_us=abc"}, &cl);
  EXPECT_EQ(st.message().rfind("--max-delay-us: ", 0), 0u) << st.message();
  EXPECT_NE(st.message().find("'abc'"), std::string::npos) << st.message();
  st = Parse(&c, {"--no-such-flag", "1"}, &cl);
  EXPECT_EQ(st.code(), LAM_STATUS_INVALID_ARG);
  EXPECT_EQ(st.message(), "--no-such-flag: unknown option");
  st = Parse(&c, {"--model=/m", "stray"}, &cl);
  EXPECT_EQ(st.message(), "unexpected argument 'stray'");
  st = Parse(&c, {"--socket"}, &cl);
  EXPECT_EQ(st.message(), "--socket: needs a value");
  ASSERT_TRUE(Parse(&c, {"--version"}, &cl).ok());
  EXPECT_TRUE(cl.version);
}

TEST(ServerConfigTest, ConfigFilesLoadBeforeTheFlagsWhereverTheyStand) {
  const std::string path = WriteFile("lamd-order.conf", "model = /from/file\nthreads = 2\n");
  Config c;
  CommandLine cl;
  ASSERT_TRUE(Parse(&c, {"--threads=5", "--config", path}, &cl).ok());
  EXPECT_EQ(c.model, "/from/file");
  EXPECT_EQ(c.threads, 5);
  EXPECT_EQ(c.config_file, path);
  const std::string bad = WriteFile("lamd-bad-order.conf", "threads = many\n");
  const Status st = Parse(&c, {"--config=" + bad}, &cl);
  EXPECT_NE(st.message().find(bad + ":1: config key 'threads'"), std::string::npos) << st.message();
}

TEST(ServerConfigTest, PeerPolicyAllowsRootSelfAndListedUidsOnly) {
  PeerPolicy p(/*self=*/1234, {777}, /*group=*/"");
  std::string why;
  EXPECT_TRUE(p.Allows(0, 0, &why));
  EXPECT_TRUE(p.Allows(1234, 5, &why));
  EXPECT_TRUE(p.Allows(777, 5, &why));
  EXPECT_FALSE(p.Allows(4242, 4242, &why));
  EXPECT_NE(why.find("4242"), std::string::npos);
}

TEST(ServerConfigTest, ControlSocketLimitsAreKeysAndFlags) {
  Config c;
  EXPECT_EQ(c.max_sessions_per_uid, 0u);
  EXPECT_EQ(c.max_pending_connections, 256u);
  EXPECT_EQ(c.max_pending_per_uid, 64u);
  EXPECT_EQ(c.hello_timeout_ms, 5000u);
  EXPECT_TRUE(c.admin_uids.empty());
  std::string a0 = "lamd", a1 = "--max-sessions-per-uid=3", a2 = "--max-pending-connections", a3 = "9",
              a4 = "--max_pending_per_uid=2", a5 = "--hello-timeout-ms=250", a6 = "--admin-uids=1000,1001";
  char* argv[] = {a0.data(), a1.data(), a2.data(), a3.data(), a4.data(), a5.data(), a6.data()};
  CommandLine cl;
  ASSERT_TRUE(ParseCommandLine(&c, 7, argv, &cl).ok());
  EXPECT_EQ(c.max_sessions_per_uid, 3u);
  EXPECT_EQ(c.max_pending_connections, 9u);
  EXPECT_EQ(c.max_pending_per_uid, 2u);
  EXPECT_EQ(c.hello_timeout_ms, 250u);
  EXPECT_EQ(c.admin_uids, (std::vector<uint32_t>{1000, 1001}));
  EXPECT_EQ(ApplyConfigKey(&c, "hello_timeout_ms", "0").code(), LAM_STATUS_INVALID_ARG);
  EXPECT_EQ(ApplyConfigKey(&c, "max-pending-per-uid", "0").code(), LAM_STATUS_INVALID_ARG);
  EXPECT_EQ(ApplyConfigKey(&c, "max-pending-connections", "0").code(), LAM_STATUS_INVALID_ARG);
  for (const char* flag : {"--max-sessions-per-uid", "--max-pending-connections", "--max-pending-per-uid",
                           "--hello-timeout-ms", "--admin-uids"}) {
    EXPECT_NE(UsageText().find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace lam::server
