// SPDX-License-Identifier: MIT
// The exported entry of liblam_cuda_backend.so (cuda_module.h): the one symbol lamd looks up.
#include <spdlog/spdlog.h>

#include "backend/cuda/cubin_cache.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_module.h"
#include "cache/disk_cache.h"

namespace lam::cuda {
namespace {

Status CreateBackend(const engine::ModelWeights& weights, const CudaBackendOptions& options,
                     std::unique_ptr<backend::Backend>* out) {
  try {
    LAM_ASSIGN_OR_RETURN(std::unique_ptr<CudaBackend> b, CudaBackend::Create(weights, options));
    *out = std::move(b);
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status(LAM_STATUS_BACKEND_FAILED, std::string("CUDA backend: ") + e.what());
  }
}

Result<std::vector<cache::PrecompiledBucket>> Precompile(const std::string& model_fingerprint,
                                                         const std::string& arch,
                                                         const std::vector<BucketSpec>& buckets,
                                                         const std::string& cache_dir,
                                                         uint64_t cache_max_bytes) {
  if (buckets.empty()) return Status(LAM_STATUS_INVALID_ARG, "precompile: no buckets given");
  cache::DiskCacheOptions options;
  options.dir = cache_dir;
  options.max_bytes = cache_max_bytes;
  LAM_ASSIGN_OR_RETURN(auto disk, cache::DiskCache::Open(options));
  std::vector<cache::PrecompiledBucket> report;
  for (size_t i = 0; i < buckets.size(); ++i) {
    const BucketSpec& spec = buckets[i];
    LAM_ASSIGN_OR_RETURN(LoadedCubin loaded, CompileOrLoad(spec, arch, model_fingerprint, *disk));
    if (!loaded.store_status.ok()) return loaded.store_status;
    cache::PrecompiledBucket entry;
    entry.bucket = spec.Name();
    entry.file = disk->PathFor(CubinCacheKey(spec, arch, model_fingerprint));
    entry.already_cached = loaded.disk_hit;
    entry.compile_ms = loaded.compile_ms;
    entry.cubin_bytes = loaded.cubin.image.size();
    spdlog::info("precompile [{}/{}] {} {}: {} ({} bytes, {:.1f} ms)", i + 1, buckets.size(), arch,
                 entry.bucket, entry.already_cached ? "already cached" : "compiled", entry.cubin_bytes,
                 entry.compile_ms);
    report.push_back(std::move(entry));
  }
  return report;
}

}  // namespace
}  // namespace lam::cuda

extern "C" __attribute__((visibility("default"))) const lam::cuda::CudaModuleApi* lam_cuda_module_v1() {
  static const lam::cuda::CudaModuleApi api = [] {
    lam::cuda::CudaModuleApi a;
    a.abi = lam::cuda::kCudaModuleAbi;
    a.weights_size = sizeof(lam::engine::ModelWeights);
    a.status_size = sizeof(lam::Status);
    a.create_backend = lam::cuda::CreateBackend;
    a.precompile = lam::cuda::Precompile;
    return a;
  }();
  return &api;
}
