// SPDX-License-Identifier: MIT
// Integration-test harness: a real lamd process on a temporary socket with a lam-mkmodel model,
// liblamclient loaded with dlopen (the real shared library), and child processes that re-exec
// the test binary in a "child role" (see child_roles.cpp).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lam/lam.h"

namespace lam::itest {

// Directory of the shared f128 seed-1 model (made once per build tree).
const std::string& ModelDir();
std::string BinDir();
std::string LibDir();
// A fresh directory for one test (sockets, reference files).
std::string ScratchDir(const std::string& name);

// A fresh, short Unix socket path (sun_path holds 107 bytes; build trees can be deep).
std::string SocketPath();
// Removes the directory SocketPath() made for `socket` (and nothing outside /tmp/lamd-itest-*).
void RemoveSocketDir(const std::string& socket);

// Spawns `argv` (argv[0] is a path) with extra environment `env` ("K=V"); returns the pid.
// With `die_with_parent`, the child gets SIGKILL when the calling thread ends (PR_SET_PDEATHSIG):
// only for processes started from the test's main thread that must not outlive the test (lamd).
pid_t Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
            bool die_with_parent = false);
// Waits up to timeout_ms; returns the wait status, or -1 on timeout (the child is then killed).
int WaitPid(pid_t pid, int timeout_ms);

class LamdProcess {
 public:
  LamdProcess(std::string socket, std::vector<std::string> extra_args = {});
  ~LamdProcess();
  // Starts lamd and waits until its socket accepts connections (false after timeout_ms).
  bool Start(int timeout_ms = 120000);
  // SIGTERM and wait: the exit status (WEXITSTATUS), or -1.
  int Stop(int timeout_ms = 60000);
  void Kill();  // SIGKILL and reap
  pid_t pid() const { return pid_; }
  const std::string& socket() const { return socket_; }
  int OpenFdCount() const;     // entries of /proc/PID/fd
  int64_t RssKiB() const;      // VmRSS
  int MemfdMappings() const;   // "/memfd:" lines in /proc/PID/maps

 private:
  std::string socket_;
  std::vector<std::string> args_;
  pid_t pid_ = -1;
};

// The C API, resolved from liblamclient.so at run time.
struct LamApi {
  decltype(&lam_client_open) client_open;
  decltype(&lam_client_close) client_close;
  decltype(&lam_client_last_error) client_last_error;
  decltype(&lam_client_embed_tokens) embed_tokens;
  decltype(&lam_client_embed_tokens_result) embed_tokens_result;
  decltype(&lam_result_release) result_release;
  decltype(&lam_client_submit_tokens) submit_tokens;
  decltype(&lam_client_wait) wait;
  decltype(&lam_client_poll) poll;
  decltype(&lam_client_cancel) cancel;
  decltype(&lam_client_ping) ping;
  decltype(&lam_client_get_model_info) get_model_info;
  decltype(&lam_status_str) status_str;
  decltype(&lam_client_embed_text) embed_text;
  decltype(&lam_client_embed_text_result) embed_text_result;
  decltype(&lam_client_submit_text) submit_text;
  decltype(&lam_client_get_stats) get_stats;
};
const LamApi& Api();  // aborts the test binary if the library cannot be loaded

// Runs lamctl with `args`; returns its stdout, with its exit status in *rc (-1 if it did not run).
std::string Lamctl(const std::vector<std::string>& args, int* rc);

// A test with its own scratch directory (dir_, named after the test) and lamd socket path
// (socket_), whose directory is removed afterwards.
class LamdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ScratchDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    socket_ = SocketPath();
  }
  void TearDown() override { RemoveSocketDir(socket_); }
  std::string dir_, socket_;
};

// Opens a client on `socket`; null (with the status in *status) on failure.
lam_client* OpenClient(const std::string& socket, lam_status* status, uint64_t arena_bytes = 0);

// Deterministic random token sequences: ids in [1000, 20000), [CLS]=101 first, [SEP]=102 last.
std::vector<int32_t> RandomSequence(uint64_t seed, uint32_t len);

// The child-role entry point: re-executes this binary with LAM_ITEST_ROLE=role and args.
pid_t SpawnRole(const std::string& role, const std::vector<std::string>& args);

}  // namespace lam::itest
