// SPDX-License-Identifier: MIT
#include "log.h"

#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace lam::client {
namespace {

struct LogState {
  lam_log_callback fn = nullptr;
  void* user = nullptr;
  std::atomic<int> level{LAM_LOG_OFF};  // effective: the callback's, or the environment's
  int env_level = -1;                   // LAM_LOG_LEVEL, -1 if unset
  FILE* file = nullptr;                 // LAM_LOG_FILE (or stderr when only the level is set)
  std::once_flag env_once;
  std::mutex file_mu;
};

LogState& State() {
  static LogState s;
  return s;
}

int ParseLevel(const char* v) {
  static const struct {
    const char* name;
    lam_log_level level;
  } kNames[] = {{"off", LAM_LOG_OFF},       {"error", LAM_LOG_ERROR}, {"warning", LAM_LOG_WARNING},
                {"warn", LAM_LOG_WARNING},  {"info", LAM_LOG_INFO},   {"debug", LAM_LOG_DEBUG},
                {"trace", LAM_LOG_DEBUG}};
  for (const auto& n : kNames) {
    if (strcasecmp(v, n.name) == 0) return n.level;
  }
  return -1;
}

const char* LevelName(lam_log_level l) {
  switch (l) {
    case LAM_LOG_ERROR:
      return "error";
    case LAM_LOG_WARNING:
      return "warning";
    case LAM_LOG_INFO:
      return "info";
    case LAM_LOG_DEBUG:
      return "debug";
    default:
      return "off";
  }
}

// Reads the environment once; from then on it wins over the callback's level.
void ReadEnvironment(LogState& s) {
  std::call_once(s.env_once, [&s] {
    const char* lv = std::getenv("LAM_LOG_LEVEL");
    const char* file = std::getenv("LAM_LOG_FILE");
    if (lv != nullptr && *lv != '\0') s.env_level = ParseLevel(lv);
    if (file != nullptr && *file != '\0') {
      s.file = std::strcmp(file, "stderr") == 0 ? stderr : std::fopen(file, "ae");
    } else if (s.env_level > LAM_LOG_OFF && s.fn == nullptr) {
      s.file = stderr;  // a level asked for with nowhere to go: the usual place
    }
    if (s.env_level >= 0) s.level.store(s.env_level);
  });
}

}  // namespace

void SetLogCallback(lam_log_callback fn, lam_log_level max_level, void* user_data) {
  LogState& s = State();
  s.fn = fn;
  s.user = user_data;
  if (s.env_level < 0) s.level.store(fn != nullptr ? max_level : LAM_LOG_OFF);
}

bool LogEnabled(lam_log_level level) {
  LogState& s = State();
  ReadEnvironment(s);
  return level != LAM_LOG_OFF && static_cast<int>(level) <= s.level.load(std::memory_order_relaxed);
}

void Log(lam_log_level level, const char* fmt, ...) {
  if (!LogEnabled(level)) return;
  LogState& s = State();
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (s.fn != nullptr) s.fn(level, msg, s.user);
  if (s.file != nullptr) {
    std::lock_guard<std::mutex> lock(s.file_mu);
    std::fprintf(s.file, "liblamclient[%d] %s: %s\n", static_cast<int>(::getpid()), LevelName(level), msg);
    std::fflush(s.file);
  }
}

}  // namespace lam::client
