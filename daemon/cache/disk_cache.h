// SPDX-License-Identifier: MIT
// DiskCache: the persistent, process-shared store of compiled artefacts (cubins, plans) under
// the cache directory (default /var/cache/lamd).
//
// Entry file  <dir>/<XXH3-128 of the canonical key>.lamc:
//   header  { magic "LAMCACHE", container version, header size, key size, payload size,
//             XXH3-128 over key + payload }  (fixed 48 bytes, little-endian)
//   key     the full canonical key string (CacheKey::Canonical())
//   payload the artefact bytes
//
// Guarantees:
//   * Writers never expose a partial entry: write to a unique temp file in the same directory,
//     fsync it, rename() it over the final name, fsync the directory. Any reader that opens the
//     name sees either the old complete inode or the new complete inode.
//   * Readers open once and validate everything from that one descriptor (magic, version,
//     sizes against the file size, key string, checksum) before returning bytes. A truncated,
//     bit-flipped, foreign-key or foreign-version entry is logged (warn, file and reason),
//     removed and reported as a miss; it is never returned and never crashes the reader.
//   * Size cap with LRU eviction. Recency is the entry's mtime, set explicitly by Put and
//     bumped with futimens() by every hit (atime is unusable: noatime/relatime mounts). mtime is
//     shared by all processes using the directory, so recency is global, and it survives
//     restarts without an index file that could itself be torn. Ties break by file name.
//   * Temp files left by crashed writers (older than a minute) are removed by Open().
//   * The directory cannot be turned against the daemon. Open() refuses a directory that is a
//     symbolic link, is owned by another user than the process' effective uid, or is writable
//     by group or others (logged at warn with the reason; lamd then runs without a disk cache).
//     Every later access is relative to the directory descriptor opened then (openat and
//     friends), so a path component swapped afterwards cannot redirect it; every open uses
//     O_NOFOLLOW, reads open with O_NONBLOCK and refuse anything but a regular file before
//     reading (a FIFO cannot hang a lookup), and files are only ever created with O_EXCL under
//     fresh unique names (the writability probe included), so nothing is truncated or followed.
// Thread-safe; several processes may share one directory.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cache/cache_key.h"
#include "common/status.h"

namespace lam::cache {

inline constexpr char kDefaultCacheDir[] = "/var/cache/lamd";
inline constexpr char kEntrySuffix[] = ".lamc";
inline constexpr char kTempPrefix[] = ".tmp-";
// Version of the on-disk container (header layout). Entries of another version are rejected.
inline constexpr uint32_t kContainerVersion = 1;
inline constexpr size_t kEntryHeaderSize = 48;
// Upper bound for a stored key string; larger values in a header mean corruption.
inline constexpr uint64_t kMaxKeySize = 64 * 1024;

struct DiskCacheOptions {
  std::string dir = kDefaultCacheDir;
  uint64_t max_bytes = 2ull << 30;  // total size cap of all entries (headers included)
  bool sync = true;                 // fsync entries and the directory (turn off only in tests)
  std::chrono::seconds stale_temp_age{60};
};

struct DiskCacheStats {
  uint64_t entries = 0;            // entries currently in the directory (as last scanned/updated)
  uint64_t bytes = 0;              // their total size on disk
  uint64_t hits = 0;               // Get() that returned an entry
  uint64_t misses = 0;             // Get() that returned nothing (absent or rejected)
  uint64_t corrupt_rejected = 0;   // entries rejected as corrupt/foreign and removed
  uint64_t evictions = 0;          // entries removed by the size cap
  uint64_t puts = 0;               // successful Put() calls
  uint64_t bytes_written = 0;      // bytes written by successful Put() calls
  uint64_t stale_temps_removed = 0;
  double load_ms = 0;              // total time spent in Get() calls that hit
  double store_ms = 0;             // total time spent in successful Put() calls
};

// One entry as listed by List() (for `lamctl cache ls`).
struct DiskCacheEntryInfo {
  std::string file;  // file name inside the directory
  uint64_t bytes = 0;
  int64_t mtime_ns = 0;  // last use
};

class DiskCache {
 public:
  // Opens (creating with mode 0700 if missing, parents included) the directory, checks that it
  // is a writable directory that only this user controls (see above), removes stale temp files
  // and scans existing entries.
  // Errors: PERMISSION_DENIED (not writable, or refused as unsafe) / IO_ERROR / INVALID_ARG,
  // with the path and the reason.
  static Result<std::unique_ptr<DiskCache>> Open(const DiskCacheOptions& options);

  DiskCache(const DiskCache&) = delete;
  DiskCache& operator=(const DiskCache&) = delete;
  ~DiskCache();

  // nullopt on a miss (absent, or rejected as corrupt — which is logged and removed). An error
  // only for failures that are not about the entry's contents (e.g. EIO while reading).
  Result<std::optional<std::vector<uint8_t>>> Get(const CacheKey& key);

  // Atomically stores (replaces) the entry, then evicts least-recently-used entries other than
  // this one until the directory is under the cap.
  Status Put(const CacheKey& key, std::span<const uint8_t> payload);

  // Removes the entry if present. NOT_FOUND if it was not there.
  Status Remove(const CacheKey& key);
  // Removes every entry (and temp file) in the directory; returns how many entries were removed.
  Result<uint64_t> Clear();
  // Current entries, most recently used first.
  Result<std::vector<DiskCacheEntryInfo>> List() const;

  DiskCacheStats stats() const;
  const std::string& dir() const { return options_.dir; }
  // Full path of the file that holds `key`.
  std::string PathFor(const CacheKey& key) const;

 private:
  struct Counters {
    std::atomic<uint64_t> hits{0}, misses{0}, corrupt{0}, evictions{0}, puts{0},
        bytes_written{0}, stale_temps{0}, load_ns{0}, store_ns{0};
  };

  explicit DiskCache(DiskCacheOptions options);
  Status Init();
  // Rescans the directory; fills entries/bytes. Caller holds mu_.
  Status ScanLocked(std::vector<DiskCacheEntryInfo>* out) const;
  Status EvictLocked(const std::string& keep_file);
  void Reject(int fd, const std::string& file, const std::string& reason);
  // Creates a fresh temp file (O_EXCL|O_NOFOLLOW, unique name) in the directory; its name goes
  // to *name. Returns the descriptor, or -1 with errno set.
  int CreateTemp(std::string* name) const;
  // A fresh directory stream over dir_fd_ (its own offset). nullptr with errno set on failure.
  struct DirCloser {
    void operator()(void* d) const;
  };
  std::unique_ptr<void, DirCloser> OpenDirStream() const;

  DiskCacheOptions options_;
  int dir_fd_ = -1;  // the directory as opened and checked by Init(); all access is relative to it
  mutable std::mutex mu_;  // guards entries_/bytes_ and serialises eviction in this process
  mutable uint64_t entries_ = 0;  // snapshot from the last scan
  mutable uint64_t bytes_ = 0;
  Counters counters_;
};

}  // namespace lam::cache
