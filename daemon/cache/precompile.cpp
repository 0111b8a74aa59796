// SPDX-License-Identifier: MIT
#include "cache/precompile.h"

#include <spdlog/spdlog.h>

#include "cache/disk_cache.h"
#if LAM_HAVE_CUDA
#include "backend/cuda/cubin_cache.h"
#endif

namespace lam::cache {

Result<std::vector<PrecompiledBucket>> Precompile(const std::string& model_fingerprint,
                                                  const std::string& arch,
                                                  const std::vector<cuda::BucketSpec>& buckets,
                                                  const std::string& cache_dir,
                                                  uint64_t cache_max_bytes) {
#if LAM_HAVE_CUDA
  if (buckets.empty()) return Status(LAM_STATUS_INVALID_ARG, "precompile: no buckets given");
  DiskCacheOptions options;
  options.dir = cache_dir;
  options.max_bytes = cache_max_bytes;
  LAM_ASSIGN_OR_RETURN(auto cache, DiskCache::Open(options));
  std::vector<PrecompiledBucket> report;
  for (size_t i = 0; i < buckets.size(); ++i) {
    const cuda::BucketSpec& spec = buckets[i];
    LAM_ASSIGN_OR_RETURN(cuda::LoadedCubin loaded,
                         cuda::CompileOrLoad(spec, arch, model_fingerprint, *cache));
    if (!loaded.store_status.ok()) return loaded.store_status;
    PrecompiledBucket entry;
    entry.bucket = spec.Name();
    entry.file = cache->PathFor(cuda::CubinCacheKey(spec, arch, model_fingerprint));
    entry.already_cached = loaded.disk_hit;
    entry.compile_ms = loaded.compile_ms;
    entry.cubin_bytes = loaded.cubin.image.size();
    spdlog::info("precompile [{}/{}] {} {}: {} ({} bytes, {:.1f} ms)", i + 1, buckets.size(),
                 arch, entry.bucket, entry.already_cached ? "already cached" : "compiled",
                 entry.cubin_bytes, entry.compile_ms);
    report.push_back(std::move(entry));
  }
  return report;
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
