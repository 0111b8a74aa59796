// SPDX-License-Identifier: MIT
// Offline precompile (the library side of `lamd --precompile`): fills a cache directory with
// the NVRTC cubins of every bucket for one GPU architecture. Needs libnvrtc, no GPU and no
// driver, so a build machine can ship warm caches to a fleet.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/cuda/bucket_spec.h"
#include "common/status.h"

namespace lam::cache {

struct PrecompiledBucket {
  std::string bucket;        // BucketSpec::Name()
  std::string file;          // cache entry path
  bool already_cached = false;  // a valid entry was there; nothing compiled
  double compile_ms = 0;     // NVRTC time for this bucket (0 when already cached)
  uint64_t cubin_bytes = 0;
};

// For each bucket: load the cubin for `arch` from `cache_dir` or compile and store it. Logs one
// info line per bucket with its compile time. Stops at the first failure (compile or store) and
// returns it; entries written before it stay. UNSUPPORTED when built without the CUDA toolkit.
Result<std::vector<PrecompiledBucket>> Precompile(const std::string& model_fingerprint,
                                                  const std::string& arch,
                                                  const std::vector<cuda::BucketSpec>& buckets,
                                                  const std::string& cache_dir,
                                                  uint64_t cache_max_bytes = 2ull << 30);

}  // namespace lam::cache
