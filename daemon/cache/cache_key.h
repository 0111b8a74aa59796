// SPDX-License-Identifier: MIT
// CacheKey: everything that determines a persisted executable artefact. Two keys with the same
// canonical string name the same bytes; anything that could change those bytes (model, backend,
// device, toolkit, driver, precision, bucket, the generating source) is a field.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace lam::cache {

struct CacheKey {
  std::string model_fingerprint;  // hex content hash of the model files
  std::string backend;            // "cpu" | "cuda"
  std::string device;             // CPU ISA ("x86_64+avx2+fma+avx512f") or "sm_90"
  std::string toolkit;            // "onednn-2.6.3", "nvrtc-13.0"
  std::string driver;             // CUDA driver version ("13000"), "none", or "any" (see cubin_cache.h)
  std::string precision;          // "fp32", "bf16", ...
  std::string bucket;             // canonical bucket string: "s64xL128", "t4096"
  std::string artifact;           // what the payload is: "nvrtc-cubin", "onednn-plan", ...
  std::string source_hash;        // hash of the generator's input (kernel text + options); may be empty
  uint32_t format_version = 1;    // version of the payload format written by the producer

  // Every field non-empty (source_hash may be empty) and made of printable ASCII without '\n'.
  Status Validate() const;

  // Stable, versioned, human-readable serialisation ("lam-cache-key/1\nmodel=...\n...").
  // Stored verbatim in each entry header so a reader can check it is reading its own key.
  std::string Canonical() const;

  // XXH3-128 of Canonical() as 32 lower-case hex digits; used as the entry's file name.
  std::string Hash() const;

  bool operator==(const CacheKey&) const = default;
};

// The ISA features of this CPU that change generated code, e.g. "x86_64+avx2+avx512f+fma".
std::string HostCpuIsa();

// XXH3-128 of bytes as 32 lower-case hex digits (high 64 bits first).
std::string Xxh128Hex(const void* data, size_t size);

}  // namespace lam::cache
