// SPDX-License-Identifier: MIT
// lam-bench-fairness: a light client's text-request latency through a real lamd, alone and next
// to a flooding neighbour (issue 10, defect 6). For each lamd binary given (e.g. an old and a new
// build, measured in one run) it starts the daemon on a scratch socket and runs three scenes:
//   alone       the light client only: one 9-word sentence per request, one request at a time;
//   tiny flood  a neighbour keeps 64 one-sentence text requests in flight the whole time;
//   big flood   a neighbour submits 8 MiB text requests (8192 texts of 1 KiB) back to back.
// The light client makes --requests requests per scene (each with a 10 s timeout; a timed-out
// request counts as 10 s; a scene stops after 60 s) and the tool prints its p50/p99 in ms as a
// Markdown table.
//   lam-bench-fairness --model DIR --lamd PATH [--lamd PATH ...] [--requests N]
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "lam/lam.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

struct Texts {
  std::vector<std::string> texts;
  std::vector<const char*> ptrs;
  std::vector<size_t> lengths;
  Texts(size_t n, size_t bytes, uint64_t seed) {
    static const char* kWords[] = {"the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog",
                                   "while", "cats", "sleep", "in", "sunny", "gardens", "today"};
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    texts.resize(n);
    for (auto& t : texts) {
      while (t.size() < bytes) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        t += kWords[x % 16];
        t += ' ';
      }
    }
    for (const auto& t : texts) {
      ptrs.push_back(t.data());
      lengths.push_back(t.size());
    }
  }
  lam_embed_text_request Request(uint32_t timeout_ms) const {
    lam_embed_text_request r = LAM_EMBED_TEXT_REQUEST_INIT;
    r.texts = ptrs.data();
    r.lengths = lengths.data();
    r.n_texts = texts.size();
    r.timeout_ms = timeout_ms;
    return r;
  }
};

lam_client* Open(const std::string& socket, uint64_t arena) {
  lam_client_options o = LAM_CLIENT_OPTIONS_INIT;
  o.socket_path = socket.c_str();
  o.arena_bytes = arena;
  lam_client* c = nullptr;
  if (lam_client_open(&o, &c) != LAM_STATUS_OK) {
    std::fprintf(stderr, "lam-bench-fairness: open: %s\n", lam_client_last_error(c));
    lam_client_close(c);
    return nullptr;
  }
  return c;
}

double Pct(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

// The light client's latencies (ms) for `n` requests; a failed request counts as its timeout.
std::vector<double> Light(const std::string& socket, int n, int* failures) {
  std::vector<double> lat;
  lam_client* c = Open(socket, 0);
  if (c == nullptr) return lat;
  const Texts one(1, 48, 3);
  const lam_embed_text_request req = one.Request(10000);
  std::vector<float> out(4096);
  const auto start = Clock::now();
  for (int i = 0; i < n && Clock::now() - start < std::chrono::seconds(60); ++i) {
    size_t got = 0;
    const auto t0 = Clock::now();
    const lam_status st = lam_client_embed_text(c, &req, out.data(), out.size(), &got);
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (st != LAM_STATUS_OK) {
      ++*failures;
      ms = std::max(ms, 10000.0);
    }
    lat.push_back(ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  lam_client_close(c);
  return lat;
}

void TinyFlood(const std::string& socket, const std::atomic<bool>* stop) {
  lam_client* c = Open(socket, 0);
  if (c == nullptr) return;
  const Texts one(1, 48, 9);
  const lam_embed_text_request req = one.Request(LAM_TIMEOUT_INFINITE);
  std::vector<lam_ticket> window;
  std::vector<float> out(4096);
  while (!stop->load()) {
    while (window.size() < 64) {
      lam_ticket t = 0;
      if (lam_client_submit_text(c, &req, &t) != LAM_STATUS_OK) break;
      window.push_back(t);
    }
    if (window.empty()) break;
    size_t got = 0;
    lam_client_wait(c, window.front(), LAM_TIMEOUT_INFINITE, out.data(), out.size(), &got);
    window.erase(window.begin());
  }
  lam_client_close(c);  // the daemon drops what is still queued
}

void BigFlood(const std::string& socket, const std::atomic<bool>* stop) {
  lam_client* c = Open(socket, 128ull << 20);
  if (c == nullptr) return;
  static const Texts big(8192, 1024, 11);
  const lam_embed_text_request req = big.Request(LAM_TIMEOUT_INFINITE);
  std::vector<lam_ticket> window;
  while (!stop->load()) {
    while (window.size() < 2) {
      lam_ticket t = 0;
      if (lam_client_submit_text(c, &req, &t) != LAM_STATUS_OK) break;
      window.push_back(t);
    }
    if (window.empty()) break;
    if (lam_client_poll(c, window.front(), nullptr, 0, nullptr) != LAM_STATUS_PENDING) {
      window.erase(window.begin());
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  lam_client_close(c);
}

struct Daemon {
  pid_t pid = -1;
  bool Start(const std::string& lamd, const std::string& model, const std::string& socket) {
    ::unlink(socket.c_str());
    std::vector<std::string> args = {lamd, "--model", model, "--socket", socket, "--backend", "cpu",
                                     "--cache-dir", "none", "--log-level", "warning"};
    std::vector<char*> av;
    for (auto& a : args) av.push_back(a.data());
    av.push_back(nullptr);
    if (posix_spawn(&pid, av[0], nullptr, nullptr, av.data(), environ) != 0) return false;
    for (int i = 0; i < 6000; ++i) {
      lam_client_options o = LAM_CLIENT_OPTIONS_INIT;
      o.socket_path = socket.c_str();
      lam_client* c = nullptr;
      if (lam_client_open(&o, &c) == LAM_STATUS_OK) {
        lam_client_close(c);
        return true;
      }
      lam_client_close(c);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  ~Daemon() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);  // a daemon with minutes of flood queued is not drained
      ::waitpid(pid, nullptr, 0);
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string model;
  std::vector<std::string> daemons;
  int requests = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--model") {
      model = argv[i + 1];
    } else if (a == "--lamd") {
      daemons.push_back(argv[i + 1]);
    } else if (a == "--requests") {
      requests = std::atoi(argv[i + 1]);
    } else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (model.empty() || daemons.empty() || requests <= 0) {
    std::fprintf(stderr, "usage: lam-bench-fairness --model DIR --lamd PATH [--lamd PATH ...] [--requests N]\n");
    return 2;
  }
  const std::string socket = "/tmp/lam-bench-fairness-" + std::to_string(::getpid()) + ".sock";
  std::printf("| lamd | scene | light p50 ms | light p99 ms | light timeouts |\n|---|---|---|---|---|\n");
  for (const std::string& lamd : daemons) {
    const char* scenes[] = {"alone", "tiny flood", "big flood"};
    for (int scene = 0; scene < 3; ++scene) {
      Daemon d;  // a fresh daemon per scene: nothing left over from the previous flood
      if (!d.Start(lamd, model, socket)) {
        std::fprintf(stderr, "lam-bench-fairness: %s did not start\n", lamd.c_str());
        return 1;
      }
      std::atomic<bool> stop{false};
      std::thread flood;
      if (scene == 1) flood = std::thread(TinyFlood, socket, &stop);
      if (scene == 2) flood = std::thread(BigFlood, socket, &stop);
      if (scene != 0) std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // let it build up
      int failures = 0;
      const std::vector<double> lat = Light(socket, requests, &failures);
      stop.store(true);
      if (flood.joinable()) flood.join();
      std::printf("| %s | %s | %.1f | %.1f | %d/%zu |\n", lamd.c_str(), scenes[scene], Pct(lat, 0.50),
                  Pct(lat, 0.99), failures, lat.size());
      std::fflush(stdout);
    }
  }
  ::unlink(socket.c_str());
  return 0;
}
