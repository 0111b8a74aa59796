// SPDX-License-Identifier: MIT
// CompileOrLoad: the cubin for (bucket, arch) from the disk cache, or compiled with NVRTC and
// stored. A loaded image is checked again (ELF architecture and kernel symbols) before use.
//
// Key: model fingerprint, backend "cuda", device = arch, toolkit = NVRTC version, precision
// "fp32", bucket name, artifact "nvrtc-cubin", source = hash of kernel text + NVRTC options,
// format = kCubinFormatVersion. driver = "any": a cubin holds SASS for one real architecture;
// the driver only loads it and plays no part in producing its bytes, so keying on the driver
// version would make every cache filled offline (Precompile, no driver: "none") or before a
// driver update miss for nothing. A driver too old for the image fails cuModuleLoadData; the
// backend then recompiles, which yields the same bytes, so the failure is reported, not hidden.
#pragma once

#include <string>

#include "backend/cuda/bucket_spec.h"
#include "backend/cuda/nvrtc_compiler.h"
#include "cache/cache_key.h"
#include "cache/disk_cache.h"
#include "common/status.h"

namespace lam::cuda {

inline constexpr uint32_t kCubinFormatVersion = 1;
inline constexpr char kCubinArtifact[] = "nvrtc-cubin";
inline constexpr char kCubinDriverField[] = "any";

struct LoadedCubin {
  Cubin cubin;              // image + provenance (options and log only when compiled now)
  bool disk_hit = false;    // loaded from the cache, no compilation
  double compile_ms = 0;    // NVRTC time (0 on a disk hit)
  double load_ms = 0;       // cache read + validation time
  Status store_status;      // outcome of storing a freshly compiled image (OK on a hit)
};

// The cache key for (spec, arch) with this process' NVRTC and kernel text.
cache::CacheKey CubinCacheKey(const BucketSpec& spec, const std::string& arch,
                              const std::string& model_fingerprint);

// Loads from `cache` or compiles and stores. A cache entry that fails validation (DiskCache's
// checks, or the cubin's own architecture/kernel check) is removed, logged and rebuilt. A
// failure to store does not fail the call (serving goes on); it is in store_status and logged.
Result<LoadedCubin> CompileOrLoad(const BucketSpec& spec, const std::string& arch,
                                  const std::string& model_fingerprint, cache::DiskCache& cache);

// The kernels the CUDA backend's plan executor runs take every size at run time, so one image
// per architecture serves every bucket of every model of the LAM-base shape (PackedModel checks
// a model's shape). Its cache key names no model (kPlanKernelsModel): the image depends on the
// kernel text, the options and NVRTC only, which the key's source hash and toolkit cover.
inline constexpr char kPlanKernelsModel[] = "plan-kernels";
inline BucketSpec PlanKernelSpec() { return BucketSpec::Packed(8192); }

// The plan kernels for `arch`: from `cache` when it has them (validated as above), else
// compiled with NVRTC and stored there. Without a cache (null) they are compiled. This is what
// CudaBackend::Create loads and what `lamd --precompile` fills, so a restart, or a machine
// whose cache was filled offline, starts without NVRTC.
Result<LoadedCubin> LoadPlanKernels(const std::string& arch, cache::DiskCache* cache);

// OK if `image` is an EM_CUDA ELF for `arch` that defines every kernel in kKernelNames.
Status ValidateCubin(std::span<const uint8_t> image, const std::string& arch);

}  // namespace lam::cuda
