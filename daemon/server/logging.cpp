// SPDX-License-Identifier: MIT
#include "server/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <mutex>

namespace lam::server {
namespace {

// `<3>` .. `<7>`: sd-daemon(3) priority prefixes, read by journald from a stream.
class SyslogPriorityFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const char* p = "<6>";
    switch (msg.level) {
      case spdlog::level::critical: p = "<2>"; break;
      case spdlog::level::err: p = "<3>"; break;
      case spdlog::level::warn: p = "<4>"; break;
      case spdlog::level::info: p = "<6>"; break;
      default: p = "<7>"; break;
    }
    dest.append(p, p + 3);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<SyslogPriorityFlag>();
  }
};

std::mutex g_mu;
spdlog::sink_ptr g_sink;
spdlog::level::level_enum g_level = spdlog::level::info;
bool g_journald = false;

std::unique_ptr<spdlog::formatter> MakeFormatter() {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  if (g_journald) {
    f->add_flag<SyslogPriorityFlag>('*').set_pattern("%*[%n] %v");
  } else {
    f->set_pattern("%P %L %Y-%m-%d %H:%M:%S.%e [%n] %v");
  }
  return f;
}

}  // namespace

Status ParseLogLevel(const std::string& name, spdlog::level::level_enum* out) {
  if (name == "off") *out = spdlog::level::off;
  else if (name == "fatal") *out = spdlog::level::critical;
  else if (name == "error") *out = spdlog::level::err;
  else if (name == "warning") *out = spdlog::level::warn;
  else if (name == "info") *out = spdlog::level::info;
  else if (name == "debug") *out = spdlog::level::debug;
  else if (name == "trace") *out = spdlog::level::trace;
  else return Status(LAM_STATUS_INVALID_ARG, "unknown log level '" + name + "'");
  return Status::Ok();
}

Status SetupLogging(const std::string& level, bool journald) {
  spdlog::level::level_enum lvl;
  LAM_RETURN_IF_ERROR(ParseLogLevel(level, &lvl));
  std::lock_guard<std::mutex> lock(g_mu);
  g_level = lvl;
  g_journald = journald;
  g_sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  g_sink->set_formatter(MakeFormatter());
  auto def = std::make_shared<spdlog::logger>("lamd", g_sink);
  def->set_level(lvl);
  def->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(def);
  return Status::Ok();
}

std::shared_ptr<spdlog::logger> Logger(const std::string& component) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (auto existing = spdlog::get(component)) return existing;
  if (!g_sink) {
    g_sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    g_sink->set_formatter(MakeFormatter());
  }
  auto l = std::make_shared<spdlog::logger>(component, g_sink);
  l->set_level(g_level);
  l->flush_on(spdlog::level::trace);
  spdlog::register_logger(l);
  return l;
}

}  // namespace lam::server
