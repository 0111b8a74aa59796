// SPDX-License-Identifier: MIT
#include "cache/cache_key.h"

#include <xxhash.h>

#include <cstdio>
#include <utility>
#include <vector>

namespace lam::cache {
namespace {

Status CheckField(const char* name, const std::string& value, bool allow_empty) {
  if (value.empty() && !allow_empty) {
    return Status(LAM_STATUS_INVALID_ARG, std::string("cache key field '") + name + "' is empty");
  }
  for (size_t i = 0; i < value.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c > 0x7e) {
      return Status(LAM_STATUS_INVALID_ARG, std::string("cache key field '") + name +
                                                "' has a non-printable byte at offset " +
                                                std::to_string(i));
    }
  }
  return Status::Ok();
}

}  // namespace

Status CacheKey::Validate() const {
  LAM_RETURN_IF_ERROR(CheckField("model", model_fingerprint, false));
  LAM_RETURN_IF_ERROR(CheckField("backend", backend, false));
  LAM_RETURN_IF_ERROR(CheckField("device", device, false));
  LAM_RETURN_IF_ERROR(CheckField("toolkit", toolkit, false));
  LAM_RETURN_IF_ERROR(CheckField("driver", driver, false));
  LAM_RETURN_IF_ERROR(CheckField("precision", precision, false));
  LAM_RETURN_IF_ERROR(CheckField("bucket", bucket, false));
  LAM_RETURN_IF_ERROR(CheckField("artifact", artifact, false));
  LAM_RETURN_IF_ERROR(CheckField("source", source_hash, true));
  return Status::Ok();
}

std::string CacheKey::Canonical() const {
  // Fixed field order; a new field gets a new line and bumps the "lam-cache-key/N" tag, so keys
  // written by an older daemon can never compare equal to newer ones.
  std::string s = "lam-cache-key/1\n";
  const std::pair<const char*, const std::string*> fields[] = {
      {"model", &model_fingerprint}, {"backend", &backend},     {"device", &device},
      {"toolkit", &toolkit},         {"driver", &driver},       {"precision", &precision},
      {"bucket", &bucket},           {"artifact", &artifact},   {"source", &source_hash}};
  for (const auto& [name, value] : fields) {
    s += name;
    s += '=';
    s += *value;
    s += '\n';
  }
  s += "format=" + std::to_string(format_version) + "\n";
  return s;
}

std::string Xxh128Hex(const void* data, size_t size) {
  const XXH128_hash_t h = XXH3_128bits(data, size);
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return std::string(buf, 32);
}

std::string CacheKey::Hash() const {
  const std::string c = Canonical();
  return Xxh128Hex(c.data(), c.size());
}

std::string HostCpuIsa() {
#if defined(__x86_64__) || defined(__i386__)
  // Only features that change which kernels oneDNN/our code generate; ordered for stability.
  __builtin_cpu_init();
  std::string isa = "x86_64";
  struct Feature {
    const char* name;
    bool present;
  };
  const Feature features[] = {
      {"sse4.2", __builtin_cpu_supports("sse4.2") != 0},
      {"avx", __builtin_cpu_supports("avx") != 0},
      {"avx2", __builtin_cpu_supports("avx2") != 0},
      {"fma", __builtin_cpu_supports("fma") != 0},
      {"avx512f", __builtin_cpu_supports("avx512f") != 0},
      {"avx512bw", __builtin_cpu_supports("avx512bw") != 0},
      {"avx512vl", __builtin_cpu_supports("avx512vl") != 0},
      {"avx512vnni", __builtin_cpu_supports("avx512vnni") != 0},
      {"avx512bf16", __builtin_cpu_supports("avx512bf16") != 0},
  };
  for (const Feature& f : features) {
    if (f.present) {
      isa += '+';
      isa += f.name;
    }
  }
  return isa;
#elif defined(__aarch64__)
  return "aarch64";
#else
  return "unknown-isa";
#endif
}

}  // namespace lam::cache
