// SPDX-License-Identifier: MIT
#include "cache/precompile.h"

#include <spdlog/spdlog.h>

#include "cache/disk_cache.h"
#if LAM_HAVE_CUDA
#include "backend/cuda/cuda_module.h"
#endif

namespace lam::cache {

Result<std::vector<PrecompiledBucket>> Precompile(const std::string& model_fingerprint,
                                                  const std::string& arch,
                                                  const std::vector<cuda::BucketSpec>& buckets,
                                                  const std::string& cache_dir,
                                                  uint64_t cache_max_bytes) {
#if LAM_HAVE_CUDA
  // NVRTC lives in the CUDA backend module (lamd links no CUDA library).
  LAM_ASSIGN_OR_RETURN(const cuda::CudaModuleApi* module, cuda::LoadCudaModule());
  return module->precompile(model_fingerprint, arch, buckets, cache_dir, cache_max_bytes);
#else
  (void)model_fingerprint;
  (void)arch;
  (void)buckets;
  (void)cache_dir;
  (void)cache_max_bytes;
  return Status(LAM_STATUS_UNSUPPORTED, "precompile needs a build with the CUDA toolkit (NVRTC)");
#endif
}

}  // namespace lam::cache
