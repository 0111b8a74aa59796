// SPDX-License-Identifier: MIT
// lamctl subcommands. main.cpp declares each one's options with CLI11 and calls its Run*;
// each returns the exit status (0 ok, 1 failed, 2 usage). The daemon-facing ones are here and
// link only liblamclient; those that need lamd's engine (in-process `embed --model`, `model`)
// run in the engine module (engine_module.h), loaded only for them.
#pragma once

#include "options.h"

namespace lam::ctl {

int RunStatus(const StatusOptions& options);
int RunPing(const PingOptions& options);
int RunCache(const CacheOptions& options);
int RunDaemonEmbed(const EmbedOptions& options);  // embed through lamd (liblamclient)

// Loads the engine module and runs `embed --model` / `model` there.
int RunEngineEmbed(const EmbedOptions& options);
int RunModel(const ModelOptions& options);

}  // namespace lam::ctl
