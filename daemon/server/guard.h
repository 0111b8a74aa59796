// SPDX-License-Identifier: MIT
// The boundary of every libuv callback and worker job of the server (DESIGN.md invariant 7): no
// exception leaves it. What is caught is counted and logged (rate-limited, with the text escaped);
// the caller decides what to close. Also: text built from client bytes, made safe to log and to
// put into JSON.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

namespace lam::server {

// Lets one line through per interval and counts what it held back (thread-safe).
class LogLimiter {
 public:
  explicit LogLimiter(int64_t interval_ns = 1'000'000'000) : interval_ns_(interval_ns) {}
  // True when a line may be written now; *suppressed is then the number of lines held back since
  // the previous one.
  bool Allow(uint64_t* suppressed);

 private:
  std::mutex mu_;
  const int64_t interval_ns_;
  int64_t next_ns_ = 0;
  uint64_t suppressed_ = 0;
};

// Client bytes as printable ASCII: 0x20-0x7e pass (backslash doubled), everything else becomes
// \xNN. At most `max` input bytes are shown, then "...(N bytes)".
std::string EscapeClientBytes(std::string_view bytes, size_t max = 64);

// JSON text that cannot throw on strings that are not UTF-8 (they get U+FFFD).
template <typename Json>
std::string SafeDump(const Json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Counts (into *errors, may be null) and logs an exception caught at `site`. Never throws.
void ReportCaught(const char* site, const char* what, std::atomic<uint64_t>* errors) noexcept;

// Runs f(); an exception is reported (ReportCaught) and turned into `false`.
template <typename F>
bool Guarded(const char* site, std::atomic<uint64_t>* errors, F&& f) noexcept {
  try {
    std::forward<F>(f)();
    return true;
  } catch (const std::exception& e) {
    ReportCaught(site, e.what(), errors);
  } catch (...) {
    ReportCaught(site, "unknown exception", errors);
  }
  return false;
}

}  // namespace lam::server
