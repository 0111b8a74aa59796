// SPDX-License-Identifier: MIT
// liblamctl_engine.so's one exported symbol (engine_module.h).
#include "engine_commands.h"
#include "engine_module.h"
#include "lam/lam_version.h"
#include "server/logging.h"

namespace {

// The engine logs through spdlog, whose default logger writes to stdout, where lamctl embed
// writes its embeddings: send the log to stderr, warnings and worse only.
template <typename Options>
int Quiet(int (*run)(const Options&), const Options& options) {
  if (const lam::Status st = lam::server::SetupLogging("warning", /*journald=*/false); !st.ok()) return 1;
  return run(options);
}

int Embed(const lam::ctl::EmbedOptions& options) { return Quiet(lam::ctl::RunLocalEmbed, options); }
int Model(const lam::ctl::ModelOptions& options) { return Quiet(lam::ctl::RunModelCommand, options); }

}  // namespace

extern "C" __attribute__((visibility("default"))) const lam::ctl::EngineModuleApi* lamctl_engine_module_v1() {
  static const lam::ctl::EngineModuleApi kApi = {
      lam::ctl::kEngineModuleAbi,  LAM_VERSION_NUMBER,          LAM_BUILD_COMMIT,
      sizeof(lam::ctl::EmbedOptions), sizeof(lam::ctl::ModelOptions), Embed, Model};
  return &kApi;
}
