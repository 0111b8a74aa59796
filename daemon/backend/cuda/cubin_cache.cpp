// SPDX-License-Identifier: MIT
#include "backend/cuda/cubin_cache.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "backend/cuda/cubin_inspect.h"
#include "backend/cuda/kernel_source.h"

namespace lam::cuda {
namespace {

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

cache::CacheKey CubinCacheKey(const BucketSpec& spec, const std::string& arch,
                              const std::string& model_fingerprint) {
  cache::CacheKey key;
  key.model_fingerprint = model_fingerprint;
  key.backend = "cuda";
  key.device = arch;
  key.toolkit = NvrtcVersion();
  key.driver = kCubinDriverField;
  key.precision = "fp32";
  key.bucket = spec.Name();
  key.artifact = kCubinArtifact;
  key.source_hash = CompileSourceHash(CompileOptions(spec, arch));
  key.format_version = kCubinFormatVersion;
  return key;
}

Status ValidateCubin(std::span<const uint8_t> image, const std::string& arch) {
  LAM_ASSIGN_OR_RETURN(const CubinInfo info, InspectCubin(image));
  if (info.sm != ArchNumber(arch)) {
    return Status(LAM_STATUS_INVALID_ARG,
                  "cubin is for sm_" + std::to_string(info.sm) + ", not " + arch);
  }
  for (std::string_view name : kKernelNames) {
    if (std::find(info.functions.begin(), info.functions.end(), name) == info.functions.end()) {
      return Status(LAM_STATUS_INVALID_ARG, "cubin lacks kernel " + std::string(name));
    }
  }
  return Status::Ok();
}

Result<LoadedCubin> CompileOrLoad(const BucketSpec& spec, const std::string& arch,
                                  const std::string& model_fingerprint, cache::DiskCache& cache) {
  LAM_RETURN_IF_ERROR(spec.Validate());
  if (ArchNumber(arch) < 0) {
    return Status(LAM_STATUS_INVALID_ARG,
                  "CUDA architecture '" + arch + "' is not of the form sm_<NN> (e.g. sm_90)");
  }
  const cache::CacheKey key = CubinCacheKey(spec, arch, model_fingerprint);
  LoadedCubin out;

  const auto t0 = std::chrono::steady_clock::now();
  auto cached = cache.Get(key);
  if (!cached.ok()) {
    // An I/O error on the cache is not a reason to stop serving: compile instead.
    spdlog::warn("cuda: cache read for bucket {} ({}) failed: {}", spec.Name(), arch,
                 cached.status().ToString());
  } else if (cached->has_value()) {
    std::vector<uint8_t>& image = **cached;
    const Status valid = ValidateCubin(image, arch);
    if (valid.ok()) {
      out.cubin.image = std::move(image);
      out.cubin.arch = arch;
      out.cubin.bucket = spec.Name();
      out.cubin.program_name = "lam_kernels_" + spec.Name() + "_" + arch + ".cu";
      out.cubin.options = CompileOptions(spec, arch);
      out.cubin.source_hash = key.source_hash;
      out.disk_hit = true;
      out.load_ms = MsSince(t0);
      return out;
    }
    spdlog::warn("cuda: cached cubin {} for bucket {} rejected: {}; rebuilding",
                 cache.PathFor(key), spec.Name(), valid.message());
    (void)cache.Remove(key);
  }
  out.load_ms = MsSince(t0);

  LAM_ASSIGN_OR_RETURN(out.cubin, CompileBucket(spec, arch));
  out.compile_ms = out.cubin.compile_ms;
  if (!out.cubin.log.empty()) {
    spdlog::info("cuda: NVRTC log for {}:\n{}", out.cubin.program_name, out.cubin.log);
  }
  out.store_status = cache.Put(key, out.cubin.image);
  if (!out.store_status.ok()) {
    spdlog::warn("cuda: could not store cubin for bucket {} ({}): {}", spec.Name(), arch,
                 out.store_status.ToString());
  }
  return out;
}

Result<LoadedCubin> LoadPlanKernels(const std::string& arch, cache::DiskCache* cache) {
  if (cache != nullptr) return CompileOrLoad(PlanKernelSpec(), arch, kPlanKernelsModel, *cache);
  LoadedCubin out;
  LAM_ASSIGN_OR_RETURN(out.cubin, CompileBucket(PlanKernelSpec(), arch));
  out.compile_ms = out.cubin.compile_ms;
  return out;
}

}  // namespace lam::cuda
