// SPDX-License-Identifier: MIT
// Counters behind `lamctl status` (JSON with schema_version; lamctl renders the INFO text).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "lam/lam_status.h"

namespace lam::server {

inline constexpr int kStatusSchemaVersion = 1;

struct Counters {
  std::atomic<uint64_t> connections_total{0};
  std::atomic<uint64_t> connections_rejected{0};
  std::atomic<uint64_t> protocol_errors{0};
  std::atomic<uint64_t> clients_disconnected_for_violations{0};
  std::atomic<uint64_t> cancelled_on_disconnect{0};
  std::atomic<uint64_t> nop_total{0};
  std::atomic<uint64_t> results_streamed{0};  // answers written after their completion (shm/stream.h)
  std::atomic<uint64_t> by_status[LAM_STATUS_LAST_] = {};
  // Control socket: refusals and what the callback boundaries caught (server.cpp, guard.h).
  std::atomic<uint64_t> refused_pending{0};   // over max-pending-*: refused at accept
  std::atomic<uint64_t> refused_quota{0};     // over max-sessions-per-uid / max-clients at hello
  std::atomic<uint64_t> hello_timeouts{0};    // closed for not saying hello in time
  std::atomic<uint64_t> admin_refused{0};     // cache warm|clear from a uid that is not an admin
  std::atomic<uint64_t> callback_errors{0};   // exceptions caught at a libuv callback or worker job
};

// What warmup did before the daemon reported ready.
struct WarmupInfo {
  std::vector<std::string> buckets;  // engine buckets compiled ("64x512")
  double total_seconds = 0;
  std::vector<std::string> steps;    // per bucket, in order: "64x512:compiled:12.3ms"
};

}  // namespace lam::server
