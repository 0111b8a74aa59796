// SPDX-License-Identifier: MIT
// A latency histogram with fixed bounds in seconds (Prometheus' `le` buckets): cheap to observe,
// copyable, not synchronised (the owner holds its own lock). `lamctl status` and `/metrics` show
// request, queue and batch latencies with it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace lam {

// Upper bounds of the finite buckets, in seconds; the last, implicit bucket is +Inf.
inline constexpr std::array<double, 16> kLatencyBoundsSeconds = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,   10.0};

struct LatencyHistogram {
  std::array<uint64_t, kLatencyBoundsSeconds.size() + 1> counts{};  // per bucket, not cumulative
  uint64_t count = 0;
  uint64_t sum_ns = 0;

  void Observe(int64_t ns) {
    if (ns < 0) ns = 0;
    const double s = static_cast<double>(ns) / 1e9;
    size_t i = 0;
    while (i < kLatencyBoundsSeconds.size() && s > kLatencyBoundsSeconds[i]) ++i;
    ++counts[i];
    ++count;
    sum_ns += static_cast<uint64_t>(ns);
  }
};

}  // namespace lam
