// SPDX-License-Identifier: MIT
// ExecutableCache: the process-wide, in-memory set of compiled executables that every client
// shares. Keyed by the full CacheKey (model fingerprint, backend, device or CPU ISA, toolkit and
// driver versions, precision, bucket), with statistics per bucket: resident count and bytes,
// hits, misses, compiles, disk loads, compile time, load time and last use.
//
// A backend that can persist its executables also implements ExecutableCodec; with a DiskCache
// attached, a miss first tries the disk (a "load") and only then compiles, and every compile is
// stored for the next process. The CPU backend does not implement the codec on purpose: oneDNN
// 2.6 cannot serialise CPU primitives, and its "compile" is primitive execution contexts plus
// workspaces sized for the bucket (weights are reordered once per backend), so there is nothing
// honest to write to disk. The NVRTC path persists cubins (backend/cuda/cubin_cache.h).
//
// Thread-safe. Compiles of different keys may run concurrently; concurrent requests for one key
// compile it once (the others wait for that result).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "cache/cache_key.h"
#include "common/status.h"

namespace lam::cache {

class DiskCache;

// What is common to every executable of one backend instance; with a bucket it makes a CacheKey.
struct ExecutableIdentity {
  std::string model_fingerprint;
  std::string backend;    // "cpu" | "cuda"
  std::string device;     // HostCpuIsa() (+ thread count for CPU executables) or "sm_90"
  std::string toolkit;    // "onednn-2.6.3", "nvrtc-13.0"
  std::string driver = "none";
  std::string precision = "fp32";
  std::string artifact;   // "cpu-exe", "nvrtc-cubin"
};

CacheKey MakeExecutableKey(const ExecutableIdentity& id, const backend::Bucket& bucket);

// Implemented (in addition to backend::Backend) by backends whose executables can be persisted.
class ExecutableCodec {
 public:
  virtual ~ExecutableCodec() = default;
  // Version of the payload format; part of the disk key, so a new format never reads an old one.
  virtual uint32_t payload_format() const = 0;
  virtual Result<std::vector<uint8_t>> Serialize(const backend::Executable& exe) = 0;
  // Rebuilds an executable from Serialize() bytes (e.g. cuModuleLoadData of a cubin).
  virtual Result<std::unique_ptr<backend::Executable>> Deserialize(const backend::Bucket& bucket,
                                                                   std::span<const uint8_t> bytes) = 0;
};

// Statistics for one key (one model x backend x device x ... x bucket).
struct BucketStats {
  CacheKey key;
  std::string bucket;        // Bucket::ToString()
  backend::Bucket shape;     // the bucket itself (List() sorts by it)
  uint64_t resident = 0;     // executables held in memory for this key (0 or 1)
  uint64_t bytes = 0;        // their byte_size()
  uint64_t in_use = 0;       // leases currently held by callers
  uint64_t hits = 0;         // lookups that found it resident
  uint64_t misses = 0;       // lookups that had to load or compile
  uint64_t compiles = 0;     // backend compiles
  uint64_t loads = 0;        // executables rebuilt from the disk cache
  double compile_ms = 0;     // total compile time
  double load_ms = 0;        // total disk load time (read + deserialise)
  int64_t last_use_unix_ms = 0;
};

struct CacheTotals {
  uint64_t resident = 0, bytes = 0, hits = 0, misses = 0, compiles = 0, loads = 0;
  double compile_ms = 0, load_ms = 0;
};

// Reported once per bucket by Warm().
struct WarmProgress {
  size_t index = 0;  // 1-based
  size_t total = 0;
  std::string bucket;
  enum class Source { kResident, kLoaded, kCompiled } source = Source::kCompiled;
  double ms = 0;  // time this bucket took (compile or load; 0 when already resident)
};
const char* WarmSourceName(WarmProgress::Source s);

class ExecutableCache {
 public:
  // A shared executable. While a lease is alive, Clear() keeps the executable.
  using Lease = std::shared_ptr<backend::Executable>;

  // `disk` may be null (memory only); it must outlive the cache.
  explicit ExecutableCache(DiskCache* disk = nullptr) : disk_(disk) {}
  ExecutableCache(const ExecutableCache&) = delete;
  ExecutableCache& operator=(const ExecutableCache&) = delete;

  // The process-wide instance (memory only until AttachDisk()).
  static ExecutableCache& Global();
  // Attaches (or detaches, with null) the persistent store used by codec backends.
  void AttachDisk(DiskCache* disk);
  DiskCache* disk() const;

  // The resident executable for (backend instance, identity, bucket); on a miss, loads it from
  // the disk cache (codec backends) or compiles it, and keeps it. `backend` must stay alive
  // until ForgetBackend(backend) is called. Errors: those of Compile/Deserialize.
  Result<Lease> GetOrCompile(backend::Backend& backend, const ExecutableIdentity& id,
                             const backend::Bucket& bucket);

  // Makes every bucket resident, in order, reporting each one. Stops at the first error.
  Status Warm(backend::Backend& backend, const ExecutableIdentity& id,
              const std::vector<backend::Bucket>& buckets,
              const std::function<void(const WarmProgress&)>& progress = {});

  // Statistics of every key seen (resident or not), smallest bucket first.
  std::vector<BucketStats> List() const;
  // The same for the executables of one backend instance (one engine).
  std::vector<BucketStats> ListFor(const backend::Backend* backend) const;
  CacheTotals Totals() const;
  static CacheTotals Sum(const std::vector<BucketStats>& stats);

  // Drops resident executables no caller holds a lease on (of `backend` only, when given);
  // statistics stay. Returns how many were dropped. Leased executables stay resident.
  size_t Clear(const backend::Backend* backend = nullptr);
  // Drops everything compiled by `backend` (call before destroying it) and its statistics.
  void ForgetBackend(const backend::Backend* backend);

 private:
  struct Entry {
    BucketStats stats;
    Lease exe;
    bool building = false;  // a thread is compiling/loading it; others wait on cv_
  };
  using MapKey = std::pair<const backend::Backend*, std::string>;  // (instance, Canonical())

  std::vector<BucketStats> ListIf(const backend::Backend* backend) const;
  Result<Lease> Build(backend::Backend& backend, const CacheKey& key,
                      const backend::Bucket& bucket, bool* loaded, double* ms);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  DiskCache* disk_ = nullptr;
  std::map<MapKey, Entry> entries_;
};

}  // namespace lam::cache
