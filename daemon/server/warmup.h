// SPDX-License-Identifier: MIT
// Warm-up: compiles (or loads from the persistent cache) every executable the engine is
// configured for, so that no request pays for a compile once lamd reports ready, then runs one
// short sequence through the whole path. lamd runs it on its own thread while the control socket
// and the HTTP listeners already answer (`lamctl status` shows state "warming" and the progress;
// a client's hello waits until it is done; GET /ready says 503).
#pragma once

#include <functional>

#include "cache/executable_cache.h"
#include "common/status.h"
#include "engine/engine.h"
#include "server/stats.h"

namespace lam::server {

using WarmupProgressFn = std::function<void(const cache::WarmProgress&)>;
// What Server::Run() starts on the warm-up thread; `progress` is called once per bucket.
using WarmupFn = std::function<Result<WarmupInfo>(const WarmupProgressFn& progress)>;

// The daemon's warm-up of `engine`: logs each bucket and passes it on to `progress`.
Result<WarmupInfo> WarmEngine(engine::Engine* engine, const WarmupProgressFn& progress);

}  // namespace lam::server
