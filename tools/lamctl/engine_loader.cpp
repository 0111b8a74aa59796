// SPDX-License-Identifier: MIT
// Finds and opens liblamctl_engine.so next to lamctl (LAM_CTL_ENGINE_RELDIR, relative to the
// directory of /proc/self/exe: the same in the build tree and in any installed prefix), checks
// that it comes from lamctl's own build, and runs the engine commands there.
#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "commands.h"
#include "engine_module.h"
#include "lam/lam_version.h"

namespace lam::ctl {
namespace {

const EngineModuleApi* LoadEngineModule(const char* command) {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    std::fprintf(stderr, "lamctl %s: cannot find lamctl's own path: %s\n", command, ec.message().c_str());
    return nullptr;
  }
  const std::string path =
      (exe.parent_path() / LAM_CTL_ENGINE_RELDIR / kEngineModuleFile).lexically_normal().string();
  void* lib = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* err = ::dlerror();
    std::fprintf(stderr, "lamctl %s: cannot load lamctl's engine module: %s\n", command,
                 err != nullptr ? err : path.c_str());
    return nullptr;
  }
  using Entry = const EngineModuleApi* (*)();
  auto entry = reinterpret_cast<Entry>(::dlsym(lib, kEngineModuleEntry));
  const EngineModuleApi* api = entry != nullptr ? entry() : nullptr;
  if (api == nullptr || api->abi != kEngineModuleAbi || api->version_number != LAM_VERSION_NUMBER ||
      api->build_commit == nullptr || std::strcmp(api->build_commit, LAM_BUILD_COMMIT) != 0 ||
      api->embed_options_size != sizeof(EmbedOptions) || api->model_options_size != sizeof(ModelOptions) ||
      api->embed == nullptr || api->model == nullptr) {
    // Another build's module: never call into it.
    std::fprintf(stderr, "lamctl %s: %s is not the engine module of this lamctl (%s, %s)\n", command, path.c_str(),
                 LAM_VERSION_STRING, LAM_BUILD_COMMIT);
    return nullptr;
  }
  return api;
}

}  // namespace

int RunEngineEmbed(const EmbedOptions& options) {
  const EngineModuleApi* api = LoadEngineModule("embed");
  return api != nullptr ? api->embed(options) : 1;
}

int RunModel(const ModelOptions& options) {
  const EngineModuleApi* api = LoadEngineModule("model");
  return api != nullptr ? api->model(options) : 1;
}

}  // namespace lam::ctl
