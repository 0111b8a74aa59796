// SPDX-License-Identifier: MIT
#include "fma_peak.h"

#include <immintrin.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace lam::bench {
namespace {

using Clock = std::chrono::steady_clock;

// 12 independent accumulators: enough to cover FMA latency (4 cycles) x 2 FMA ports with room
// to spare, so the loop is bound by FMA throughput alone. Multiplier just below 1 and a tiny
// addend keep the values finite and normal for any iteration count.
constexpr int kAccumulators = 12;
constexpr double kChunkSeconds = 0.001;
constexpr int kChunks = 200;

__attribute__((target("avx512f"))) double FmaLoopAvx512(uint64_t iters) {
  const __m512 m = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
  __m512 a0 = _mm512_set1_ps(1.0f), a1 = _mm512_set1_ps(1.1f), a2 = _mm512_set1_ps(1.2f),
         a3 = _mm512_set1_ps(1.3f), a4 = _mm512_set1_ps(1.4f), a5 = _mm512_set1_ps(1.5f),
         a6 = _mm512_set1_ps(1.6f), a7 = _mm512_set1_ps(1.7f), a8 = _mm512_set1_ps(1.8f),
         a9 = _mm512_set1_ps(1.9f), a10 = _mm512_set1_ps(2.0f), a11 = _mm512_set1_ps(2.1f);
  for (uint64_t i = 0; i < iters; ++i) {
    a0 = _mm512_fmadd_ps(a0, m, c);
    a1 = _mm512_fmadd_ps(a1, m, c);
    a2 = _mm512_fmadd_ps(a2, m, c);
    a3 = _mm512_fmadd_ps(a3, m, c);
    a4 = _mm512_fmadd_ps(a4, m, c);
    a5 = _mm512_fmadd_ps(a5, m, c);
    a6 = _mm512_fmadd_ps(a6, m, c);
    a7 = _mm512_fmadd_ps(a7, m, c);
    a8 = _mm512_fmadd_ps(a8, m, c);
    a9 = _mm512_fmadd_ps(a9, m, c);
    a10 = _mm512_fmadd_ps(a10, m, c);
    a11 = _mm512_fmadd_ps(a11, m, c);
  }
  const __m512 s = _mm512_add_ps(
      _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                    _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7))),
      _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  double sum = 0.0;
  for (float v : lanes) sum += v;
  return sum;
}

__attribute__((target("avx2,fma"))) double FmaLoopAvx2(uint64_t iters) {
  const __m256 m = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
  __m256 a0 = _mm256_set1_ps(1.0f), a1 = _mm256_set1_ps(1.1f), a2 = _mm256_set1_ps(1.2f),
         a3 = _mm256_set1_ps(1.3f), a4 = _mm256_set1_ps(1.4f), a5 = _mm256_set1_ps(1.5f),
         a6 = _mm256_set1_ps(1.6f), a7 = _mm256_set1_ps(1.7f), a8 = _mm256_set1_ps(1.8f),
         a9 = _mm256_set1_ps(1.9f), a10 = _mm256_set1_ps(2.0f), a11 = _mm256_set1_ps(2.1f);
  for (uint64_t i = 0; i < iters; ++i) {
    a0 = _mm256_fmadd_ps(a0, m, c);
    a1 = _mm256_fmadd_ps(a1, m, c);
    a2 = _mm256_fmadd_ps(a2, m, c);
    a3 = _mm256_fmadd_ps(a3, m, c);
    a4 = _mm256_fmadd_ps(a4, m, c);
    a5 = _mm256_fmadd_ps(a5, m, c);
    a6 = _mm256_fmadd_ps(a6, m, c);
    a7 = _mm256_fmadd_ps(a7, m, c);
    a8 = _mm256_fmadd_ps(a8, m, c);
    a9 = _mm256_fmadd_ps(a9, m, c);
    a10 = _mm256_fmadd_ps(a10, m, c);
    a11 = _mm256_fmadd_ps(a11, m, c);
  }
  const __m256 s = _mm256_add_ps(
      _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                    _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7))),
      _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, s);
  double sum = 0.0;
  for (float v : lanes) sum += v;
  return sum;
}

// Neither AVX2 nor AVX-512F: plain scalar multiply-adds (what the compiler makes of them).
double FmaLoopScalar(uint64_t iters) {
  float a[kAccumulators];
  for (int j = 0; j < kAccumulators; ++j) a[j] = 1.0f + 0.1f * static_cast<float>(j);
  for (uint64_t i = 0; i < iters; ++i) {
    for (float& x : a) x = x * 0.9999999f + 1e-7f;
  }
  double sum = 0.0;
  for (float x : a) sum += x;
  return sum;
}

struct Kernel {
  const char* isa;
  int lanes;
  double (*loop)(uint64_t);
};

// The widest kernel the CPU runs; LAM_BENCH_FMA_ISA=avx2|scalar caps it (to compare the ISAs, or
// to check a fallback on a machine that has AVX-512).
Kernel PickKernel() {
  __builtin_cpu_init();
  const char* cap = std::getenv("LAM_BENCH_FMA_ISA");
  const std::string limit = cap != nullptr ? cap : "";
  if (limit.empty() && __builtin_cpu_supports("avx512f")) return {"avx512f", 16, FmaLoopAvx512};
  if (limit != "scalar" && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return {"avx2+fma", 8, FmaLoopAvx2};
  }
  return {"scalar", 1, FmaLoopScalar};
}

std::vector<int> AllowedCpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
  }
  return cpus;
}

// All `cpus.size()` threads, each pinned to its CPU, start together and run `chunks` chunks of
// `iters` iterations. Each thread keeps the rate of its fastest chunk: a chunk that another
// process preempted is simply not the fastest, so the result does not depend on having the
// machine to oneself for the whole run, only for one chunk per core. Returns the sum of the
// threads' best rates (FLOP/s) while all of them were running.
double Measure(const Kernel& k, const std::vector<int>& cpus, uint64_t iters, int chunks) {
  const int n = static_cast<int>(cpus.size());
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<double> best(static_cast<size_t>(n), 0.0);
  std::vector<std::thread> team;
  const double flops_per_chunk = 2.0 * k.lanes * kAccumulators * static_cast<double>(iters);
  for (int t = 0; t < n; ++t) {
    team.emplace_back([&, t] {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpus[static_cast<size_t>(t)], &one);
      (void)pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) {
      }
      double b = 0.0;
      for (int c = 0; c < chunks; ++c) {
        const auto t0 = Clock::now();
        const double sum = k.loop(iters);
        const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
        // The sums are finite and positive by construction; using them keeps the loop alive.
        if (sum > 0.0 && secs > 0.0) b = std::max(b, flops_per_chunk / secs);
      }
      best[static_cast<size_t>(t)] = b;
    });
  }
  while (ready.load() < n) std::this_thread::yield();
  go.store(true, std::memory_order_release);
  for (auto& th : team) th.join();
  double total = 0.0;
  for (double b : best) total += b;
  return total;
}

}  // namespace

int UsableCpus() { return std::max<int>(1, static_cast<int>(AllowedCpus().size())); }

FmaPeak MeasureFmaPeak(int threads) {
  const Kernel k = PickKernel();
  std::vector<int> cpus = AllowedCpus();
  if (cpus.empty()) cpus.push_back(0);
  if (threads > 0 && static_cast<size_t>(threads) < cpus.size()) cpus.resize(static_cast<size_t>(threads));
  // Calibrate on one thread to ~1 ms per chunk (this also brings the core to its wide-vector
  // clock, which can take a few ms after idle).
  uint64_t iters = 1u << 12;
  for (;;) {
    const auto t0 = Clock::now();
    const double s = k.loop(iters);
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!(s > 0.0) || secs >= 0.004 || iters >= (uint64_t{1} << 34)) {
      iters = static_cast<uint64_t>(static_cast<double>(iters) * kChunkSeconds / std::max(secs, 1e-9));
      break;
    }
    iters *= 2;
  }
  iters = std::max<uint64_t>(iters, 256);
  double best = 0.0;
  if (threads == 1) {
    // One core: each core alone in turn, the best of them (another process may own one of them).
    for (int c : AllowedCpus()) best = std::max(best, Measure(k, {c}, iters, kChunks / 2));
  } else {
    best = Measure(k, cpus, iters, kChunks);
  }
  FmaPeak p;
  p.isa = k.isa;
  p.threads = threads == 1 ? 1 : static_cast<int>(cpus.size());
  p.gflops = best / 1e9;
  p.per_thread = p.gflops / p.threads;
  return p;
}

}  // namespace lam::bench
