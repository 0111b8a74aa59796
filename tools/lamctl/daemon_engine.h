// SPDX-License-Identifier: MIT
// An engine::Engine that computes through a running lamd (liblamclient), so that
// `lamctl embed --socket PATH` reuses the in-process command's I/O unchanged.
#pragma once

#include <memory>
#include <string>

#include "engine/engine.h"

namespace lam::ctl {

Result<std::unique_ptr<engine::Engine>> OpenDaemonEngine(const std::string& socket);

}  // namespace lam::ctl
