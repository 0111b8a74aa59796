// SPDX-License-Identifier: MIT
// CompileBucket: lam_kernels.cuh specialised for one bucket, compiled by NVRTC to a cubin
// (SASS for one real architecture). Needs libnvrtc only, no GPU and no driver.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/cuda/bucket_spec.h"
#include "common/status.h"

namespace lam::cuda {

struct Cubin {
  std::vector<uint8_t> image;        // the ELF image for cuModuleLoadData
  std::string arch;                  // "sm_90"
  std::string bucket;                // BucketSpec::Name()
  std::string program_name;          // NVRTC program name, e.g. "lam_kernels_t4096_sm_90.cu"
  std::vector<std::string> options;  // exact NVRTC options
  std::string log;                   // NVRTC log (warnings), possibly empty
  std::string source_hash;           // XXH3-128 of kernel text + options: the cache key's "source"
  double compile_ms = 0;
};

// The SM number of "sm_90" / "sm_90a" / "sm_100f" (90, 90, 100); -1 if malformed.
int ArchNumber(const std::string& arch);

// "nvrtc-13.0" for the libnvrtc this process loaded.
std::string NvrtcVersion();
// Real architectures this NVRTC can generate SASS for ("sm_75", "sm_80", ...).
std::vector<std::string> NvrtcSupportedArchs();

// Options used for (spec, arch); also what the source hash covers.
std::vector<std::string> CompileOptions(const BucketSpec& spec, const std::string& arch);
// XXH3-128 over the kernel text and the options (what determines the cubin for one NVRTC).
std::string CompileSourceHash(const std::vector<std::string>& options);

// Compiles `source` as NVRTC program `program_name` with `options` (which must name a real
// --gpu-architecture) into a cubin. BACKEND_FAILED carries the program name, options and log.
// Fills image, program_name, options, log and compile_ms.
Result<Cubin> CompileProgram(const std::string& source, const std::string& program_name,
                             const std::vector<std::string>& options);

// Errors: INVALID_ARG (bad spec, or arch not "sm_<NN>[a|f]"), UNSUPPORTED (arch unknown to this
// NVRTC; the message lists the supported ones), BACKEND_FAILED (compilation failed; the message
// carries the program name, options and the NVRTC log).
Result<Cubin> CompileBucket(const BucketSpec& spec, const std::string& arch);

}  // namespace lam::cuda
