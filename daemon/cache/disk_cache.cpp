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

Status SyncDir(int dir_fd, const std::string& dir) {
  if (::fsync(dir_fd) != 0 && errno != EINVAL) return IoError(errno, "fsync of directory " + dir);
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
DiskCache::~DiskCache() {
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

void DiskCache::DirCloser::operator()(void* d) const { ::closedir(static_cast<DIR*>(d)); }

std::unique_ptr<void, DiskCache::DirCloser> DiskCache::OpenDirStream() const {
  // openat(".") gives a new open file description, so concurrent scans do not share an offset.
  const int fd = ::openat(dir_fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    const int err = errno;
    ::close(fd);
    errno = err;
  }
  return std::unique_ptr<void, DirCloser>(d);
}

int DiskCache::CreateTemp(std::string* name) const {
  // Unique in this directory across processes (pid), threads (counter) and pid reuse (random);
  // the random part also makes the name unguessable, and O_EXCL refuses anything planted there.
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng(std::random_device{}());
  int fd = -1;
  for (int attempt = 0; attempt < 4; ++attempt) {
    char tmp_name[96];
    std::snprintf(tmp_name, sizeof tmp_name, "%s%d-%llu-%016llx", kTempPrefix,
                  static_cast<int>(::getpid()),
                  static_cast<unsigned long long>(counter.fetch_add(1)),
                  static_cast<unsigned long long>(rng()));
    *name = tmp_name;
    fd = ::openat(dir_fd_, tmp_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0 || errno != EEXIST) break;
  }
  return fd;
}

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
  // A directory that someone else controls could be turned against the daemon (planted links,
  // FIFOs, forged entries), so refuse it, and say why in the log as well as in the status.
  auto refuse = [&](const std::string& why) {
    spdlog::warn("cache: refusing cache directory {}: {}", dir, why);
    return Status(LAM_STATUS_PERMISSION_DENIED, "cache directory " + dir + " refused: " + why);
  };
  dir_fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir_fd_ < 0) {
    const int err = errno;
    struct stat lst {};
    if (::lstat(dir.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
      return refuse("it is a symbolic link (configure the directory it points to instead)");
    }
    if (err == ENOTDIR) {
      return Status(LAM_STATUS_IO_ERROR, "cache directory " + dir + " is not a directory");
    }
    return IoError(err, "opening cache directory " + dir);
  }
  struct stat st {};
  if (::fstat(dir_fd_, &st) != 0) return IoError(errno, "cache directory " + dir);
  if (st.st_uid != ::geteuid()) {
    return refuse("it is owned by uid " + std::to_string(st.st_uid) + ", not by this process' uid " +
                  std::to_string(::geteuid()) + " (chown it to the daemon's user)");
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    char mode[16];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return refuse(std::string("it is writable by group or others (mode ") + mode +
                  "; chmod go-w it)");
  }
  // Probe with a real file: access() says yes to root even on a read-only mount. A fresh unique
  // name created with O_EXCL, so nothing planted in the directory is followed or truncated.
  {
    std::string probe;
    const int fd = CreateTemp(&probe);
    if (fd < 0) return IoError(errno, "cache directory " + dir + " is not writable");
    ::close(fd);
    ::unlinkat(dir_fd_, probe.c_str(), 0);
  }

  // Remove temp files of writers that crashed between create and rename.
  auto stream = OpenDirStream();
  if (stream == nullptr) return IoError(errno, "listing cache directory " + dir);
  DIR* d = static_cast<DIR*>(stream.get());
  const auto now = std::chrono::system_clock::now();
  while (const dirent* e = ::readdir(d)) {
    if (!IsTempName(e->d_name)) continue;
    struct stat tst {};
    if (::fstatat(dir_fd_, e->d_name, &tst, AT_SYMLINK_NOFOLLOW) != 0) continue;
    const auto mtime = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(MtimeNs(tst))));
    if (now - mtime < options_.stale_temp_age) continue;  // may belong to a live writer
    if (::unlinkat(dir_fd_, e->d_name, 0) == 0) {
      counters_.stale_temps.fetch_add(1, std::memory_order_relaxed);
      spdlog::info("cache: removed stale temp file {}/{}", dir, e->d_name);
    }
  }
  stream.reset();

  std::lock_guard<std::mutex> lock(mu_);
  return ScanLocked(nullptr);
}

std::string DiskCache::PathFor(const CacheKey& key) const {
  return options_.dir + "/" + key.Hash() + kEntrySuffix;
}

Status DiskCache::ScanLocked(std::vector<DiskCacheEntryInfo>* out) const {
  auto stream = OpenDirStream();
  if (stream == nullptr) return IoError(errno, "listing cache directory " + options_.dir);
  DIR* d = static_cast<DIR*>(stream.get());
  uint64_t entries = 0, bytes = 0;
  while (const dirent* e = ::readdir(d)) {
    if (!IsEntryName(e->d_name)) continue;
    struct stat st {};
    if (::fstatat(dir_fd_, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // raced away
    if (!S_ISREG(st.st_mode)) continue;
    ++entries;
    bytes += static_cast<uint64_t>(st.st_size);
    if (out != nullptr) {
      out->push_back({e->d_name, static_cast<uint64_t>(st.st_size), MtimeNs(st)});
    }
  }
  // A snapshot; other processes may change the directory at any time.
  entries_ = entries;
  bytes_ = bytes;
  return Status::Ok();
}

void DiskCache::Reject(int fd, const std::string& file, const std::string& reason) {
  counters_.corrupt.fetch_add(1, std::memory_order_relaxed);
  // Remove the file only if the name still refers to the inode we judged: a concurrent writer
  // may have renamed a fresh, valid entry over it since we opened it.
  struct stat mine {}, now {};
  bool same = false, removed = false;
  if (::fstat(fd, &mine) == 0 && ::fstatat(dir_fd_, file.c_str(), &now, AT_SYMLINK_NOFOLLOW) == 0 &&
      mine.st_dev == now.st_dev && mine.st_ino == now.st_ino) {
    same = true;
    removed = ::unlinkat(dir_fd_, file.c_str(), S_ISDIR(mine.st_mode) ? AT_REMOVEDIR : 0) == 0;
  }
  spdlog::warn("cache: rejected entry {}/{}: {} ({})", options_.dir, file, reason,
               removed ? "removed" : same ? "cannot remove it" : "already replaced");
}

Result<std::optional<std::vector<uint8_t>>> DiskCache::Get(const CacheKey& key) {
  LAM_RETURN_IF_ERROR(key.Validate());
  const uint64_t t0 = NowNs();
  const std::string file = key.Hash() + kEntrySuffix;
  const std::string path = options_.dir + "/" + file;
  // O_NOFOLLOW: a planted link is never followed. O_NONBLOCK: opening a FIFO (or a device)
  // returns at once instead of waiting for a writer; fstat() below refuses it before any read.
  const int raw = ::openat(dir_fd_, file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (raw < 0) {
    const int err = errno;
    counters_.misses.fetch_add(1, std::memory_order_relaxed);
    if (err == ENOENT) return std::optional<std::vector<uint8_t>>();
    if (err == ELOOP || err == ENXIO) {  // a symbolic link; a socket (or an absent device)
      const bool link = err == ELOOP;
      spdlog::warn("cache: rejected entry {}: {}", path,
                   link ? "is a symbolic link" : "is not a regular file");
      counters_.corrupt.fetch_add(1, std::memory_order_relaxed);
      if (link) ::unlinkat(dir_fd_, file.c_str(), 0);
      return std::optional<std::vector<uint8_t>>();
    }
    return IoError(err, "opening cache entry " + path);
  }
  Fd fd(raw);
  auto miss = [&](const std::string& reason) -> Result<std::optional<std::vector<uint8_t>>> {
    Reject(fd.get(), file, reason);
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

  std::string tmp_name;
  const int raw = CreateTemp(&tmp_name);
  const std::string tmp = options_.dir + "/" + tmp_name;
  if (raw < 0) return IoError(errno, "creating cache temp file " + tmp);
  Fd fd(raw);
  auto fail = [&](Status s) {
    ::unlinkat(dir_fd_, tmp_name.c_str(), 0);
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
  if (::renameat(dir_fd_, tmp_name.c_str(), dir_fd_, file.c_str()) != 0) {
    return fail(IoError(errno, "renaming " + tmp + " to " + path));
  }
  if (options_.sync) LAM_RETURN_IF_ERROR(SyncDir(dir_fd_, options_.dir));

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
    if (::unlinkat(dir_fd_, e.file.c_str(), 0) != 0) {
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
  if (::unlinkat(dir_fd_, (key.Hash() + kEntrySuffix).c_str(), 0) != 0) {
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
    if (::unlinkat(dir_fd_, e.file.c_str(), 0) == 0) {
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
