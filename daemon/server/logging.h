// SPDX-License-Identifier: MIT
// lamd's logging setup (STYLE.md 14): spdlog to stderr, Redis-shaped lines
// `pid level yyyy-mm-dd hh:mm:ss.mmm [component] message`; under systemd (JOURNAL_STREAM set)
// no timestamp and a `<N>` syslog-priority prefix so that journald records the level.
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "common/status.h"

namespace lam::server {

// Parses off|fatal|error|warning|info|debug|trace.
Status ParseLogLevel(const std::string& name, spdlog::level::level_enum* out);

// Installs the default logger; `journald` selects the journald line shape.
Status SetupLogging(const std::string& level, bool journald);

// A named logger ("server", "scheduler", ...) sharing the default sink and level.
std::shared_ptr<spdlog::logger> Logger(const std::string& component);

}  // namespace lam::server
