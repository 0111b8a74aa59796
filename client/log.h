// SPDX-License-Identifier: MIT
// liblamclient's logging: silent unless lam_set_log_callback() or the LAM_LOG_LEVEL /
// LAM_LOG_FILE environment overrides ask for messages (STYLE.md 14).
#pragma once

#include "lam/lam.h"

namespace lam::client {

void SetLogCallback(lam_log_callback fn, lam_log_level max_level, void* user_data);

// True if a message of `level` goes anywhere (cheap; check before building a message).
bool LogEnabled(lam_log_level level);

// printf-style; one line, no trailing newline.
void Log(lam_log_level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace lam::client
