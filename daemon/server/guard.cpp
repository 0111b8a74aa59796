// SPDX-License-Identifier: MIT
#include "server/guard.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "server/logging.h"
#include "shm/frame_io.h"

namespace lam::server {

bool LogLimiter::Allow(uint64_t* suppressed) {
  const int64_t now = shm::MonotonicNs();
  std::lock_guard<std::mutex> lock(mu_);
  if (now < next_ns_) {
    ++suppressed_;
    return false;
  }
  next_ns_ = now + interval_ns_;
  *suppressed = suppressed_;
  suppressed_ = 0;
  return true;
}

std::string EscapeClientBytes(std::string_view bytes, size_t max) {
  std::string out;
  const size_t n = std::min(bytes.size(), max);
  out.reserve(n + 16);
  for (size_t i = 0; i < n; ++i) {
    const auto ch = static_cast<unsigned char>(bytes[i]);
    if (ch == '\\') {
      out += "\\\\";
    } else if (ch >= 0x20 && ch < 0x7f) {
      out += static_cast<char>(ch);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof(hex), "\\x%02x", ch);
      out += hex;
    }
  }
  if (bytes.size() > n) out += "...(" + std::to_string(bytes.size()) + " bytes)";
  return out;
}

void ReportCaught(const char* site, const char* what, std::atomic<uint64_t>* errors) noexcept {
  if (errors != nullptr) errors->fetch_add(1, std::memory_order_relaxed);
  static LogLimiter limiter;
  try {
    uint64_t suppressed = 0;
    if (!limiter.Allow(&suppressed)) return;
    static const auto log = Logger("server");
    log->error("{}: exception caught at the callback boundary: {} ({} more not logged)", site,
               EscapeClientBytes(what, 256), suppressed);
  } catch (...) {
    // Nothing can be logged; the count above stays.
  }
}

}  // namespace lam::server
