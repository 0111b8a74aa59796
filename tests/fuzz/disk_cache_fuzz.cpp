// SPDX-License-Identifier: MIT
// libFuzzer target: a disk-cache entry file holding hostile bytes is looked up. The lookup is a
// miss or a verified hit, never a crash or an error; a hit is returned only when the file is
// exactly the entry DiskCache would write for that key and payload (invariant 4: a corrupt or
// foreign entry is never loaded).
//
// The first input byte picks how the rest becomes the entry file:
//   0  the bytes as they are;
//   1  the bytes with a correct checksum patched in (so the size, magic, version and key checks
//      are reached past the checksum);
//   2  the bytes as the payload of an entry written by Put(): a hit with exactly those bytes;
//      the same entry written for another key under this key's name: a miss;
//   3  a valid entry (payload: the bytes after the first four) with one bit flipped at the
//      position the first four bytes give: a miss.
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cache/cache_key.h"
#include "cache/disk_cache.h"

namespace {

using lam::cache::CacheKey;
using lam::cache::DiskCache;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "disk_cache_fuzz: invariant violated: %s\n", what);
    std::abort();
  }
}

CacheKey Key(const char* bucket) {
  CacheKey k;
  k.model_fingerprint = "0123456789abcdef0123456789abcdef";
  k.backend = "cpu";
  k.device = "x86_64+avx2+fma";
  k.toolkit = "onednn-2.6.3";
  k.driver = "none";
  k.precision = "fp32";
  k.bucket = bucket;
  k.artifact = "fuzz-blob";
  k.source_hash = "feedface";
  return k;
}

void PutLe(std::vector<uint8_t>* out, size_t at, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) (*out)[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
}

// The checksum field of an entry: XXH3-128 of everything after the header, high half first.
void PatchChecksum(std::vector<uint8_t>* file) {
  const XXH128_hash_t sum = XXH3_128bits(file->data() + lam::cache::kEntryHeaderSize,
                                         file->size() - lam::cache::kEntryHeaderSize);
  PutLe(file, 32, sum.high64, 8);
  PutLe(file, 40, sum.low64, 8);
}

// The entry file for `key` and `payload`, built independently of disk_cache.cpp from the format
// in disk_cache.h.
std::vector<uint8_t> Serialize(const CacheKey& key, std::span<const uint8_t> payload) {
  const std::string canonical = key.Canonical();
  std::vector<uint8_t> file(lam::cache::kEntryHeaderSize);
  std::memcpy(file.data(), "LAMCACHE", 8);
  PutLe(&file, 8, lam::cache::kContainerVersion, 4);
  PutLe(&file, 12, lam::cache::kEntryHeaderSize, 4);
  PutLe(&file, 16, canonical.size(), 8);
  PutLe(&file, 24, payload.size(), 8);
  file.insert(file.end(), canonical.begin(), canonical.end());
  file.insert(file.end(), payload.begin(), payload.end());
  PatchChecksum(&file);
  return file;
}

struct Env {
  std::string dir;
  std::unique_ptr<DiskCache> cache;
  CacheKey key = Key("s1xL16");
  CacheKey other = Key("s2xL16");
  std::string path;

  Env() {
    spdlog::set_level(spdlog::level::off);  // every rejection is logged; keep the runs quiet
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && tmp[0] != '\0' ? tmp : "/tmp") +
                          "/lam-disk-cache-fuzz-XXXXXX";
    Check(::mkdtemp(pattern.data()) != nullptr, "mkdtemp failed");
    dir = pattern;
    lam::cache::DiskCacheOptions o;
    o.dir = dir;
    o.sync = false;
    auto c = DiskCache::Open(o);
    if (!c.ok()) std::fprintf(stderr, "disk_cache_fuzz: %s\n", c.status().ToString().c_str());
    Check(c.ok(), "cannot open the scratch cache directory");
    cache = std::move(c).value();
    path = cache->PathFor(key);
  }
  ~Env() {
    cache.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

Env& TheEnv() {
  static Env env;
  return env;
}

void WriteFile(const std::string& path, std::span<const uint8_t> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  out.close();
  Check(out.good(), "cannot write the entry file");
}

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Writes `file` under the key's name, looks the key up, checks the invariant; returns the hit.
std::optional<std::vector<uint8_t>> Lookup(Env& env, std::span<const uint8_t> file) {
  WriteFile(env.path, file);
  auto got = env.cache->Get(env.key);
  if (!got.ok()) std::fprintf(stderr, "disk_cache_fuzz: %s\n", got.status().ToString().c_str());
  Check(got.ok(), "Get() failed instead of missing");
  if (got->has_value()) {
    const std::vector<uint8_t> expected = Serialize(env.key, **got);
    Check(expected.size() == file.size() && std::equal(expected.begin(), expected.end(), file.begin()),
          "a hit on a file that is not exactly the entry for this key and payload");
  }
  return std::move(got).value();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Env& env = TheEnv();
  const std::span<const uint8_t> rest(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      Lookup(env, rest);
      break;
    case 1: {
      std::vector<uint8_t> file(rest.begin(), rest.end());
      if (file.size() >= lam::cache::kEntryHeaderSize) PatchChecksum(&file);
      Lookup(env, file);
      break;
    }
    case 2: {
      Check(env.cache->Put(env.key, rest).ok(), "Put() failed");
      const std::vector<uint8_t> written = ReadFile(env.path);
      Check(written == Serialize(env.key, rest), "Put() wrote something other than the format");
      auto hit = Lookup(env, written);
      Check(hit.has_value() && std::equal(hit->begin(), hit->end(), rest.begin(), rest.end()),
            "a valid entry was not returned intact");
      Check(!Lookup(env, Serialize(env.other, rest)).has_value(), "a foreign key's entry was loaded");
      break;
    }
    case 3: {
      if (rest.size() < 4) return 0;
      std::vector<uint8_t> file = Serialize(env.key, rest.subspan(4));
      const uint32_t at = static_cast<uint32_t>(rest[0]) | static_cast<uint32_t>(rest[1]) << 8 |
                          static_cast<uint32_t>(rest[2]) << 16 | static_cast<uint32_t>(rest[3]) << 24;
      const size_t bit = at % (file.size() * 8);
      file[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      Check(!Lookup(env, file).has_value(), "an entry with a flipped bit was loaded");
      break;
    }
  }
  return 0;
}
