// SPDX-License-Identifier: MIT
#include "cache/disk_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <random>
#include <utility>

namespace lam::cache {
namespace {

constexpr char kMagic[8] = {'L', 'A', 'M', 'C', 'A', 'C', 'H', 'E'};

// Header byte offsets (little-endian fields).
constexpr size_t kOffVersion = 8;
constexpr size_t kOffHeaderSize = 12;
constexpr size_t kOffKeySize = 16;
constexpr size_t kOffPayloadSize = 24;
constexpr size_t kOffChecksum = 32;
static_assert(kOffChecksum + 16 == kEntryHeaderSize);

void PutLe(uint8_t* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t GetLe(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

std::string Errno(int err) { return std::strerror(err); }

Status IoError(int err, const std::string& what) {
  const lam_status code =
      (err == EACCES || err == EPERM) ? LAM_STATUS_PERMISSION_DENIED : LAM_STATUS_IO_ERROR;
  return Status(code, what + ": " + Errno(err));
}

// Closes a descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now and reports the close() error (it can carry a deferred write error).
  int Close() {
    const int r = ::close(fd_);
    fd_ = -1;
    return r;
  }

 private:
  int fd_;
};

Status WriteAll(int fd, const uint8_t* data, size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(errno, "writing cache file " + path);
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

// Reads exactly `size` bytes at `offset`; returns the count actually read (less on EOF).
Result<size_t> ReadAt(int fd, uint8_t* data, size_t size, uint64_t offset, const std::string& path) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, data + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(errno, "reading cache file " + path);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

Status SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError(errno, "opening cache directory " + dir + " for fsync");
  Fd guard(fd);
  if (::fsync(fd) != 0 && errno != EINVAL) return IoError(errno, "fsync of directory " + dir);
  return Status::Ok();
}

bool IsEntryName(const char* name) {
  const size_t n = std::strlen(name);
  const size_t suffix = sizeof(kEntrySuffix) - 1;
  if (n != 32 + suffix || std::strcmp(name + 32, kEntrySuffix) != 0) return false;
  for (size_t i = 0; i < 32; ++i) {
    const char c = name[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsTempName(const char* name) {
  return std::strncmp(name, kTempPrefix, sizeof(kTempPrefix) - 1) == 0;
}

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

// mkdir -p with mode 0700 for every component we create.
Status MakeDirs(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) return Status::Ok();
  size_t pos = 0;
  while (pos <= dir.size()) {
    const size_t next = dir.find('/', pos);
    const size_t end = next == std::string::npos ? dir.size() : next;
    const std::string partial = dir.substr(0, end);
    pos = end + 1;
    if (partial.empty()) continue;  // leading '/'
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      return IoError(errno, "creating cache directory " + dir + " (at " + partial + ")");
    }
  }
  return Status::Ok();
}

// Explicit CLOCK_REALTIME stamp for mtime: UTIME_NOW uses the kernel's coarse clock (one tick),
// which would make entries written or used within a few milliseconds tie in LRU order.
struct timespec PreciseNow() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return ts;
}

uint64_t NowNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

DiskCache::DiskCache(DiskCacheOptions options) : options_(std::move(options)) {}
DiskCache::~DiskCache() = default;

Result<std::unique_ptr<DiskCache>> DiskCache::Open(const DiskCacheOptions& options) {
  if (options.dir.empty()) return Status(LAM_STATUS_INVALID_ARG, "cache directory is empty");
  if (options.max_bytes == 0) {
    return Status(LAM_STATUS_INVALID_ARG, "cache size cap (max_bytes) must be > 0");
  }
  DiskCacheOptions opts = options;
  while (opts.dir.size() > 1 && opts.dir.back() == '/') opts.dir.pop_back();
  std::unique_ptr<DiskCache> cache(new DiskCache(std::move(opts)));
  LAM_RETURN_IF_ERROR(cache->Init());
  return cache;
}

Status DiskCache::Init() {
  const std::string& dir = options_.dir;
  LAM_RETURN_IF_ERROR(MakeDirs(dir));
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return IoError(errno, "cache directory " + dir);
  if (!S_ISDIR(st.st_mode)) {
    return Status(LAM_STATUS_IO_ERROR, "cache directory " + dir + " is not a directory");
  }
  // Probe with a real file: access() says yes to root even on a read-only mount.
  {
    const std::string probe = dir + "/" + kTempPrefix + "probe-" + std::to_string(::getpid());
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return IoError(errno, "cache directory " + dir + " is not writable");
    ::close(fd);
    ::unlink(probe.c_str());
  }

  // Remove temp files of writers that crashed between create and rename.
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return IoError(errno, "listing cache directory " + dir);
  const auto now = std::chrono::system_clock::now();
  while (const dirent* e = ::readdir(d)) {
    if (!IsTempName(e->d_name)) continue;
    struct stat tst {};
    if (::fstatat(::dirfd(d), e->d_name, &tst, AT_SYMLINK_NOFOLLOW) != 0) continue;
    const auto mtime = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(MtimeNs(tst))));
    if (now - mtime < options_.stale_temp_age) continue;  // may belong to a live writer
    if (::unlinkat(::dirfd(d), e->d_name, 0) == 0) {
      counters_.stale_temps.fetch_add(1, std::memory_order_relaxed);
      spdlog::info("cache: removed stale temp file {}/{}", dir, e->d_name);
    }
  }
  ::closedir(d);

  std::lock_guard<std::mutex> lock(mu_);
  return ScanLocked(nullptr);
}

std::string DiskCache::PathFor(const CacheKey& key) const {
  return options_.dir + "/" + key.Hash() + kEntrySuffix;
}

Status DiskCache::ScanLocked(std::vector<DiskCacheEntryInfo>* out) const {
  DIR* d = ::opendir(options_.dir.c_str());
  if (d == nullptr) return IoError(errno, "listing cache directory " + options_.dir);
  uint64_t entries = 0, bytes = 0;
  while (const dirent* e = ::readdir(d)) {
    if (!IsEntryName(e->d_name)) continue;
    struct stat st {};
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // raced away
    if (!S_ISREG(st.st_mode)) continue;
    ++entries;
    bytes += static_cast<uint64_t>(st.st_size);
    if (out != nullptr) {
      out->push_back({e->d_name, static_cast<uint64_t>(st.st_size), MtimeNs(st)});
    }
  }
  ::closedir(d);
  // A snapshot; other processes may change the directory at any time.
  entries_ = entries;
  bytes_ = bytes;
  return Status::Ok();
}

void DiskCache::Reject(int fd, const std::string& path, const std::string& reason) {
  counters_.corrupt.fetch_add(1, std::memory_order_relaxed);
  // Remove the file only if the name still refers to the inode we judged: a concurrent writer
  // may have renamed a fresh, valid entry over it since we opened it.
  struct stat mine {}, now {};
  bool removed = false;
  if (::fstat(fd, &mine) == 0 && ::stat(path.c_str(), &now) == 0 && mine.st_dev == now.st_dev &&
      mine.st_ino == now.st_ino) {
    removed = ::unlink(path.c_str()) == 0;
  }
  spdlog::warn("cache: rejected entry {}: {} ({})", path, reason,
               removed ? "removed" : "already replaced");
}

Result<std::optional<std::vector<uint8_t>>> DiskCache::Get(const CacheKey& key) {
  LAM_RETURN_IF_ERROR(key.Validate());
  const uint64_t t0 = NowNs();
  const std::string path = PathFor(key);
  const int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (raw < 0) {
    const int err = errno;
    counters_.misses.fetch_add(1, std::memory_order_relaxed);
    if (err == ENOENT) return std::optional<std::vector<uint8_t>>();
    if (err == ELOOP) {
      spdlog::warn("cache: rejected entry {}: is a symbolic link", path);
      counters_.corrupt.fetch_add(1, std::memory_order_relaxed);
      ::unlink(path.c_str());
      return std::optional<std::vector<uint8_t>>();
    }
    return IoError(err, "opening cache entry " + path);
  }
  Fd fd(raw);
  auto miss = [&](const std::string& reason) -> Result<std::optional<std::vector<uint8_t>>> {
    Reject(fd.get(), path, reason);
    counters_.misses.fetch_add(1, std::memory_order_relaxed);
    return std::optional<std::vector<uint8_t>>();
  };

  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return IoError(errno, "stat of cache entry " + path);
  if (!S_ISREG(st.st_mode)) return miss("not a regular file");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);

  uint8_t header[kEntryHeaderSize];
  LAM_ASSIGN_OR_RETURN(const size_t got, ReadAt(fd.get(), header, sizeof header, 0, path));
  if (got < kEntryHeaderSize) {
    return miss("truncated header (" + std::to_string(got) + " of " +
                std::to_string(kEntryHeaderSize) + " bytes)");
  }
  if (std::memcmp(header, kMagic, sizeof kMagic) != 0) return miss("bad magic");
  const uint64_t version = GetLe(header + kOffVersion, 4);
  if (version != kContainerVersion) {
    return miss("container version " + std::to_string(version) + ", this build reads " +
                std::to_string(kContainerVersion));
  }
  const uint64_t header_size = GetLe(header + kOffHeaderSize, 4);
  const uint64_t key_size = GetLe(header + kOffKeySize, 8);
  const uint64_t payload_size = GetLe(header + kOffPayloadSize, 8);
  if (header_size != kEntryHeaderSize) {
    return miss("header size " + std::to_string(header_size) + ", expected " +
                std::to_string(kEntryHeaderSize));
  }
  if (key_size == 0 || key_size > kMaxKeySize) {
    return miss("key size " + std::to_string(key_size) + " out of range");
  }
  // payload_size is untrusted: compare without overflow before using it.
  if (payload_size > file_size || file_size - payload_size != header_size + key_size) {
    return miss("size mismatch: header declares " + std::to_string(key_size) + "+" +
                std::to_string(payload_size) + " bytes after the header, file has " +
                std::to_string(file_size) + " bytes in all");
  }

  std::string stored_key(key_size, '\0');
  std::vector<uint8_t> payload(payload_size);
  LAM_ASSIGN_OR_RETURN(const size_t got_key,
                       ReadAt(fd.get(), reinterpret_cast<uint8_t*>(stored_key.data()), key_size,
                              header_size, path));
  LAM_ASSIGN_OR_RETURN(const size_t got_payload,
                       ReadAt(fd.get(), payload.data(), payload_size, header_size + key_size, path));
  if (got_key != key_size || got_payload != payload_size) {
    return miss("file shrank while reading (truncated)");
  }

  XXH3_state_t* state = XXH3_createState();
  if (state == nullptr) return Status(LAM_STATUS_INTERNAL, "out of memory for a hash state");
  XXH3_128bits_reset(state);
  XXH3_128bits_update(state, stored_key.data(), stored_key.size());
  XXH3_128bits_update(state, payload.data(), payload.size());
  const XXH128_hash_t sum = XXH3_128bits_digest(state);
  XXH3_freeState(state);
  if (GetLe(header + kOffChecksum, 8) != sum.high64 ||
      GetLe(header + kOffChecksum + 8, 8) != sum.low64) {
    return miss("checksum mismatch");
  }
  if (stored_key != key.Canonical()) return miss("entry holds a different key (foreign file)");

  // Record the use for LRU. Failure (e.g. read-only directory) only degrades eviction order.
  const struct timespec times[2] = {{0, UTIME_OMIT}, PreciseNow()};
  if (::futimens(fd.get(), times) != 0) {
    spdlog::debug("cache: cannot update mtime of {}: {}", path, Errno(errno));
  }
  counters_.hits.fetch_add(1, std::memory_order_relaxed);
  counters_.load_ns.fetch_add(NowNs() - t0, std::memory_order_relaxed);
  return std::optional<std::vector<uint8_t>>(std::move(payload));
}

Status DiskCache::Put(const CacheKey& key, std::span<const uint8_t> payload) {
  LAM_RETURN_IF_ERROR(key.Validate());
  const uint64_t t0 = NowNs();
  const std::string canonical = key.Canonical();
  const std::string file = key.Hash() + kEntrySuffix;
  const std::string path = options_.dir + "/" + file;

  uint8_t header[kEntryHeaderSize] = {};
  std::memcpy(header, kMagic, sizeof kMagic);
  PutLe(header + kOffVersion, kContainerVersion, 4);
  PutLe(header + kOffHeaderSize, kEntryHeaderSize, 4);
  PutLe(header + kOffKeySize, canonical.size(), 8);
  PutLe(header + kOffPayloadSize, payload.size(), 8);
  XXH3_state_t* state = XXH3_createState();
  if (state == nullptr) return Status(LAM_STATUS_INTERNAL, "out of memory for a hash state");
  XXH3_128bits_reset(state);
  XXH3_128bits_update(state, canonical.data(), canonical.size());
  XXH3_128bits_update(state, payload.data(), payload.size());
  const XXH128_hash_t sum = XXH3_128bits_digest(state);
  XXH3_freeState(state);
  PutLe(header + kOffChecksum, sum.high64, 8);
  PutLe(header + kOffChecksum + 8, sum.low64, 8);

  // Unique in this directory across processes (pid), threads (counter) and pid reuse (random).
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng(std::random_device{}());
  char tmp_name[96];
  std::snprintf(tmp_name, sizeof tmp_name, "%s%d-%llu-%016llx", kTempPrefix,
                static_cast<int>(::getpid()),
                static_cast<unsigned long long>(counter.fetch_add(1)),
                static_cast<unsigned long long>(rng()));
  const std::string tmp = options_.dir + "/" + tmp_name;

  const int raw = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (raw < 0) return IoError(errno, "creating cache temp file " + tmp);
  Fd fd(raw);
  auto fail = [&](Status s) {
    ::unlink(tmp.c_str());
    return s;
  };
  Status s = WriteAll(fd.get(), header, sizeof header, tmp);
  if (s.ok()) {
    s = WriteAll(fd.get(), reinterpret_cast<const uint8_t*>(canonical.data()), canonical.size(),
                 tmp);
  }
  if (s.ok()) s = WriteAll(fd.get(), payload.data(), payload.size(), tmp);
  if (!s.ok()) return fail(std::move(s));
  const struct timespec times[2] = {{0, UTIME_OMIT}, PreciseNow()};
  if (::futimens(fd.get(), times) != 0) {
    return fail(IoError(errno, "setting mtime of cache temp file " + tmp));
  }
  if (options_.sync && ::fsync(fd.get()) != 0) {
    return fail(IoError(errno, "fsync of cache temp file " + tmp));
  }
  if (fd.Close() != 0) return fail(IoError(errno, "closing cache temp file " + tmp));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(IoError(errno, "renaming " + tmp + " to " + path));
  }
  if (options_.sync) LAM_RETURN_IF_ERROR(SyncDir(options_.dir));

  const uint64_t written = kEntryHeaderSize + canonical.size() + payload.size();
  counters_.puts.fetch_add(1, std::memory_order_relaxed);
  counters_.bytes_written.fetch_add(written, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mu_);
    LAM_RETURN_IF_ERROR(EvictLocked(file));
  }
  counters_.store_ns.fetch_add(NowNs() - t0, std::memory_order_relaxed);
  return Status::Ok();
}

Status DiskCache::EvictLocked(const std::string& keep_file) {
  // Rescan: other processes write to the same directory, so only the directory is the truth.
  std::vector<DiskCacheEntryInfo> entries;
  LAM_RETURN_IF_ERROR(ScanLocked(&entries));
  if (bytes_ <= options_.max_bytes) return Status::Ok();
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.mtime_ns != b.mtime_ns ? a.mtime_ns < b.mtime_ns : a.file < b.file;
  });
  for (const DiskCacheEntryInfo& e : entries) {
    if (bytes_ <= options_.max_bytes) break;
    if (e.file == keep_file) continue;
    const std::string p = options_.dir + "/" + e.file;
    if (::unlink(p.c_str()) != 0) {
      if (errno == ENOENT) {  // another process evicted it first
        bytes_ -= std::min(bytes_, e.bytes);
        --entries_;
        continue;
      }
      spdlog::warn("cache: cannot evict {}: {}", p, Errno(errno));
      continue;
    }
    bytes_ -= std::min(bytes_, e.bytes);
    --entries_;
    counters_.evictions.fetch_add(1, std::memory_order_relaxed);
    spdlog::debug("cache: evicted {} ({} bytes)", p, e.bytes);
  }
  if (bytes_ > options_.max_bytes) {
    spdlog::warn("cache: {} holds {} bytes, above the cap of {} (the newest entry alone exceeds it)",
                 options_.dir, bytes_, options_.max_bytes);
  }
  return Status::Ok();
}

Status DiskCache::Remove(const CacheKey& key) {
  LAM_RETURN_IF_ERROR(key.Validate());
  const std::string path = PathFor(key);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return Status(LAM_STATUS_NOT_FOUND, "no cache entry " + path);
    return IoError(errno, "removing cache entry " + path);
  }
  std::lock_guard<std::mutex> lock(mu_);
  return ScanLocked(nullptr);
}

Result<uint64_t> DiskCache::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<DiskCacheEntryInfo> entries;
  LAM_RETURN_IF_ERROR(ScanLocked(&entries));
  uint64_t removed = 0;
  for (const DiskCacheEntryInfo& e : entries) {
    const std::string p = options_.dir + "/" + e.file;
    if (::unlink(p.c_str()) == 0) {
      ++removed;
    } else if (errno != ENOENT) {
      return IoError(errno, "removing cache entry " + p);
    }
  }
  LAM_RETURN_IF_ERROR(ScanLocked(nullptr));
  return removed;
}

Result<std::vector<DiskCacheEntryInfo>> DiskCache::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<DiskCacheEntryInfo> entries;
  LAM_RETURN_IF_ERROR(ScanLocked(&entries));
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.mtime_ns != b.mtime_ns ? a.mtime_ns > b.mtime_ns : a.file < b.file;
  });
  return entries;
}

DiskCacheStats DiskCache::stats() const {
  DiskCacheStats s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s.entries = entries_;
    s.bytes = bytes_;
  }
  s.hits = counters_.hits.load(std::memory_order_relaxed);
  s.misses = counters_.misses.load(std::memory_order_relaxed);
  s.corrupt_rejected = counters_.corrupt.load(std::memory_order_relaxed);
  s.evictions = counters_.evictions.load(std::memory_order_relaxed);
  s.puts = counters_.puts.load(std::memory_order_relaxed);
  s.bytes_written = counters_.bytes_written.load(std::memory_order_relaxed);
  s.stale_temps_removed = counters_.stale_temps.load(std::memory_order_relaxed);
  s.load_ms = static_cast<double>(counters_.load_ns.load(std::memory_order_relaxed)) / 1e6;
  s.store_ms = static_cast<double>(counters_.store_ns.load(std::memory_order_relaxed)) / 1e6;
  return s;
}

}  // namespace lam::cache
