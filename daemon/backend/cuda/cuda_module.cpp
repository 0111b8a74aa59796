// SPDX-License-Identifier: MIT
#include "backend/cuda/cuda_module.h"

#include <dlfcn.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>

namespace lam::cuda {
namespace {

Result<const CudaModuleApi*> Open() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("LAM_CUDA_BACKEND"); env != nullptr && *env != '\0') {
    candidates.emplace_back(env);
  }
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto dir = exe.parent_path();
    for (const auto& d : {dir / ".." / "lib", dir / ".." / ".." / "lib", dir}) {
      candidates.push_back((d / kCudaModuleFile).lexically_normal().string());
    }
  }
  candidates.emplace_back(kCudaModuleFile);  // LD_LIBRARY_PATH, the installed library path
  std::string tried;
  for (const auto& path : candidates) {
    void* lib = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* err = ::dlerror();
      tried += "\n  " + path + ": " + (err != nullptr ? err : "dlopen failed");
      continue;
    }
    using Entry = const CudaModuleApi* (*)();
    auto entry = reinterpret_cast<Entry>(::dlsym(lib, kCudaModuleEntry));
    const CudaModuleApi* api = entry != nullptr ? entry() : nullptr;
    if (api == nullptr || api->abi != kCudaModuleAbi || api->weights_size != sizeof(engine::ModelWeights) ||
        api->status_size != sizeof(Status) || api->create_backend == nullptr || api->precompile == nullptr) {
      // Another build's module: never call into it (it stays mapped; it is not ours to unload
      // while its static objects may be registered).
      tried += "\n  " + path + ": not a CUDA backend module of this build (entry or ABI mismatch)";
      continue;
    }
    spdlog::debug("cuda: backend module {}", path);
    return api;
  }
  return Status(LAM_STATUS_NOT_FOUND, std::string("the CUDA backend module ") + kCudaModuleFile +
                                          " could not be loaded; tried:" + tried);
}

}  // namespace

Result<const CudaModuleApi*> LoadCudaModule() {
  static std::once_flag once;
  static Result<const CudaModuleApi*> loaded = Status(LAM_STATUS_INTERNAL, "not loaded");
  std::call_once(once, [] { loaded = Open(); });
  return loaded;
}

}  // namespace lam::cuda
