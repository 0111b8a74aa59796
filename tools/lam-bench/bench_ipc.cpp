// SPDX-License-Identifier: MIT
// lam-bench ipc: lamd's data plane measured side by side with its floors in one run.
//   (a) a new client process on a warm daemon (exec, connect, embed 16 tokens, exit) vs the
//       in-process path (`lamctl embed --model` per process) and a bare /bin/true spawn;
//   (b) ring round trips (NOP, no compute) with 1 and 64 client processes, and in polling mode,
//       vs a futex ping-pong and a Unix-socket echo between two processes;
//   (c) 64 x 384 floats handed to another process into the caller's buffer, shared memory vs a Unix
//       socket, each side doing what lamd and its client really do (see SocketHandoff);
//   (d) throughput at saturation (64 processes, 4 requests in flight each) vs the in-process engine;
//   (e) the resident memory liblamclient adds to a process (lam-bench-rss-client).
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench.h"
#include "engine/engine.h"
#include "shm/frame_io.h"
#include "shm/futex.h"
#include "shm/stream.h"

extern char** environ;

namespace lam::bench {
namespace {

std::string BinDir() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  return p.substr(0, p.rfind('/'));
}

double Pct(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

pid_t SpawnArgs(const std::vector<std::string>& args, int stdout_fd = -1, int stdin_fd = -1) {
  std::vector<char*> av;
  for (const auto& a : args) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (stdout_fd >= 0) posix_spawn_file_actions_adddup2(&fa, stdout_fd, 1);
  if (stdin_fd >= 0) posix_spawn_file_actions_adddup2(&fa, stdin_fd, 0);
  pid_t pid = -1;
  if (posix_spawn(&pid, av[0], &fa, nullptr, av.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

int Wait(pid_t pid) {
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

// Runs a process to completion; returns its wall time in microseconds (or -1 on failure).
// Wall time of one process run (us), or -1 if it failed. `stdout_text`, when given, gets what it
// printed (read after the clock stopped; a few lines fit the pipe).
double TimeProcess(const std::vector<std::string>& args, const std::string& stdin_text = "",
                   std::string* stdout_text = nullptr) {
  int in[2] = {-1, -1};
  int out[2] = {-1, -1};
  if (!stdin_text.empty() && ::pipe2(in, O_CLOEXEC) != 0) return -1;
  if (stdout_text != nullptr && ::pipe2(out, O_CLOEXEC) != 0) return -1;
  const int sink = stdout_text != nullptr ? out[1] : ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  const int64_t t0 = shm::MonotonicNs();
  const pid_t p = SpawnArgs(args, sink, in[0]);
  if (sink >= 0) ::close(sink);
  if (in[0] >= 0) {
    ::close(in[0]);
    (void)!::write(in[1], stdin_text.data(), stdin_text.size());
    ::close(in[1]);
  }
  const bool ok = p >= 0 && Wait(p) == 0;
  const int64_t t1 = shm::MonotonicNs();
  if (stdout_text != nullptr) {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(out[0], buf, sizeof(buf))) > 0) stdout_text->append(buf, static_cast<size_t>(n));
    ::close(out[0]);
  }
  return ok ? static_cast<double>(t1 - t0) / 1000.0 : -1;
}

// Starts `args`, returns its stdout once it exits.
struct Captured {
  pid_t pid;
  int fd;
};
Captured StartCapture(const std::vector<std::string>& args) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return {-1, -1};
  const pid_t pid = SpawnArgs(args, p[1]);
  ::close(p[1]);
  return {pid, p[0]};
}
std::string FinishCapture(Captured c, int* rc) {
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(c.fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(c.fd);
  *rc = Wait(c.pid);
  return out;
}

std::vector<double> ParseLatenciesUs(const std::string& text) {
  std::vector<double> v;
  const char* p = text.c_str();
  char* end;
  for (;;) {
    const long long ns = std::strtoll(p, &end, 10);
    if (end == p) break;
    v.push_back(static_cast<double>(ns) / 1000.0);
    p = end;
  }
  return v;
}

struct Lamd {
  pid_t pid = -1;
  std::string socket;
  bool Start(const std::string& model, const std::string& sock, std::vector<std::string> extra) {
    socket = sock;
    ::unlink(sock.c_str());
    std::vector<std::string> args = {BinDir() + "/lamd", "--model", model, "--socket", sock, "--log-level", "warning"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid = SpawnArgs(args);
    for (int i = 0; i < 6000 && pid > 0; ++i) {
      const int fd = shm::ConnectUnix(sock);
      if (fd >= 0) {
        ::close(fd);
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  ~Lamd() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      Wait(pid);
    }
  }
};

// Futex ping-pong and socket echo between two processes: round-trip latencies in us.
std::vector<double> FutexPingPong(int rounds) {
  auto* w = static_cast<std::atomic<uint32_t>*>(
      ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  new (&w[0]) std::atomic<uint32_t>(0);
  new (&w[16]) std::atomic<uint32_t>(0);
  const pid_t child = ::fork();
  if (child == 0) {
    for (uint32_t i = 1; i <= static_cast<uint32_t>(rounds); ++i) {
      while (w[0].load() < i) shm::FutexWait(&w[0], i - 1, -1);
      w[16].store(i);
      shm::FutexWakeAll(&w[16]);
    }
    _exit(0);
  }
  std::vector<double> lat;
  for (uint32_t i = 1; i <= static_cast<uint32_t>(rounds); ++i) {
    const int64_t t0 = shm::MonotonicNs();
    w[0].store(i);
    shm::FutexWakeAll(&w[0]);
    while (w[16].load() < i) shm::FutexWait(&w[16], i - 1, -1);
    lat.push_back(static_cast<double>(shm::MonotonicNs() - t0) / 1000.0);
  }
  Wait(child);
  ::munmap(w, 4096);
  return lat;
}

// 8-byte request, 8-byte reply over a socketpair: the socket floor for tiny round trips.
std::vector<double> SocketEcho(int rounds) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return {};
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(sv[0]);
    char b[8];
    for (int i = 0; i < rounds; ++i) {
      if (::recv(sv[1], b, 8, MSG_WAITALL) != 8) _exit(1);
      if (::send(sv[1], b, 8, 0) != 8) _exit(1);
    }
    _exit(0);
  }
  ::close(sv[1]);
  std::vector<double> lat;
  char in[8];
  for (int i = 0; i < rounds; ++i) {
    const int64_t t0 = shm::MonotonicNs();
    if (::send(sv[0], "pingping", 8, 0) != 8) break;
    if (::recv(sv[0], in, 8, MSG_WAITALL) != 8) break;
    lat.push_back(static_cast<double>(shm::MonotonicNs() - t0) / 1000.0);
  }
  ::close(sv[0]);
  Wait(child);
  return lat;
}

// (c) both ways, each doing what lamd and its client really do with a batch of results, so that
// neither side pays for work the other skips:
//   producer (the daemon): writes the results once; over shared memory into the arena, over a
//     socket into its local buffer, which it then send()s;
//   consumer (the client): ends with the results in the caller's buffer; over shared memory by
//     copying them out of the arena (lam_client_embed_tokens; behind the producer's progress when
//     streamed), over a socket by recv() straight into that buffer (no extra copy).
// The round trip starts with an 8-byte request (futex word / socket message) and ends when the
// caller's buffer holds the results.

// What the consumer does with the 64 rows once they arrived. kCopyOut: the synchronous API (the
// rows end in the caller's buffer). kScoreInPlace: the zero-copy API (lam_client_embed_tokens_
// result hands out a pointer into the arena) followed by what a caller typically does with
// embeddings, one dot product of every row with a query vector; the socket consumer runs the
// same pass over the buffer it received into.
enum class Consume { kCopyOut, kScoreInPlace };

// 64 dot products of 384 floats, 16 independent lanes (vectorised without reassociation).
float ScoreRows(const float* rows, size_t n_floats) {
  float total = 0.0f;
  for (size_t r = 0; r + 384 <= n_floats; r += 384) {
    float acc[16] = {};
    for (size_t i = 0; i < 384; i += 16) {
      for (size_t j = 0; j < 16; ++j) acc[j] += rows[r + i + j] * (0.001f * static_cast<float>(j + 1));
    }
    float dot = 0.0f;
    for (float a : acc) dot += a;
    total += dot;
  }
  return total;
}

// Checks that the caller's buffer got this round's results (the producer stamps the round number
// into the first float), so that neither path can skip its copy.
float Stamp(uint32_t round) { return static_cast<float>(round % (1u << 20)); }  // exact in a float
bool Delivered(const std::vector<float>& out, uint32_t round) {
  if (out[0] == Stamp(round)) return true;
  std::fprintf(stderr, "lam-bench ipc (c): round %u delivered stale data\n", round);
  return false;
}

// Where the two processes of a (c) measurement run: a CPU each, or -1 to leave a side to the
// scheduler. Pinned to different cores is lamd's intended case (daemon and client each on their
// own core) and is stable from run to run; left to the scheduler, the wake-up often lands on the
// waker's core, where the bytes are still in its L2, and the result swings with the load.
struct Placement {
  int producer = -1;
  int consumer = -1;
};

void PinSelf(int cpu) {
  if (cpu < 0) return;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  (void)::sched_setaffinity(0, sizeof(one), &one);
}

// Pins the calling (consumer) thread for a measurement; restores its CPU mask afterwards.
class ConsumerPin {
 public:
  explicit ConsumerPin(int cpu) : active_(cpu >= 0 && ::sched_getaffinity(0, sizeof(saved_), &saved_) == 0) {
    if (active_) PinSelf(cpu);
  }
  ~ConsumerPin() {
    if (active_) (void)::sched_setaffinity(0, sizeof(saved_), &saved_);
  }
  ConsumerPin(const ConsumerPin&) = delete;
  ConsumerPin& operator=(const ConsumerPin&) = delete;

 private:
  cpu_set_t saved_{};
  bool active_;
};

// Two different CPUs this process may run on, or {-1, -1} when there is only one.
Placement CrossCore() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (::sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE && cpus.size() < 2; ++c) {
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
  }
  if (cpus.size() < 2) return {};
  return {cpus[1], cpus[0]};
}

std::vector<double> SocketHandoff(int rounds, size_t bytes, Placement where, Consume how = Consume::kCopyOut) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return {};
  // Room for a whole batch in flight, as lamd would configure a results socket.
  int sz = static_cast<int>(bytes * 2);
  ::setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
  ::setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
  const pid_t child = ::fork();
  if (child == 0) {
    PinSelf(where.producer);
    ::close(sv[0]);
    std::vector<float> results(bytes / 4, 0.5f), local(bytes / 4);
    char b[8];
    for (uint32_t i = 1; i <= static_cast<uint32_t>(rounds); ++i) {
      if (::recv(sv[1], b, 8, MSG_WAITALL) != 8) _exit(1);
      results[0] = Stamp(i);
      std::memcpy(local.data(), results.data(), bytes);  // the daemon writes its results once
      const char* p = reinterpret_cast<const char*>(local.data());
      size_t off = 0;
      while (off < bytes) {
        const ssize_t n = ::send(sv[1], p + off, bytes - off, 0);
        if (n <= 0) _exit(1);
        off += static_cast<size_t>(n);
      }
    }
    _exit(0);
  }
  ::close(sv[1]);
  ConsumerPin pin(where.consumer);
  std::vector<double> lat;
  std::vector<float> out(bytes / 4);  // the caller's buffer
  volatile float sink = 0.0f;
  for (uint32_t i = 1; i <= static_cast<uint32_t>(rounds); ++i) {
    const int64_t t0 = shm::MonotonicNs();
    if (::send(sv[0], "pingping", 8, 0) != 8) break;
    if (::recv(sv[0], out.data(), bytes, MSG_WAITALL) != static_cast<ssize_t>(bytes)) break;
    if (how == Consume::kScoreInPlace) sink = sink + ScoreRows(out.data(), bytes / 4);
    const int64_t t1 = shm::MonotonicNs();
    if (!Delivered(out, i)) break;
    lat.push_back(static_cast<double>(t1 - t0) / 1000.0);
  }
  ::close(sv[0]);
  Wait(child);
  return lat;
}

// How the shared-memory producer hands a large output over: kStreamed is lamd's path for a client
// speaking shm minor >= 2 (shm/stream.h); kWrittenFirst writes all rows, then publishes and wakes
// (lamd's path for small outputs and older clients).
enum class Handover { kStreamed, kWrittenFirst };

std::vector<double> ShmHandoff(int rounds, size_t bytes, Placement where, Consume how = Consume::kCopyOut,
                               Handover handover = Handover::kStreamed) {
  const size_t total = 4096 + bytes;
  char* mem = static_cast<char*>(::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  auto* req = new (mem) std::atomic<uint32_t>(0);
  auto* rsp = new (mem + 64) std::atomic<uint32_t>(0);
  auto* progress = new (mem + 128) std::atomic<uint64_t>(shm::kStreamInitial);
  float* arena = reinterpret_cast<float*>(mem + 4096);
  const pid_t child = ::fork();
  if (child == 0) {
    PinSelf(where.producer);
    std::vector<float> results(bytes / 4, 0.5f);
    for (uint32_t i = 1; i <= static_cast<uint32_t>(rounds); ++i) {
      while (req->load() < i) shm::FutexWait(req, i - 1, -1);
      results[0] = Stamp(i);
      // As ClientSession::Complete does: the results are written once, into the arena; a large
      // output is announced, published and woken first and written after (streamed).
      if (handover == Handover::kWrittenFirst) {
        std::memcpy(arena, results.data(), bytes);
        rsp->store(i);
        shm::FutexWakeAll(rsp);
        continue;
      }
      shm::BeginStream(progress, i);
      rsp->store(i);
      shm::FutexWakeAll(rsp);
      shm::StreamRows(progress, i, arena, results.data(), bytes / 4);
    }
    _exit(0);
  }
  ConsumerPin pin(where.consumer);
  std::vector<double> lat;
  std::vector<float> out(bytes / 4);  // the caller's buffer
  volatile float sink = 0.0f;
  for (uint32_t i = 1; i <= static_cast<uint32_t>(rounds); ++i) {
    const int64_t t0 = shm::MonotonicNs();
    req->store(i);
    shm::FutexWakeAll(req);
    while (rsp->load() < i) shm::FutexWait(rsp, i - 1, -1);
    // As liblamclient does (Client::AwaitOutputLocked): follow the daemon's progress.
    if (how == Consume::kCopyOut) {
      // lam_client_embed_tokens: arena -> caller's buffer, chunk by chunk behind the producer.
      shm::CopyStreamed(progress, i, out.data(), arena, bytes / 4, [] { return true; });
    } else {
      // lam_client_embed_tokens_result: the pointer is handed out once the rows are complete.
      shm::WaitStreamed(progress, i, bytes / 4, [] { return true; });
      sink = sink + ScoreRows(arena, bytes / 4);
      out[0] = arena[0];  // for the stale-data check only
    }
    const int64_t t1 = shm::MonotonicNs();
    if (!Delivered(out, i)) break;
    lat.push_back(static_cast<double>(t1 - t0) / 1000.0);
  }
  Wait(child);
  ::munmap(mem, total);
  return lat;
}

// The 16 ids lam-bench-ipc-client sends in its cold and load modes ([CLS] ... [SEP]).
std::vector<int32_t> ClientIds16() {
  std::vector<int32_t> ids(16);
  for (int i = 0; i < 16; ++i) ids[static_cast<size_t>(i)] = 1000 + i * 7;
  ids.front() = 101;
  ids.back() = 102;
  return ids;
}

// Says on stderr which part runs now and starts its table (latency columns unless given).
BenchTable Section(const char* progress, const std::string& title,
                   std::vector<std::string> columns = {"path", "n", "p50 us", "p99 us", "note"}) {
  std::fprintf(stderr, "lam-bench ipc: %s\n", progress);
  BenchTable t;
  t.title = title;
  t.columns = std::move(columns);
  return t;
}

std::vector<std::string> Row(const std::string& what, const std::vector<double>& us, const std::string& note) {
  return {what, std::to_string(us.size()), Fixed(Pct(us, 0.5), 1), Fixed(Pct(us, 0.99), 1), note};
}

}  // namespace

int RunIpcBench(const BenchOptions& opt, std::vector<BenchTable>* out) {
  if (opt.model_dir.empty()) {
    std::fprintf(stderr, "lam-bench ipc: --model DIR is required (lamd serves it)\n");
    return 2;
  }
  const std::string client = BinDir() + "/lam-bench-ipc-client";
  const std::string dir = "/tmp/lam-bench-ipc-" + std::to_string(::getpid());
  if (std::system(("mkdir -p '" + dir + "'").c_str()) != 0) return 1;
  Lamd lamd;
  if (!lamd.Start(opt.model_dir, dir + "/lamd.sock", {"--backend", opt.backend})) {
    std::fprintf(stderr, "lam-bench ipc: lamd did not start\n");
    return 1;
  }
  const int r = std::max(1, opt.repetitions);

  // (a) cold start.
  BenchTable cold =
      Section("(a) cold start.", "IPC (a): new process, embed one 16-token sentence, exit (wall time per process)");
  cold.facts.emplace_back("backend", opt.backend + " (lamd, the in-process engine and lamctl embed --model alike)");
  // The process rows are interleaved so that a change in the machine's load hits them alike.
  std::vector<double> spawn_true, load_only, open_close, via_daemon, in_process;
  // Per cold process: the daemon's own compute for its request (compute_us of the completion)
  // and the process's wall time less that compute.
  std::vector<double> daemon_compute, beyond_compute;
  for (int i = 0; i < 20 * r; ++i) {
    spawn_true.push_back(TimeProcess({"/bin/true"}));
    const double load = TimeProcess({client, "exit", lamd.socket});
    const double open = TimeProcess({client, "ping", lamd.socket, "0"});
    std::string reported;
    const double us = TimeProcess({client, "cold", lamd.socket}, "", &reported);
    const double compute_us = std::strtod(reported.c_str(), nullptr);
    if (load < 0 || open < 0 || us < 0 || compute_us <= 0) {
      std::fprintf(stderr, "lam-bench ipc: client process failed\n");
      return 1;
    }
    load_only.push_back(load);
    open_close.push_back(open);
    via_daemon.push_back(us);
    daemon_compute.push_back(compute_us);
    beyond_compute.push_back(us - compute_us);
  }
  int open_rc = 0;
  const auto open_warm =
      ParseLatenciesUs(FinishCapture(StartCapture({client, "open", lamd.socket, std::to_string(200 * r)}), &open_rc));
  // The daemon's compute for the cold request: the same 16 ids through the in-process engine.
  const std::vector<int32_t> cold_ids = ClientIds16();
  std::vector<double> compute;
  {
    engine::EngineOptions eo;
    eo.backend = opt.backend;
    auto eng = engine::Engine::Open(opt.model_dir, eo);
    if (eng.ok() && opt.backend == "cuda" && std::string((*eng)->backend_name()) != "cuda") {
      std::fprintf(stderr, "lam-bench ipc --backend cuda: the CUDA backend cannot serve here (see the log above)\n");
      return 1;
    }
    if (eng.ok()) {
      const engine::TokenSpan one{cold_ids.data(), cold_ids.size()};
      std::vector<float> o(static_cast<size_t>((*eng)->info().embedding_dim));
      (void)(*eng)->Embed({&one, 1}, o.data());
      for (int i = 0; i < 20 * r; ++i) {
        const int64_t t0 = shm::MonotonicNs();
        if (!(*eng)->Embed({&one, 1}, o.data()).ok()) break;
        compute.push_back(static_cast<double>(shm::MonotonicNs() - t0) / 1000.0);
      }
    }
  }
  std::string line;
  for (int32_t id : cold_ids) line += (line.empty() ? "[" : ", ") + std::to_string(id);
  line += "]\n";
  for (int i = 0; i < std::max(2, r); ++i) {
    const double us = TimeProcess({BinDir() + "/lamctl", "embed", "--model", opt.model_dir, "--backend", opt.backend}, line);
    if (us >= 0) in_process.push_back(us);
  }
  cold.rows.push_back(Row("spawn /bin/true", spawn_true, "process floor"));
  cold.rows.push_back(Row("new process, load liblamclient, exit", load_only, "exec + dynamic loading, no connect"));
  cold.rows.push_back(Row("new process, open + close, no request", open_close, "exec + connect + hello + map + exit"));
  cold.rows.push_back(Row("lamd client (liblamclient)", via_daemon, "exec + connect + hello + embed + exit"));
  cold.rows.push_back(Row("  its daemon's compute (compute_us)", daemon_compute,
                          "what lamd reports for each cold request (lam_client_get_stats)"));
  cold.rows.push_back(Row("  lamd client less its daemon's compute", beyond_compute,
                          "per process: wall time - compute_us"));
  cold.rows.push_back(Row("lam_client_open + close in a running process", open_warm,
                          "connect + hello + map, no exec (daemon's per-connection set-up)"));
  cold.rows.push_back(Row("in-process engine, the same 1 x 16 embed", compute, "the daemon's compute for the request"));
  cold.rows.push_back(Row("in-process (lamctl embed --model)", in_process, "load + compile + embed per process"));
  const double spawn50 = Pct(spawn_true, 0.5);
  cold.notes.push_back("daemon path above bare spawn: p50 " + Fixed(Pct(via_daemon, 0.5) - spawn50, 1) +
                       " us; above bare spawn + the daemon's own compute: p50 " +
                       Fixed(Pct(beyond_compute, 0.5) - spawn50, 1) + " us (target <= 300; " +
                       Fixed(Pct(via_daemon, 0.5) - spawn50 - Pct(compute, 0.5), 1) +
                       " us counting the in-process engine's back-to-back time as the compute), of which " +
                       "loading liblamclient " + Fixed(Pct(load_only, 0.5) - spawn50, 1) +
                       " us and connect + hello + map " + Fixed(Pct(open_close, 0.5) - Pct(load_only, 0.5), 1) +
                       " us; in-process / daemon p50 = " +
                       Fixed(Pct(in_process, 0.5) / std::max(1.0, Pct(via_daemon, 0.5)), 1) + "x");
  cold.notes.push_back(
      "Rows 1-4 interleaved per iteration. Above spawn + compute = p50 of (lamd client wall time - the compute_us "
      "lamd reported for that very request) - p50 spawn; the in-process engine row is the same 1 x 16 embed back "
      "to back in this process, for comparison (a request arriving at an idle daemon finds less of the weights "
      "in cache). It includes the daemon's wake-ups (a lone request on an idle daemon does not wait for batch mates: "
      "--dispatch-lone-requests, on by default) and the ring round trip, besides the client's own cost (the two rows above it).");
  out->push_back(cold);

  // (b) round trips.
  BenchTable rt = Section("(b) round trips.",
                          "IPC (b): round trip of a tiny request (ring NOP, no compute) vs two-process floors");
  const auto fut = FutexPingPong(5000 * r);
  const auto echo = SocketEcho(5000 * r);
  int rc = 0;
  auto one = StartCapture({client, "ping", lamd.socket, std::to_string(5000 * r)});
  const auto ring1 = ParseLatenciesUs(FinishCapture(one, &rc));
  std::vector<Captured> many;
  for (int i = 0; i < 64; ++i) many.push_back(StartCapture({client, "ping", lamd.socket, std::to_string(200 * r)}));
  std::vector<double> ring64;
  for (auto& c : many) {
    const auto v = ParseLatenciesUs(FinishCapture(c, &rc));
    ring64.insert(ring64.end(), v.begin(), v.end());
  }
  std::vector<double> ringpoll;
  {
    Lamd polling;
    if (polling.Start(opt.model_dir, dir + "/poll.sock", {"--polling-us", "2000", "--backend", opt.backend})) {
      auto p = StartCapture({client, "ping", polling.socket, std::to_string(5000 * r)});
      ringpoll = ParseLatenciesUs(FinishCapture(p, &rc));
    }
  }
  rt.rows.push_back(Row("futex ping-pong (2 processes)", fut, "floor for blocking wake-ups"));
  rt.rows.push_back(Row("Unix socket echo (2 processes)", echo, "8-byte messages"));
  rt.rows.push_back(Row("lamd ring, 1 client process", ring1, "lam_client_ping"));
  rt.rows.push_back(Row("lamd ring, 64 client processes", ring64, "all at once, 2 cores"));
  rt.rows.push_back(Row("lamd ring, polling mode, 1 client", ringpoll, "--polling-us 2000"));
  rt.notes.push_back("ring p50 / futex p50 = " + Fixed(Pct(ring1, 0.5) / std::max(0.001, Pct(fut, 0.5)), 2) + "x");
  out->push_back(rt);

  // (c) 64 x 384 floats.
  BenchTable bulk = Section("(c) 64 x 384 floats.",
                            "IPC (c): 64 x 384 floats (98304 bytes) handed to another process, into the caller's buffer");
  const size_t bytes = 64 * 384 * 4;
  const Placement cross = CrossCore();
  // Ten interleaved blocks of 200 rounds per path, so that a change in the machine's load hits
  // every path alike instead of one whole row.
  std::vector<double> shm_h, sock_h, shm_free, sock_free, shm_zc, shm_first, sock_sc;
  auto add = [](std::vector<double>* all, const std::vector<double>& block) {
    all->insert(all->end(), block.begin(), block.end());
  };
  for (int block = 0; block < 10; ++block) {
    const int n = 200 * r;
    add(&shm_h, ShmHandoff(n, bytes, cross));
    add(&sock_h, SocketHandoff(n, bytes, cross));
    add(&shm_free, ShmHandoff(n, bytes, {}));
    add(&sock_free, SocketHandoff(n, bytes, {}));
    add(&shm_zc, ShmHandoff(n, bytes, cross, Consume::kScoreInPlace));
    add(&shm_first, ShmHandoff(n, bytes, cross, Consume::kCopyOut, Handover::kWrittenFirst));
    add(&sock_sc, SocketHandoff(n, bytes, cross, Consume::kScoreInPlace));
  }
  const std::string where = cross.producer >= 0 ? "producer on CPU " + std::to_string(cross.producer) +
                                                      ", consumer on CPU " + std::to_string(cross.consumer)
                                                : "one CPU only: not pinned";
  bulk.rows.push_back(Row("shared memory + futex (lamd's path), different cores", shm_h,
                          "producer wakes the consumer, then streams the rows into the arena (8 KiB chunks, "
                          "shm/stream.h); consumer copies arena -> caller's buffer behind it; " + where));
  bulk.rows.push_back(Row("Unix socket, different cores", sock_h,
                          "producer writes a local buffer, send(); consumer recv() into caller's buffer; " + where));
  bulk.rows.push_back(Row("shared memory + futex, placed by the scheduler", shm_free, "as above, not pinned"));
  bulk.rows.push_back(Row("Unix socket, placed by the scheduler", sock_free, "as above, not pinned"));
  bulk.rows.push_back(Row("shared memory + futex, rows written before the wake, different cores", shm_first,
                          "the hand-over before streaming (shm minor < 2): write all rows, then publish and wake"));
  bulk.rows.push_back(Row("shared memory, zero-copy + 64 dot products in place, different cores", shm_zc,
                          "lam_client_embed_tokens_result: the caller scores the rows where they lie in the arena"));
  bulk.rows.push_back(Row("Unix socket + the same 64 dot products, different cores", sock_sc,
                          "recv() into the caller's buffer, then the same pass over it"));
  bulk.notes.push_back("socket / shm p50 = " + Fixed(Pct(sock_h, 0.5) / std::max(0.001, Pct(shm_h, 0.5)), 2) +
                       "x on different cores; " +
                       Fixed(Pct(sock_free, 0.5) / std::max(0.001, Pct(shm_free, 0.5)), 2) +
                       "x placed by the scheduler (copy-out API); " +
                       Fixed(Pct(sock_sc, 0.5) / std::max(0.001, Pct(shm_zc, 0.5)), 2) +
                       "x zero-copy API with the rows scored, on different cores; streaming gains " +
                       Fixed(Pct(shm_first, 0.5) / std::max(0.001, Pct(shm_h, 0.5)), 2) + "x over writing first");
  bulk.notes.push_back(
      "Method: one round = 8-byte request (futex wake / socket message) until the results are in the caller's "
      "buffer. Both producers write the results once per round (shm: into the shared arena; socket: into a local "
      "buffer that is then sent); both consumers end with them in the caller's buffer, as liblamclient's "
      "lam_client_embed_tokens does (one copy out of the arena, following the daemon's progress word) and as a "
      "socket client would (recv() straight into the buffer, no extra copy). Both sides run lamd's own code: "
      "shm::BeginStream/StreamRows (ClientSession::Complete) and shm::CopyStreamed/WaitStreamed "
      "(Client::AwaitOutputLocked). In the copy-out rows nothing is read beyond that copy; the zero-copy rows "
      "add what a caller does with embeddings (a dot product of each row with a query), over the arena in place "
      "(lam_client_embed_tokens_result) and over the received buffer respectively. The first float "
      "carries the round number and is checked after the clock stops. The paths run interleaved, ten blocks of "
      "200 rounds each (a new process pair per block). Different cores (each process pinned) is "
      "lamd's intended case and stable between runs; placed by the scheduler, a wake-up often lands on the "
      "producer's core, where the bytes are still in its cache, so those rows swing with the machine's load.");
  out->push_back(bulk);

  // (d) saturation.
  BenchTable sat = Section("(d) saturation.", "IPC (d): throughput at saturation, 1 x 16-token requests",
                           {"path", "processes", "sequences/s", "tokens/s", "note"});
  const double secs = 3.0 * r;
  std::vector<Captured> loaders;
  for (int i = 0; i < 64; ++i) {
    loaders.push_back(StartCapture({client, "load", lamd.socket, Fixed(secs, 1), "16"}));
  }
  long total = 0;
  for (auto& c : loaders) total += std::atol(FinishCapture(c, &rc).c_str());
  const double daemon_rate = static_cast<double>(total) / secs;
  double engine_rate = 0;
  {
    engine::EngineOptions eo;
    eo.backend = opt.backend;
    auto eng = engine::Engine::Open(opt.model_dir, eo);
    if (eng.ok()) {
      const std::vector<int32_t> ids = ClientIds16();
      std::vector<engine::TokenSpan> batch(64, engine::TokenSpan{ids.data(), ids.size()});
      std::vector<float> o(64 * 384);
      (void)(*eng)->Embed(batch, o.data());
      long n = 0;
      const int64_t t0 = shm::MonotonicNs();
      while (shm::MonotonicNs() - t0 < static_cast<int64_t>(secs * 1e9)) {
        if (!(*eng)->Embed(batch, o.data()).ok()) break;
        n += 64;
      }
      engine_rate = static_cast<double>(n) / (static_cast<double>(shm::MonotonicNs() - t0) / 1e9);
    }
  }
  sat.rows.push_back({"lamd, 64 client processes x 4 in flight", "64", Fixed(daemon_rate, 0), Fixed(daemon_rate * 16, 0),
                      "dynamic batching across clients"});
  sat.rows.push_back({"in-process engine, batches of 64", "1", Fixed(engine_rate, 0), Fixed(engine_rate * 16, 0),
                      "upper bound: no IPC, perfect batches"});
  out->push_back(sat);

  // (e) memory.
  BenchTable mem = Section("(e) client memory.", "IPC (e): resident memory liblamclient adds to a process",
                           {"step", "RSS added KiB", "file KiB", "anon KiB", "shmem KiB"});
  std::string lib = BinDir() + "/../lib/liblamclient.so";
  if (::access(lib.c_str(), R_OK) != 0) lib = "liblamclient.so.0";  // the dynamic loader's search path
  int mem_rc = 0;
  const std::string steps =
      FinishCapture(StartCapture({BinDir() + "/lam-bench-rss-client", lib, lamd.socket}), &mem_rc);
  long base[4] = {0, 0, 0, 0};
  long peak = 0;
  for (size_t at = 0; mem_rc == 0 && at < steps.size();) {
    const size_t eol = steps.find('\n', at);
    char step[32];
    long kib[4];
    if (std::sscanf(steps.c_str() + at, "%31s %ld %ld %ld %ld", step, &kib[0], &kib[1], &kib[2], &kib[3]) == 5) {
      if (std::string(step) == "start") std::copy(kib, kib + 4, base);
      peak = std::max(peak, kib[0] - base[0]);
      mem.rows.push_back({step, std::to_string(kib[0] - base[0]), std::to_string(kib[1] - base[1]),
                          std::to_string(kib[2] - base[2]), std::to_string(kib[3] - base[3])});
    }
    at = eol == std::string::npos ? steps.size() : eol + 1;
  }
  if (mem_rc != 0 || mem.rows.empty()) {
    std::fprintf(stderr, "lam-bench ipc: the memory client failed\n");
    return 1;
  }
  mem.notes.push_back("peak RSS added: " + std::to_string(peak) + " KiB (target <= 4096 KiB)");
  mem.notes.push_back(
      "Method: a process that is not linked against liblamclient reads VmRSS (and RssFile / RssAnon / RssShmem) "
      "from /proc/self/status, dlopens the library and reads them again after each step: loaded, "
      "lam_client_open (segment mapped), an embed of 1 x 16 tokens, one of 64 x 16 (a streamed answer), "
      "lam_client_close. Shared-memory pages count once touched; the default 16 MiB arena is mapped but only the "
      "pages a request uses become resident.");
  out->push_back(mem);
  (void)!std::system(("rm -rf '" + dir + "'").c_str());
  return 0;
}

}  // namespace lam::bench
