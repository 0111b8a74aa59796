// SPDX-License-Identifier: MIT
// The CUDA backend lives in its own shared module, liblam_cuda_backend.so, which links the CUDA
// toolkit's libraries (cuBLASLt, NVRTC, the runtime). lamd and lam_daemon_core link none of them:
// the engine opens the module with dlopen only when the CUDA backend is asked for, so lamd starts
// on any host, and a host without the toolkit's libraries (or without a GPU) gets a logged reason
// and the CPU backend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/bucket_spec.h"
#include "cache/disk_cache.h"
#include "cache/precompile.h"
#include "common/status.h"
#include "engine/weights.h"

namespace lam::cuda {

struct CudaBackendOptions {
  int device = 0;  // CUDA device ordinal
  // Where the kernel image is looked up and stored (cubin_cache.h LoadPlanKernels); null: the
  // kernels are compiled with NVRTC at every start. Must outlive Create only.
  cache::DiskCache* disk = nullptr;
  // "fp32" (exact; cuBLASLt CUBLAS_COMPUTE_32F) or "tf32" (projections on tensor cores with TF32
  // inputs and fp32 accumulation). Anything else: Create fails with INVALID_ARG.
  std::string precision = "fp32";
};

// Bumped whenever CudaModuleApi or a type it passes changes.
inline constexpr int kCudaModuleAbi = 2;
// The name of the module's one exported function: `const CudaModuleApi* lam_cuda_module_v1()`.
inline constexpr char kCudaModuleEntry[] = "lam_cuda_module_v1";
inline constexpr char kCudaModuleFile[] = "liblam_cuda_backend.so";

// What the module exports. The module is built from the same sources as lamd (one build), so
// C++ types cross the boundary; abi and the sizes catch a module from another build.
struct CudaModuleApi {
  int abi = 0;
  size_t weights_size = 0;  // sizeof(engine::ModelWeights)
  size_t status_size = 0;   // sizeof(Status)
  // UNSUPPORTED (no device / device out of range), BACKEND_FAILED (a CUDA call failed),
  // the PackedModel errors.
  Status (*create_backend)(const engine::ModelWeights& weights, const CudaBackendOptions& options,
                           std::unique_ptr<backend::Backend>* out) = nullptr;
  // cache::Precompile's implementation (NVRTC).
  Result<std::vector<cache::PrecompiledBucket>> (*precompile)(const std::string& model_fingerprint,
                                                              const std::string& arch,
                                                              const std::vector<BucketSpec>& buckets,
                                                              const std::string& cache_dir,
                                                              uint64_t cache_max_bytes) = nullptr;
};

// Opens the module once per process and returns its table. Looks at $LAM_CUDA_BACKEND (a path),
// then <dir of the executable>/../lib, <dir>/../../lib (test binaries), <dir>, then the loader's
// search path. NOT_FOUND / UNSUPPORTED with every place tried and dlerror's text.
Result<const CudaModuleApi*> LoadCudaModule();

}  // namespace lam::cuda
