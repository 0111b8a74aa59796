// SPDX-License-Identifier: MIT
// lam-bench soak: lamd under a long, hostile, checked load.
//
// Processes: lam-bench starts its own lamd (CPU backend, a private socket and cache directory in
// a temporary directory) and --clients client processes (lam-bench-soak-client, liblamclient
// only): one light client (a tiny request every 50 ms; its latency is reported), one flooding
// client (tiny requests back to back, 8 in flight) and the rest workers (random batches of 1 to
// --max-seqs random token sequences or texts, through submit+wait, pipelined submissions,
// zero-copy results and the synchronous calls, pausing 0-2 x --think-ms between calls; sessions
// closed and reopened now and then).
// A supervisor SIGKILLs a random worker every --kill-every seconds (respawned at once) and
// restarts lamd every --restart-every seconds (SIGTERM, wait, start again).
//
// Verification: each client writes every call's outcome to its pipe (pool indices, status, and
// the rows it got). Inputs are entries of deterministic pools (soak_common.h) that lam-bench
// embeds once with its own in-process engine (same model, CPU backend); every row of every
// successful call is compared bitwise with that reference (lamd is bit-exact and batch-invariant
// on the CPU backend). A mismatch, or a success with the wrong number of rows, is WRONG.
//
// Loss accounting: with submit + wait a client waits kWaitMs for a request the daemon drops
// unstarted after kDeadlineMs, so a client-side TIMEOUT there while the same daemon lived
// throughout is LOST (the synchronous calls wait exactly the deadline; their TIMEOUT is only
// counted); so is a client that returns no call for --stuck-sec seconds while the daemon lived
// (it is killed and respawned).
// DAEMON_UNAVAILABLE (or any other failure) on a call that overlapped a restart is expected and
// only counted by status; OVERLOADED and DEADLINE_EXCEEDED are load shedding, counted. Any
// other failure status is UNEXPECTED.
//
// Growth: each report (--report-every, default a minute) samples the daemon's VmRSS, its open
// fds and the entries of /dev/shm. For each daemon instance, the first sample at least
// --warmup-sec after it became ready is the baseline; later samples of that instance must stay
// within RSS baseline + max(32 MiB, 10%) and fds baseline + 16. /dev/shm never holds more entries
// than at the start. A report interval with no successful result while lamd was up is a stall.
//
// It exits 1 (naming every reason) on any wrong, lost or unexpected result, growth, stall, lamd
// crash or shutdown overrun, or a client that died by itself; 0 otherwise.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench.h"
#include "engine/engine.h"
#include "lam/lam_status.h"
#include "shm/frame_io.h"
#include "soak_common.h"
#include "tokenizer/sentence_config.h"

extern char** environ;

namespace lam::bench {
namespace {

using namespace soak;

constexpr int64_t kSec = 1000000000;

// SIGINT/SIGTERM end the run early (children and lamd are still stopped and reaped).
std::atomic<int> g_interrupted{0};
extern "C" void OnInterrupt(int sig) { g_interrupted.store(sig); }

std::string StatusName(int32_t s) {
  switch (s) {
#define LAM_SOAK_NAME_(name, num, text) \
  case num:                             \
    return #name;
    LAM_STATUS_MAP(LAM_SOAK_NAME_)
#undef LAM_SOAK_NAME_
    default:
      return "STATUS_" + std::to_string(s);
  }
}

std::string ExeDir() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  return p.substr(0, p.rfind('/'));
}

pid_t Spawn(const std::vector<std::string>& args, int stdout_fd) {
  std::vector<char*> av;
  for (const auto& a : args) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (stdout_fd >= 0) posix_spawn_file_actions_adddup2(&fa, stdout_fd, 1);
  pid_t pid = -1;
  if (posix_spawn(&pid, av[0], &fa, nullptr, av.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

// Starts lamd so that it dies with lam-bench (PR_SET_PDEATHSIG: lam-bench stopped by a signal or
// a sanitizer must not leave a daemon behind, holding the caller's output pipe open). Called on
// the main thread, which lives as long as the process (the signal follows the forking thread).
pid_t SpawnDaemon(const std::vector<std::string>& args) {
  std::vector<char*> av;
  for (const auto& a : args) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid != 0) return pid;  // -1 on failure
  // Child: only async-signal-safe calls until exec.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);  // lam-bench already gone
  ::execv(av[0], av.data());
  ::_exit(127);
}

int64_t ProcRssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return -1;
}

int CountDir(const std::string& path, std::vector<std::string>* names = nullptr) {
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    // LLVM's OpenMP runtime (clang builds: the sanitizer stages) registers every process in
    // /dev/shm and a SIGKILLed one leaves its entry: not lamd's (its segments are memfds).
    if (std::strncmp(e->d_name, "__KMP_REGISTERED_LIB_", 21) == 0) continue;
    ++n;
    if (names != nullptr) names->push_back(e->d_name);
  }
  ::closedir(d);
  return n;
}

double Pct(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

// Counters of one report interval (and, summed, of the run).
struct Counters {
  uint64_t requests = 0;  // calls that returned (records)
  uint64_t ok = 0;
  uint64_t rows = 0;      // rows checked
  uint64_t wrong = 0;     // wrong results (calls)
  uint64_t lost = 0;
  uint64_t unexpected = 0;
  std::map<int32_t, uint64_t> errors;  // failure status -> calls
  std::vector<double> light_ms;        // light client latencies of successful calls
  void Add(const Counters& o) {
    light_ms.insert(light_ms.end(), o.light_ms.begin(), o.light_ms.end());
    requests += o.requests;
    ok += o.ok;
    rows += o.rows;
    wrong += o.wrong;
    lost += o.lost;
    unexpected += o.unexpected;
    for (const auto& [k, v] : o.errors) errors[k] += v;
  }
};

struct Child {
  uint8_t role = kRoleWorker;
  pid_t pid = -1;
  bool killed = false;  // SIGKILLed by the supervisor (its death is expected)
  int64_t spawned_ns = 0;
};

class Soak {
 public:
  explicit Soak(const BenchOptions& o) : opt_(o) {}
  int Run();

 private:
  bool Setup();
  bool StartDaemon();
  void StopDaemon(bool restart);
  void SpawnChild(size_t slot);
  void Reap();
  void Report(int64_t now, bool last);
  void Watchdog(int64_t now);
  void Fail(const std::string& why);
  void ReaderLoop();
  void HandleRecord(pid_t pid, const RecordHeader& h, const uint32_t* idx, const float* rows);
  bool Excused(int64_t t0, int64_t t1);
  const std::vector<float>& Reference(uint8_t kind, uint32_t index);

  const BenchOptions& opt_;
  std::unique_ptr<engine::Engine> engine_;
  std::optional<tokenizer::TextFrontEnd> text_;  // what lamd tokenises texts with
  uint32_t dim_ = 0;
  size_t max_tokens_ = 0;
  PoolSpec pool_;
  std::vector<std::vector<float>> ref_tokens_, ref_texts_;  // memoised references (reader thread)
  int64_t corrupt_row_ = 0;  // LAM_BENCH_SOAK_CORRUPT_ROW: flip a bit of that checked row (tests)
  uint64_t rows_checked_ = 0;

  std::string dir_, socket_, cache_dir_;
  pid_t lamd_ = -1;
  int instance_ = 0;
  int64_t ready_ns_ = 0;
  int64_t base_rss_ = -1;
  int base_fds_ = -1;
  int shm_start_ = 0;
  int restarts_ = 0, kills_ = 0, respawns_ = 0;
  int cutoffs_ = 0;  // SIGTERMs after which lamd's shutdown timeout cut in-flight work off
  int64_t last_ok_ns_ = 0;  // the last successful result (guarded by mu_)
  int64_t start_ns_ = 0, last_report_ns_ = 0;

  std::vector<Child> children_;
  Rng rng_{1};

  std::mutex mu_;  // guards everything below
  Counters interval_, total_;
  std::vector<std::pair<int64_t, int64_t>> down_;  // [stop begun, ready again + grace]
  int64_t down_since_ = -1;                        // a stop or crash in progress
  std::map<pid_t, int64_t> last_record_ns_;
  std::vector<std::pair<int, pid_t>> new_fds_;     // pipes for the reader
  std::vector<std::string> failures_;
  int reported_details_ = 0;
  std::atomic<bool> stop_reader_{false};
  int wake_[2] = {-1, -1};
};

void Soak::Fail(const std::string& why) {
  std::fprintf(stderr, "soak: %s\n", why.c_str());
  std::fflush(stderr);
  failures_.push_back(why);
}

bool Soak::Setup() {
  engine::EngineOptions eo;
  eo.backend = "cpu";
  eo.threads = 1;  // the references; lamd gets the cores
  auto e = engine::Engine::Open(opt_.model_dir, eo);
  if (!e.ok()) {
    std::fprintf(stderr, "lam-bench soak: %s: %s\n", opt_.model_dir.c_str(), e.status().ToString().c_str());
    return false;
  }
  engine_ = std::move(*e);
  dim_ = static_cast<uint32_t>(engine_->info().embedding_dim);
  max_tokens_ = static_cast<size_t>(engine_->info().config.max_tokens);
  pool_.seed = opt_.seed;
  pool_.n_tokens = static_cast<uint32_t>(std::max(opt_.soak_pool, 16));
  pool_.n_tiny = std::max<uint32_t>(4, pool_.n_tokens / 8);
  pool_.max_len = static_cast<uint32_t>(std::min<size_t>(static_cast<size_t>(std::max(opt_.soak_max_len, 2)), max_tokens_));
  pool_.vocab = static_cast<uint32_t>(engine_->info().config.vocab_size);
  auto tok = tokenizer::LoadTextFrontEnd(opt_.model_dir, max_tokens_);
  if (tok.ok()) {
    text_.emplace(std::move(*tok));
    pool_.n_texts = std::max<uint32_t>(16, pool_.n_tokens / 4);
  } else {
    pool_.n_texts = 0;
    std::printf("- texts: off (%s)\n", tok.status().ToString().c_str());
  }
  ref_tokens_.resize(pool_.n_tokens);
  ref_texts_.resize(pool_.n_texts);
  if (const char* c = std::getenv("LAM_BENCH_SOAK_CORRUPT_ROW")) corrupt_row_ = std::atoll(c);

  char tmpl[] = "/tmp/lam-soak-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    std::perror("lam-bench soak: mkdtemp");
    return false;
  }
  dir_ = tmpl;
  socket_ = dir_ + "/lamd.sock";
  cache_dir_ = dir_ + "/cache";
  shm_start_ = CountDir("/dev/shm");
  return true;
}

bool Soak::StartDaemon() {
  ::unlink(socket_.c_str());
  const std::vector<std::string> args = {ExeDir() + "/lamd", "--model", opt_.model_dir, "--socket", socket_,
                                         "--backend", "cpu", "--cache-dir", cache_dir_, "--log-level", "warning",
                                         "--shutdown-timeout-ms", "10000"};
  const int64_t t0 = shm::MonotonicNs();
  lamd_ = SpawnDaemon(args);
  if (lamd_ < 0) {
    Fail("cannot start " + args[0]);
    return false;
  }
  ++instance_;
  // Ready once the socket accepts (lamd listens after warm-up).
  while (shm::MonotonicNs() - t0 < 600 * kSec) {
    const int fd = shm::ConnectUnix(socket_);
    if (fd >= 0) {
      ::close(fd);
      std::lock_guard<std::mutex> lk(mu_);
      ready_ns_ = shm::MonotonicNs();
      base_rss_ = -1;
      base_fds_ = -1;
      if (down_since_ >= 0) {
        // Calls overlapping the outage, or made by clients that had not reconnected within 5 s
        // of the new daemon, are excused.
        down_.emplace_back(down_since_, ready_ns_ + 5 * kSec);
        down_since_ = -1;
      }
      return true;
    }
    int st = 0;
    if (::waitpid(lamd_, &st, WNOHANG) == lamd_) {
      Fail("lamd exited during start-up (status " + std::to_string(st) + ")");
      lamd_ = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Fail("lamd not ready after 600 s; killed");
  ::kill(lamd_, SIGKILL);
  ::waitpid(lamd_, nullptr, 0);
  lamd_ = -1;
  return false;
}

// SIGTERM, then wait for lamd's shutdown (its timeout is 10 s; 25 s is an overrun).
void Soak::StopDaemon(bool restart) {
  if (lamd_ < 0) return;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (down_since_ < 0) down_since_ = shm::MonotonicNs();
  }
  ::kill(lamd_, SIGTERM);
  const int64_t t0 = shm::MonotonicNs();
  int st = 0;
  for (;;) {
    const pid_t r = ::waitpid(lamd_, &st, WNOHANG);
    if (r == lamd_) break;
    if (shm::MonotonicNs() - t0 > 25 * kSec) {
      Fail("lamd (instance " + std::to_string(instance_) + ") did not exit within 25 s of SIGTERM "
           "(--shutdown-timeout-ms 10000); killed");
      ::kill(lamd_, SIGKILL);
      ::waitpid(lamd_, &st, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 1) {
    ++cutoffs_;  // documented: the shutdown timeout cut in-flight work off (server.h)
  } else if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
    Fail("lamd (instance " + std::to_string(instance_) + ") exited with wait status " + std::to_string(st) +
         " after SIGTERM");
  }
  lamd_ = -1;
  if (restart) {
    ++restarts_;
    StartDaemon();
  }
}

void Soak::SpawnChild(size_t slot) {
  Child& c = children_[slot];
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    Fail(std::string("pipe2: ") + std::strerror(errno));
    return;
  }
  const char* role = c.role == kRoleFlood ? "flood" : c.role == kRoleLight ? "light" : "worker";
  const std::vector<std::string> args = {ExeDir() + "/lam-bench-soak-client", socket_, role,
                                         std::to_string(rng_.Next() >> 1), std::to_string(pool_.seed),
                                         std::to_string(pool_.n_tokens), std::to_string(pool_.n_tiny),
                                         std::to_string(pool_.n_texts), std::to_string(pool_.max_len),
                                         std::to_string(pool_.vocab), std::to_string(opt_.soak_max_seqs),
                                         std::to_string(opt_.soak_think_ms)};
  c.pid = Spawn(args, p[1]);
  ::close(p[1]);
  c.killed = false;
  c.spawned_ns = shm::MonotonicNs();
  if (c.pid < 0) {
    ::close(p[0]);
    Fail("cannot start " + args[0]);
    return;
  }
  std::lock_guard<std::mutex> lk(mu_);
  last_record_ns_[c.pid] = c.spawned_ns;
  new_fds_.emplace_back(p[0], c.pid);
  (void)!::write(wake_[1], "x", 1);
}

// Reaps dead clients (respawning them) and notices a lamd that died by itself.
void Soak::Reap() {
  for (size_t i = 0; i < children_.size(); ++i) {
    Child& c = children_[i];
    int st = 0;
    if (c.pid <= 0 || ::waitpid(c.pid, &st, WNOHANG) != c.pid) continue;
    if (!c.killed) {
      Fail(std::string("client ") + std::to_string(c.pid) + " (" + RoleName(c.role) + ") died by itself, wait status " +
           std::to_string(st));
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      last_record_ns_.erase(c.pid);
    }
    ++respawns_;
    SpawnChild(i);
  }
  int st = 0;
  if (lamd_ > 0 && ::waitpid(lamd_, &st, WNOHANG) == lamd_) {
    Fail("lamd (instance " + std::to_string(instance_) + ") died by itself, wait status " + std::to_string(st));
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (down_since_ < 0) down_since_ = shm::MonotonicNs();
    }
    lamd_ = -1;
    StartDaemon();
  }
}

bool Soak::Excused(int64_t t0, int64_t t1) {
  if (down_since_ >= 0 && t1 >= down_since_) return true;
  for (const auto& [a, b] : down_) {
    if (t0 <= b && t1 >= a) return true;
  }
  return false;
}

const std::vector<float>& Soak::Reference(uint8_t kind, uint32_t index) {
  std::vector<float>& ref = kind == kKindText ? ref_texts_[index] : ref_tokens_[index];
  if (!ref.empty()) return ref;
  std::vector<int32_t> ids;
  if (kind == kKindText) {
    auto r = text_->tokenizer.Encode(PoolText(pool_, index), text_->max_tokens);
    if (!r.ok()) {
      std::fprintf(stderr, "soak: tokenising text %u: %s\n", index, r.status().ToString().c_str());
      std::abort();
    }
    ids = std::move(*r);
  } else {
    ids = PoolSequence(pool_, index);
  }
  const engine::TokenSpan span{ids.data(), ids.size()};
  ref.assign(dim_, 0.0f);
  const Status st = engine_->Embed({&span, 1}, ref.data());
  if (!st.ok()) {
    std::fprintf(stderr, "soak: reference for %s %u: %s\n", kind == kKindText ? "text" : "sequence", index,
                 st.ToString().c_str());
    std::abort();
  }
  return ref;
}

void Soak::HandleRecord(pid_t pid, const RecordHeader& h, const uint32_t* idx, const float* rows) {
  const uint32_t limit = h.kind == kKindText ? pool_.n_texts : pool_.n_tokens;
  bool bad_index = h.kind > kKindText;
  for (uint32_t i = 0; i < h.n && !bad_index; ++i) bad_index = idx[i] >= limit;
  // Verify outside the lock (references may be computed now).
  std::string wrong_detail;
  uint64_t rows_ok = 0;
  if (h.status == LAM_STATUS_OK && !bad_index) {
    if (h.bad_count != 0 || h.dim != dim_) {
      wrong_detail = "a success with the wrong number of floats (dim " + std::to_string(h.dim) + ")";
    } else {
      std::vector<float> row(dim_);
      for (uint32_t i = 0; i < h.n; ++i) {
        std::memcpy(row.data(), rows + static_cast<size_t>(i) * dim_, dim_ * sizeof(float));
        if (corrupt_row_ > 0 && static_cast<int64_t>(++rows_checked_) == corrupt_row_) {
          uint32_t bits;
          std::memcpy(&bits, &row[0], 4);
          bits ^= 1u;
          std::memcpy(&row[0], &bits, 4);
        }
        const std::vector<float>& ref = Reference(h.kind, idx[i]);
        if (std::memcmp(row.data(), ref.data(), dim_ * sizeof(float)) != 0) {
          double max_diff = 0;
          int differing = 0;
          for (uint32_t j = 0; j < dim_; ++j) {
            if (std::memcmp(&row[j], &ref[j], 4) != 0) ++differing;
            const double d = std::fabs(static_cast<double>(row[j]) - ref[j]);
            if (!(d <= max_diff)) max_diff = d;  // NaN propagates
          }
          if (wrong_detail.empty()) {
            wrong_detail = "row " + std::to_string(i) + " of " + std::to_string(h.n) + " (" +
                           (h.kind == kKindText ? "text " : "sequence ") + std::to_string(idx[i]) + "): " +
                           std::to_string(differing) + " of " + std::to_string(dim_) +
                           " floats differ from the in-process engine, max |diff| " + std::to_string(max_diff);
          }
        } else {
          ++rows_ok;
        }
      }
    }
  }
  std::lock_guard<std::mutex> lk(mu_);
  if (auto it = last_record_ns_.find(pid); it != last_record_ns_.end()) it->second = shm::MonotonicNs();
  Counters& c = interval_;
  ++c.requests;
  auto detail = [&](const std::string& what) {
    if (reported_details_++ < 20) {
      std::fprintf(stderr, "soak: %s: client %d (%s), %s %s call of %u, %.1f ms: %s\n", what.c_str(),
                   static_cast<int>(pid), RoleName(h.role), ModeName(h.mode), h.kind == kKindText ? "text" : "tokens",
                   h.n, static_cast<double>(h.t1_ns - h.t0_ns) / 1e6, StatusName(h.status).c_str());
      std::fflush(stderr);
    }
  };
  if (bad_index) {
    ++c.unexpected;
    detail("malformed record");
    return;
  }
  if (h.status == LAM_STATUS_OK) {
    c.rows += rows_ok;
    if (!wrong_detail.empty()) {
      ++c.wrong;
      detail("WRONG result (" + wrong_detail + ")");
    } else {
      ++c.ok;
      last_ok_ns_ = shm::MonotonicNs();
      if (h.role == kRoleLight) c.light_ms.push_back(static_cast<double>(h.t1_ns - h.t0_ns) / 1e6);
    }
    return;
  }
  ++c.errors[h.status];
  if (h.status == LAM_STATUS_OVERLOADED || h.status == LAM_STATUS_DEADLINE_EXCEEDED) return;
  if (Excused(h.t0_ns, h.t1_ns)) return;
  if (h.status == LAM_STATUS_TIMEOUT && (h.mode == kModeSync || h.mode == kModeResult)) return;  // soak_common.h
  if (h.status == LAM_STATUS_TIMEOUT) {
    ++c.lost;
    detail("LOST result (no answer within " + std::to_string(kWaitMs) + " ms while lamd lived)");
  } else {
    ++c.unexpected;
    detail("UNEXPECTED status while lamd lived");
  }
}

// Reads every client's pipe; hands each complete record to HandleRecord.
void Soak::ReaderLoop() {
  struct Stream {
    pid_t pid;
    std::string buf;
  };
  std::map<int, Stream> streams;
  std::vector<pollfd> pfds;
  char chunk[65536];
  for (;;) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      for (const auto& [fd, pid] : new_fds_) streams[fd] = Stream{pid, {}};
      new_fds_.clear();
    }
    if (stop_reader_.load() && streams.empty()) return;
    pfds.clear();
    pfds.push_back({wake_[0], POLLIN, 0});
    for (const auto& [fd, s] : streams) pfds.push_back({fd, POLLIN, 0});
    if (::poll(pfds.data(), pfds.size(), 200) < 0 && errno != EINTR) return;
    if (pfds[0].revents != 0) (void)!::read(wake_[0], chunk, sizeof(chunk));
    for (size_t k = 1; k < pfds.size(); ++k) {
      if (pfds[k].revents == 0) continue;
      const int fd = pfds[k].fd;
      Stream& s = streams[fd];
      const ssize_t n = ::read(fd, chunk, sizeof(chunk));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {  // the client exited; a record it was writing when killed is dropped
        ::close(fd);
        streams.erase(fd);
        continue;
      }
      s.buf.append(chunk, static_cast<size_t>(n));
      {
        // A client blocked on its pipe while this thread computed references is not stuck.
        std::lock_guard<std::mutex> lk(mu_);
        if (auto it = last_record_ns_.find(s.pid); it != last_record_ns_.end()) it->second = shm::MonotonicNs();
      }
      size_t pos = 0;
      for (;;) {
        if (s.buf.size() - pos < sizeof(RecordHeader)) break;
        RecordHeader h;
        std::memcpy(&h, s.buf.data() + pos, sizeof(h));
        if (h.magic != kRecordMagic || h.n == 0 || h.n > 1000000 || (h.dim != 0 && h.dim != dim_)) {
          std::lock_guard<std::mutex> lk(mu_);
          ++interval_.unexpected;
          std::fprintf(stderr, "soak: client %d wrote a malformed record; its stream is dropped\n",
                       static_cast<int>(s.pid));
          pos = s.buf.size();
          break;
        }
        const size_t need = sizeof(h) + h.n * sizeof(uint32_t) + static_cast<size_t>(h.n) * h.dim * sizeof(float);
        if (s.buf.size() - pos < need) break;
        std::vector<uint32_t> idx(h.n);
        std::vector<float> rows(static_cast<size_t>(h.n) * h.dim);
        if (!idx.empty()) std::memcpy(idx.data(), s.buf.data() + pos + sizeof(h), h.n * sizeof(uint32_t));
        if (!rows.empty()) {
          std::memcpy(rows.data(), s.buf.data() + pos + sizeof(h) + h.n * sizeof(uint32_t), rows.size() * sizeof(float));
        }
        HandleRecord(s.pid, h, idx.data(), rows.data());
        pos += need;
      }
      s.buf.erase(0, pos);
    }
  }
}

void Soak::Report(int64_t now, bool last) {
  Counters c;
  std::vector<double> light;
  {
    std::lock_guard<std::mutex> lk(mu_);
    c = interval_;
    interval_ = Counters();
    total_.Add(c);
  }
  const int64_t rss = lamd_ > 0 ? ProcRssKiB(lamd_) : -1;
  const int fds = lamd_ > 0 ? CountDir("/proc/" + std::to_string(lamd_) + "/fd") : -1;
  std::vector<std::string> shm_names;
  const int shm = CountDir("/dev/shm", &shm_names);
  std::string errors;
  for (const auto& [k, v] : c.errors) {
    if (!errors.empty()) errors += ' ';
    errors.append(StatusName(k)).append("=").append(std::to_string(v));
  }
  const double t_min = static_cast<double>(now - start_ns_) / 60.0 / kSec;
  std::printf("| %.2f | %d | %llu | %llu | %llu | %s | %llu | %llu | %llu | %.1f | %d | %d | %.1f / %.1f | %d / %d |\n",
              t_min, instance_, static_cast<unsigned long long>(c.requests), static_cast<unsigned long long>(c.ok),
              static_cast<unsigned long long>(c.rows), errors.empty() ? "-" : errors.c_str(),
              static_cast<unsigned long long>(total_.wrong), static_cast<unsigned long long>(total_.lost),
              static_cast<unsigned long long>(total_.unexpected), rss < 0 ? -1.0 : static_cast<double>(rss) / 1024.0,
              fds, shm, Pct(c.light_ms, 0.5), Pct(c.light_ms, 0.99), restarts_, kills_);
  std::fflush(stdout);

  if (shm > shm_start_) {
    std::string names;
    for (const auto& n : shm_names) names += " " + n;
    Fail("/dev/shm holds " + std::to_string(shm) + " entries, " + std::to_string(shm_start_) + " at the start:" + names);
  }
  {
    // A stall: no success for --stuck-sec while lamd was up (once per stall).
    std::lock_guard<std::mutex> lk(mu_);
    const int64_t since = std::max(last_ok_ns_, ready_ns_);
    if (!last && lamd_ > 0 && now - since > static_cast<int64_t>(opt_.soak_stuck_sec * kSec) && !Excused(since, now)) {
      std::fprintf(stderr, "soak: no successful result for %.0f s while lamd was up (stall)\n",
                   static_cast<double>(now - since) / kSec);
      failures_.push_back("stall: no successful result for " + std::to_string((now - since) / kSec) +
                          " s while lamd was up");
      last_ok_ns_ = now;
    }
  }
  last_report_ns_ = now;
  if (last || lamd_ < 0 || rss < 0 || fds < 0) return;
  if (now - ready_ns_ < static_cast<int64_t>(opt_.soak_warmup_sec * kSec)) return;
  if (base_rss_ < 0) {
    base_rss_ = rss;
    base_fds_ = fds;
    std::printf("|   | baseline of instance %d: RSS %.1f MiB, %d fds |\n", instance_, static_cast<double>(rss) / 1024.0, fds);
    std::fflush(stdout);
    return;
  }
  const int64_t rss_limit = base_rss_ + std::max<int64_t>(32 * 1024, base_rss_ / 10);
  if (rss > rss_limit) {
    Fail("lamd RSS grew from " + std::to_string(base_rss_) + " KiB to " + std::to_string(rss) + " KiB (limit " +
         std::to_string(rss_limit) + ") in instance " + std::to_string(instance_));
  }
  if (fds > base_fds_ + 16) {
    Fail("lamd fds grew from " + std::to_string(base_fds_) + " to " + std::to_string(fds) + " (limit +16) in instance " +
         std::to_string(instance_));
  }
}

// A client that reported nothing for --stuck-sec while lamd lived has a lost request: count
// it, kill the client (it is respawned).
void Soak::Watchdog(int64_t now) {
  const int64_t limit = static_cast<int64_t>(opt_.soak_stuck_sec * kSec);
  for (Child& c : children_) {
    if (c.pid <= 0 || c.killed) continue;
    std::lock_guard<std::mutex> lk(mu_);
    auto it = last_record_ns_.find(c.pid);
    if (it == last_record_ns_.end() || now - it->second < limit) continue;
    if (Excused(it->second, now)) {
      it->second = now;  // a restart in between: give it another period
      continue;
    }
    ++interval_.lost;
    std::fprintf(stderr, "soak: LOST: client %d (%s) returned no call for %.0f s while lamd lived; killing it\n",
                 static_cast<int>(c.pid), RoleName(c.role), static_cast<double>(now - it->second) / kSec);
    ::kill(c.pid, SIGKILL);
    c.killed = true;
  }
}

int Soak::Run() {
  if (!Setup()) return 1;
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) return 1;
  rng_ = Rng(opt_.seed);
  const int n_clients = std::max(3, opt_.soak_clients);
  std::printf("- soak: %.2f min, model %s, %d clients (1 light, 1 flood, %d workers), restart every %.0f s, "
              "SIGKILL every %.1f s, seed %llu\n",
              opt_.soak_minutes, opt_.model_dir.c_str(), n_clients, n_clients - 2, opt_.soak_restart_every,
              opt_.soak_kill_every, static_cast<unsigned long long>(opt_.seed));
  std::printf("- pools: %u token sequences (%u tiny, up to %u tokens), %u texts; %d sequences per request at most; "
              "workers pause 0-%d ms between calls\n",
              pool_.n_tokens, pool_.n_tiny, pool_.max_len, pool_.n_texts, opt_.soak_max_seqs, 2 * opt_.soak_think_ms);
  std::printf("- growth limits per daemon instance after %.0f s: RSS baseline + max(32 MiB, 10%%), fds baseline + 16; "
              "/dev/shm entries <= %d (at start)\n",
              opt_.soak_warmup_sec, shm_start_);
  std::fflush(stdout);
  if (!StartDaemon()) {
    std::filesystem::remove_all(dir_);
    return 1;
  }
  start_ns_ = last_report_ns_ = shm::MonotonicNs();
  std::printf("\n| min | lamd | requests | ok | rows checked | errors by status | wrong | lost | unexpected | "
              "lamd RSS MiB | lamd fds | /dev/shm | light p50 / p99 ms | restarts / kills |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::fflush(stdout);
  std::thread reader([this] { ReaderLoop(); });
  children_.resize(static_cast<size_t>(n_clients));
  children_[0].role = kRoleLight;
  children_[1].role = kRoleFlood;
  for (size_t i = 0; i < children_.size(); ++i) SpawnChild(i);

  const int64_t end = start_ns_ + static_cast<int64_t>(opt_.soak_minutes * 60.0 * kSec);
  const int64_t kill_every = static_cast<int64_t>(opt_.soak_kill_every * kSec);
  const int64_t restart_every = static_cast<int64_t>(opt_.soak_restart_every * kSec);
  const int64_t report_every = static_cast<int64_t>(std::max(1.0, opt_.soak_report_every) * kSec);
  int64_t next_kill = start_ns_ + kill_every, next_restart = start_ns_ + restart_every;
  int64_t next_report = start_ns_ + report_every;
  for (int64_t now = shm::MonotonicNs(); now < end && lamd_ > 0 && g_interrupted.load() == 0;
       now = shm::MonotonicNs()) {
    Reap();
    Watchdog(now);
    if (kill_every > 0 && now >= next_kill) {
      // Workers mostly; the flooding client now and then; the light client never (its
      // latency series stays whole).
      const size_t slot = rng_.Range(0, 7) == 0 ? 1 : 2 + rng_.Range(0, static_cast<uint32_t>(children_.size() - 3));
      if (children_[slot].pid > 0 && !children_[slot].killed) {
        ::kill(children_[slot].pid, SIGKILL);
        children_[slot].killed = true;
        ++kills_;
      }
      next_kill += kill_every;
    }
    if (restart_every > 0 && now >= next_restart && end - now > 10 * kSec) {
      StopDaemon(true);
      next_restart = shm::MonotonicNs() + restart_every;
    }
    if (now >= next_report) {
      Report(now, false);
      next_report += report_every;
      if (next_report <= shm::MonotonicNs()) next_report = shm::MonotonicNs() + report_every;  // after a restart
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  if (const int sig = g_interrupted.load(); sig != 0) Fail("interrupted by signal " + std::to_string(sig));
  for (Child& c : children_) {
    if (c.pid <= 0) continue;
    ::kill(c.pid, SIGKILL);
    ::waitpid(c.pid, nullptr, 0);
    c.pid = -1;
  }
  stop_reader_.store(true);
  (void)!::write(wake_[1], "x", 1);
  reader.join();
  Report(shm::MonotonicNs(), true);
  StopDaemon(false);
  ::close(wake_[0]);
  ::close(wake_[1]);
  std::vector<std::string> names;
  if (const int shm = CountDir("/dev/shm", &names); shm != shm_start_) {
    std::string list;
    for (const auto& n : names) list += " " + n;
    Fail("/dev/shm holds " + std::to_string(shm) + " entries after the run, " + std::to_string(shm_start_) +
         " before:" + list);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);

  std::string errors;
  for (const auto& [k, v] : total_.errors) {
    if (!errors.empty()) errors += ", ";
    errors.append(StatusName(k)).append(" ").append(std::to_string(v));
  }
  std::printf("\n- total: %llu requests, %llu ok, %llu rows checked bitwise against the in-process engine; "
              "errors by status: %s\n",
              static_cast<unsigned long long>(total_.requests), static_cast<unsigned long long>(total_.ok),
              static_cast<unsigned long long>(total_.rows), errors.empty() ? "none" : errors.c_str());
  std::printf("- wrong %llu, lost %llu, unexpected %llu; %d restarts, %d SIGKILLs, %d client respawns; "
              "%d of %d lamd shutdowns cut in-flight work off at the 10 s shutdown timeout (exit 1)\n",
              static_cast<unsigned long long>(total_.wrong), static_cast<unsigned long long>(total_.lost),
              static_cast<unsigned long long>(total_.unexpected), restarts_, kills_, respawns_, cutoffs_,
              restarts_ + 1);
  std::printf("- light client (1 x 2-8 tokens every 50 ms): p50 %.2f ms, p99 %.2f ms over %zu calls\n",
              Pct(total_.light_ms, 0.5), Pct(total_.light_ms, 0.99), total_.light_ms.size());
  if (total_.wrong > 0) failures_.push_back(std::to_string(total_.wrong) + " wrong result(s)");
  if (total_.lost > 0) failures_.push_back(std::to_string(total_.lost) + " lost result(s)");
  if (total_.unexpected > 0) failures_.push_back(std::to_string(total_.unexpected) + " unexpected failure(s)");
  if (total_.ok == 0) failures_.push_back("no successful result at all");
  if (failures_.empty()) {
    std::printf("- verdict: PASS\n");
    return 0;
  }
  std::printf("- verdict: FAIL\n");
  for (const auto& f : failures_) std::printf("  - %s\n", f.c_str());
  return 1;
}

}  // namespace

int RunSoak(const BenchOptions& opt) {
  if (opt.model_dir.empty()) {
    std::fprintf(stderr, "lam-bench soak: --model DIR is required\n");
    return 2;
  }
  if (!(opt.soak_minutes > 0)) {
    std::fprintf(stderr, "lam-bench soak: --minutes must be > 0\n");
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  Soak s(opt);
  return s.Run();
}

}  // namespace lam::bench
