// SPDX-License-Identifier: MIT
// The machine's measured fp32 FMA peak: the roof of every GEMM rate lam-bench reports. A loop of
// independent vector FMAs (no loads, no dependency chains beyond what the FMA units pipeline) per
// thread, one thread pinned to each CPU it may run on.
#pragma once

#include <string>

namespace lam::bench {

struct FmaPeak {
  std::string isa;          // "avx512f" or "avx2+fma" (or "scalar" on neither)
  int threads = 0;          // threads run at once, one pinned per CPU
  double gflops = 0.0;      // total fp32 GFLOP/s of all threads (1 FMA = 2 FLOPs)
  double per_thread = 0.0;  // gflops / threads
};

// Measures the peak with `threads` threads running at once (0 = one per CPU in the affinity
// mask; more than that is capped to it): per thread the best of many ~1 ms chunks, so another
// process on the machine lowers the result only if it preempts every chunk. threads == 1 runs on
// each CPU in turn and keeps the best.
FmaPeak MeasureFmaPeak(int threads);

// CPUs this process may run on (sched_getaffinity), at least 1.
int UsableCpus();

}  // namespace lam::bench
