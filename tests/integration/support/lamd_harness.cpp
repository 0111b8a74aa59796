// SPDX-License-Identifier: MIT
#include "integration/support/lamd_harness.h"

#include <dirent.h>
#include <dlfcn.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "shm/frame_io.h"
#include "unit/support/raw_control.h"

extern char** environ;

namespace lam::itest {

std::string BinDir() {
  const char* d = std::getenv("LAM_BIN_DIR");
  return d != nullptr ? d : std::string(LAM_BINARY_DIR) + "/bin";
}

std::string LibDir() {
  const char* d = std::getenv("LAM_LIB_DIR");
  return d != nullptr ? d : std::string(LAM_BINARY_DIR) + "/lib";
}

std::string ScratchDir(const std::string& name) {
  const std::string dir = std::string(LAM_TEST_DATA_DIR) + "/itest-" + name + "-" + std::to_string(::getpid());
  std::string cmd = "rm -rf '" + dir + "' && mkdir -p '" + dir + "' && chmod 755 '" + dir + "'";
  if (std::system(cmd.c_str()) != 0) std::abort();
  return dir;
}

std::string SocketPath() {
  static std::atomic<int> n{0};
  const std::string dir = "/tmp/lamd-itest-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
  std::string cmd = "rm -rf '" + dir + "' && mkdir -p '" + dir + "' && chmod 755 '" + dir + "'";
  if (std::system(cmd.c_str()) != 0) std::abort();
  return dir + "/lamd.sock";
}

void RemoveSocketDir(const std::string& socket) {
  const std::string dir = socket.substr(0, socket.rfind('/'));
  if (dir.rfind("/tmp/lamd-itest-", 0) == 0) (void)!std::system(("rm -rf '" + dir + "'").c_str());
}

pid_t Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env, bool die_with_parent) {
  std::vector<char*> av;
  for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  std::vector<std::string> envs;
  for (char** e = environ; *e != nullptr; ++e) envs.emplace_back(*e);
  for (const auto& e : env) envs.push_back(e);
  std::vector<char*> ev;
  for (auto& e : envs) ev.push_back(e.data());
  ev.push_back(nullptr);
  if (!die_with_parent) {
    pid_t pid = -1;
    if (posix_spawn(&pid, av[0], nullptr, nullptr, av.data(), ev.data()) != 0) return -1;
    return pid;
  }
  // fork + PR_SET_PDEATHSIG: a test process that dies (or that ctest kills at its timeout) takes
  // its lamd with it, instead of leaving it holding ctest's output pipe. The child does only
  // async-signal-safe work before execve.
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(127);
    ::execve(av[0], av.data(), ev.data());
    ::_exit(127);
  }
  return pid;
}

int WaitPid(pid_t pid, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

const std::string& ModelDir() {
  static std::once_flag once;
  static std::string dir = std::string(LAM_TEST_DATA_DIR) + "/itest-model-f128-seed1";
  std::call_once(once, [] {
    struct stat st;
    if (::stat((dir + "/model.safetensors").c_str(), &st) == 0) return;
    const pid_t p = Spawn({BinDir() + "/lam-mkmodel", "--variant", "f128", "--seed", "1", "--out", dir, "--force"});
    const int status = WaitPid(p, 120000);
    if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "lam-mkmodel failed\n");
      std::abort();
    }
  });
  return dir;
}

LamdProcess::LamdProcess(std::string socket, std::vector<std::string> extra_args)
    : socket_(std::move(socket)), args_(std::move(extra_args)) {}

LamdProcess::~LamdProcess() {
  if (pid_ > 0) Kill();
}

bool LamdProcess::Start(int timeout_ms) {
  std::vector<std::string> argv = {BinDir() + "/lamd", "--model", ModelDir(), "--socket", socket_,
                                   "--backend", "cpu", "--log-level", "warning"};
  argv.insert(argv.end(), args_.begin(), args_.end());
  pid_ = Spawn(argv, {}, /*die_with_parent=*/true);
  if (pid_ < 0) return false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    // The socket answers from the start of warm-up: ready is server.state "serving".
    testing::RawControl c;
    if (c.Connect(socket_) && c.Hello() == LAM_STATUS_OK) {
      std::string reply;
      if (c.Call(shm::kFrameStatusRequest, "", shm::kFrameStatusReply, &reply)) {
        const auto doc = nlohmann::json::parse(reply, nullptr, false);
        if (!doc.is_discarded() && doc["server"].value("state", "") == "serving") return true;
      }
    }
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

int LamdProcess::Stop(int timeout_ms) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  const int status = WaitPid(pid_, timeout_ms);
  pid_ = -1;
  if (status < 0 || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

void LamdProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

int LamdProcess::OpenFdCount() const {
  int n = 0;
  if (DIR* d = ::opendir(("/proc/" + std::to_string(pid_) + "/fd").c_str())) {
    while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
    ::closedir(d);
  }
  return n;
}

int64_t LamdProcess::RssKiB() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return -1;
}

int LamdProcess::MemfdMappings() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/maps");
  std::string line;
  int n = 0;
  while (std::getline(in, line)) n += line.find("/memfd:") != std::string::npos;
  return n;
}

const LamApi& Api() {
  static LamApi api = [] {
    LamApi a{};
    const std::string path = LibDir() + "/liblamclient.so";
    void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      std::fprintf(stderr, "dlopen %s: %s\n", path.c_str(), ::dlerror());
      std::abort();
    }
    auto sym = [h](const char* name) {
      void* p = ::dlsym(h, name);
      if (p == nullptr) {
        std::fprintf(stderr, "missing symbol %s\n", name);
        std::abort();
      }
      return p;
    };
    a.client_open = reinterpret_cast<decltype(a.client_open)>(sym("lam_client_open"));
    a.client_close = reinterpret_cast<decltype(a.client_close)>(sym("lam_client_close"));
    a.client_last_error = reinterpret_cast<decltype(a.client_last_error)>(sym("lam_client_last_error"));
    a.embed_tokens = reinterpret_cast<decltype(a.embed_tokens)>(sym("lam_client_embed_tokens"));
    a.embed_tokens_result = reinterpret_cast<decltype(a.embed_tokens_result)>(sym("lam_client_embed_tokens_result"));
    a.result_release = reinterpret_cast<decltype(a.result_release)>(sym("lam_result_release"));
    a.submit_tokens = reinterpret_cast<decltype(a.submit_tokens)>(sym("lam_client_submit_tokens"));
    a.wait = reinterpret_cast<decltype(a.wait)>(sym("lam_client_wait"));
    a.poll = reinterpret_cast<decltype(a.poll)>(sym("lam_client_poll"));
    a.cancel = reinterpret_cast<decltype(a.cancel)>(sym("lam_client_cancel"));
    a.ping = reinterpret_cast<decltype(a.ping)>(sym("lam_client_ping"));
    a.get_model_info = reinterpret_cast<decltype(a.get_model_info)>(sym("lam_client_get_model_info"));
    a.status_str = reinterpret_cast<decltype(a.status_str)>(sym("lam_status_str"));
    a.embed_text = reinterpret_cast<decltype(a.embed_text)>(sym("lam_client_embed_text"));
    a.embed_text_result = reinterpret_cast<decltype(a.embed_text_result)>(sym("lam_client_embed_text_result"));
    a.submit_text = reinterpret_cast<decltype(a.submit_text)>(sym("lam_client_submit_text"));
    a.get_stats = reinterpret_cast<decltype(a.get_stats)>(sym("lam_client_get_stats"));
    return a;
  }();
  return api;
}

std::string Lamctl(const std::vector<std::string>& args, int* rc) {
  std::string cmd = BinDir() + "/lamctl";
  for (const auto& a : args) cmd += " '" + a + "'";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    *rc = -1;
    return "";
  }
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int st = pclose(p);
  *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

lam_client* OpenClient(const std::string& socket, lam_status* status, uint64_t arena_bytes) {
  lam_client_options o = LAM_CLIENT_OPTIONS_INIT;
  o.socket_path = socket.c_str();
  o.arena_bytes = arena_bytes;
#ifdef LAM_TEST_SANITIZED
  // The library's default (30 s) is too short for a TSan lamd embedding a batch padded to 512
  // tokens while another test runs beside it (seen in CI: 64 s for LamdTextTest's two requests).
  // Tests that exercise deadlines pass their own timeouts per call.
  o.timeout_ms = 300000;
#endif
  lam_client* c = nullptr;
  *status = Api().client_open(&o, &c);
  if (*status != LAM_STATUS_OK) {
    Api().client_close(c);
    return nullptr;
  }
  return c;
}

std::vector<int32_t> RandomSequence(uint64_t seed, uint32_t len) {
  std::vector<int32_t> ids(len);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (uint32_t i = 0; i < len; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    ids[i] = static_cast<int32_t>(1000 + x % 19000);
  }
  if (len >= 1) ids[0] = 101;
  if (len >= 2) ids[len - 1] = 102;
  return ids;
}

pid_t SpawnRole(const std::string& role, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/proc/self/exe"};
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    self[n] = '\0';
    argv[0] = self;
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return Spawn(argv, {"LAM_ITEST_ROLE=" + role});
}

}  // namespace lam::itest
