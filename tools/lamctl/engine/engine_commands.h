// SPDX-License-Identifier: MIT
// The commands the engine module (liblamctl_engine.so) runs for lamctl; see engine_module.h.
#pragma once

#include "options.h"

namespace lam::ctl {

int RunLocalEmbed(const EmbedOptions& options);    // embed --model DIR (embed_local.cpp)
int RunModelCommand(const ModelOptions& options);  // model install|ls|use (model.cpp)

}  // namespace lam::ctl
