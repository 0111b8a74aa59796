// SPDX-License-Identifier: MIT
#include "cache/executable_cache.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "cache/disk_cache.h"

namespace lam::cache {
namespace {

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

CacheKey MakeExecutableKey(const ExecutableIdentity& id, const backend::Bucket& bucket) {
  CacheKey k;
  k.model_fingerprint = id.model_fingerprint;
  k.backend = id.backend;
  k.device = id.device;
  k.toolkit = id.toolkit;
  k.driver = id.driver;
  k.precision = id.precision;
  k.bucket = bucket.ToString();
  k.artifact = id.artifact;
  return k;
}

const char* WarmSourceName(WarmProgress::Source s) {
  switch (s) {
    case WarmProgress::Source::kResident:
      return "resident";
    case WarmProgress::Source::kLoaded:
      return "loaded";
    case WarmProgress::Source::kCompiled:
      return "compiled";
  }
  return "?";
}

ExecutableCache& ExecutableCache::Global() {
  static ExecutableCache* cache = new ExecutableCache();  // never destroyed: used at exit
  return *cache;
}

void ExecutableCache::AttachDisk(DiskCache* disk) {
  std::lock_guard<std::mutex> lock(mu_);
  disk_ = disk;
}

DiskCache* ExecutableCache::disk() const {
  std::lock_guard<std::mutex> lock(mu_);
  return disk_;
}

Result<ExecutableCache::Lease> ExecutableCache::Build(backend::Backend& backend,
                                                      const CacheKey& key,
                                                      const backend::Bucket& bucket, bool* loaded,
                                                      double* ms) {
  DiskCache* disk;
  {
    std::lock_guard<std::mutex> lock(mu_);
    disk = disk_;
  }
  auto* codec = dynamic_cast<ExecutableCodec*>(&backend);
  CacheKey disk_key = key;
  if (codec != nullptr) disk_key.format_version = codec->payload_format();
  *loaded = false;
  if (codec != nullptr && disk != nullptr) {
    const auto t0 = std::chrono::steady_clock::now();
    auto got = disk->Get(disk_key);
    if (!got.ok()) {
      spdlog::warn("executable cache: reading {} failed: {}", bucket.ToString(), got.status().ToString());
    } else if (got->has_value()) {
      auto exe = codec->Deserialize(bucket, **got);
      if (exe.ok()) {
        *loaded = true;
        *ms = MsSince(t0);
        return Lease(std::move(exe).value());
      }
      // A stored payload the backend cannot use (e.g. a changed driver) is replaced below.
      spdlog::warn("executable cache: stored {} is unusable ({}); recompiling", bucket.ToString(),
                   exe.status().ToString());
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  LAM_ASSIGN_OR_RETURN(std::unique_ptr<backend::Executable> exe, backend.Compile(bucket));
  *ms = MsSince(t0);
  if (codec != nullptr && disk != nullptr) {
    auto bytes = codec->Serialize(*exe);
    Status st = bytes.ok() ? disk->Put(disk_key, *bytes) : bytes.status();
    // The executable is still good for this process; only the next start loses the hit.
    if (!st.ok()) spdlog::warn("executable cache: storing {} failed: {}", bucket.ToString(), st.ToString());
  }
  return Lease(std::move(exe));
}

Result<ExecutableCache::Lease> ExecutableCache::GetOrCompile(backend::Backend& backend,
                                                             const ExecutableIdentity& id,
                                                             const backend::Bucket& bucket) {
  const CacheKey key = MakeExecutableKey(id, bucket);
  const MapKey mk{&backend, key.Canonical()};
  std::unique_lock<std::mutex> lock(mu_);
  auto [it, inserted] = entries_.try_emplace(mk);
  Entry* e = &it->second;
  if (inserted) {
    e->stats.key = key;
    e->stats.bucket = bucket.ToString();
    e->stats.shape = bucket;
  }
  cv_.wait(lock, [&] { return !e->building; });  // map nodes are stable; ForgetBackend waits too
  e->stats.last_use_unix_ms = NowUnixMs();
  if (e->exe) {
    ++e->stats.hits;
    return e->exe;
  }
  ++e->stats.misses;
  e->building = true;
  lock.unlock();
  bool loaded = false;
  double ms = 0;
  Result<Lease> built = Build(backend, key, bucket, &loaded, &ms);
  lock.lock();
  e->building = false;
  cv_.notify_all();
  if (!built.ok()) return built.status();
  if (loaded) {
    ++e->stats.loads;
    e->stats.load_ms += ms;
  } else {
    ++e->stats.compiles;
    e->stats.compile_ms += ms;
  }
  e->exe = *built;
  e->stats.resident = 1;
  e->stats.bytes = e->exe->byte_size();
  return e->exe;
}

Status ExecutableCache::Warm(backend::Backend& backend, const ExecutableIdentity& id,
                             const std::vector<backend::Bucket>& buckets,
                             const std::function<void(const WarmProgress&)>& progress) {
  for (size_t i = 0; i < buckets.size(); ++i) {
    const CacheKey key = MakeExecutableKey(id, buckets[i]);
    uint64_t compiles0 = 0, loads0 = 0;
    double cms0 = 0, lms0 = 0;
    bool resident = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = entries_.find({&backend, key.Canonical()});
      if (it != entries_.end()) {
        resident = it->second.exe != nullptr;
        compiles0 = it->second.stats.compiles;
        loads0 = it->second.stats.loads;
        cms0 = it->second.stats.compile_ms;
        lms0 = it->second.stats.load_ms;
      }
    }
    WarmProgress p;
    p.index = i + 1;
    p.total = buckets.size();
    p.bucket = buckets[i].ToString();
    if (resident) {
      p.source = WarmProgress::Source::kResident;
    } else {
      LAM_ASSIGN_OR_RETURN(Lease lease, GetOrCompile(backend, id, buckets[i]));
      (void)lease;
      std::lock_guard<std::mutex> lock(mu_);
      const BucketStats& s = entries_.at({&backend, key.Canonical()}).stats;
      if (s.loads > loads0) {
        p.source = WarmProgress::Source::kLoaded;
        p.ms = s.load_ms - lms0;
      } else if (s.compiles > compiles0) {
        p.source = WarmProgress::Source::kCompiled;
        p.ms = s.compile_ms - cms0;
      } else {
        p.source = WarmProgress::Source::kResident;  // another thread built it meanwhile
      }
    }
    if (progress) progress(p);
  }
  return Status::Ok();
}

std::vector<BucketStats> ExecutableCache::ListIf(const backend::Backend* backend) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<BucketStats> out;
  out.reserve(entries_.size());
  for (const auto& [mk, e] : entries_) {
    if (backend != nullptr && mk.first != backend) continue;
    BucketStats s = e.stats;
    s.in_use = e.exe ? static_cast<uint64_t>(e.exe.use_count() - 1) : 0;
    out.push_back(std::move(s));
  }
  std::stable_sort(out.begin(), out.end(), [](const BucketStats& a, const BucketStats& b) {
    return a.shape.token_budget != b.shape.token_budget ? a.shape.token_budget < b.shape.token_budget
                                                        : a.shape.max_sequences < b.shape.max_sequences;
  });
  return out;
}

std::vector<BucketStats> ExecutableCache::List() const { return ListIf(nullptr); }

std::vector<BucketStats> ExecutableCache::ListFor(const backend::Backend* backend) const {
  return backend == nullptr ? std::vector<BucketStats>{} : ListIf(backend);
}

CacheTotals ExecutableCache::Sum(const std::vector<BucketStats>& stats) {
  CacheTotals t;
  for (const auto& s : stats) {
    t.resident += s.resident;
    t.bytes += s.bytes;
    t.hits += s.hits;
    t.misses += s.misses;
    t.compiles += s.compiles;
    t.loads += s.loads;
    t.compile_ms += s.compile_ms;
    t.load_ms += s.load_ms;
  }
  return t;
}

CacheTotals ExecutableCache::Totals() const { return Sum(List()); }

size_t ExecutableCache::Clear(const backend::Backend* backend) {
  std::vector<Lease> dropped;  // destroyed outside the lock
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [mk, e] : entries_) {
      if (backend != nullptr && mk.first != backend) continue;
      if (e.exe && e.exe.use_count() == 1) {
        dropped.push_back(std::move(e.exe));
        e.exe.reset();
        e.stats.resident = 0;
        e.stats.bytes = 0;
      }
    }
  }
  return dropped.size();
}

void ExecutableCache::ForgetBackend(const backend::Backend* backend) {
  std::vector<Lease> dropped;
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] {
    return std::none_of(entries_.begin(), entries_.end(),
                        [&](const auto& kv) { return kv.first.first == backend && kv.second.building; });
  });
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->first.first == backend) {
      if (it->second.exe) dropped.push_back(std::move(it->second.exe));
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  lock.unlock();
}

}  // namespace lam::cache
