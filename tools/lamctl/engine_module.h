// SPDX-License-Identifier: MIT
// The private module liblamctl_engine.so: lamctl's commands that need lamd's engine (oneDNN,
// oneTBB, ICU through lam_daemon_core). lamctl dlopens it only for them, so that its
// daemon-facing commands start with liblamclient, libstdc++ and libc alone. It is installed in
// the package's private library directory (LIBDIR/lamd), found relative to lamctl itself.
#pragma once

#include <cstddef>
#include <cstdint>

#include "options.h"

namespace lam::ctl {

inline constexpr const char* kEngineModuleFile = "liblamctl_engine.so";
inline constexpr const char* kEngineModuleEntry = "lamctl_engine_module_v1";
inline constexpr uint32_t kEngineModuleAbi = 1;

struct EngineModuleApi {
  uint32_t abi;                 // kEngineModuleAbi
  uint32_t version_number;      // LAM_VERSION_NUMBER of the module's build
  const char* build_commit;     // LAM_BUILD_COMMIT of the module's build
  size_t embed_options_size;    // sizeof(EmbedOptions) there
  size_t model_options_size;    // sizeof(ModelOptions) there
  int (*embed)(const EmbedOptions& options);  // lamctl embed --model DIR
  int (*model)(const ModelOptions& options);  // lamctl model install|ls|use
};

}  // namespace lam::ctl

// The module's one exported symbol.
extern "C" const lam::ctl::EngineModuleApi* lamctl_engine_module_v1();
