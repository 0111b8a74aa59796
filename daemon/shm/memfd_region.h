// SPDX-License-Identifier: MIT
// Anonymous, sealed memfd segments and their mappings. Header-only (libc and std only): the
// daemon creates and maps, the client maps what it received over SCM_RIGHTS, both through the
// same class. A memfd mapping is one mmap(2) of a descriptor; Boost.Interprocess once did it here
// through an adapter type, but liblamclient must build with nothing but a C/C++ toolchain.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

namespace lam::shm {

// Owns a file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// A mapped memfd. Movable; unmaps on destruction (the fd is closed separately by its owner).
class MemfdRegion {
 public:
  MemfdRegion() = default;
  MemfdRegion(MemfdRegion&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  MemfdRegion& operator=(MemfdRegion&& o) noexcept {
    if (this != &o) {
      Unmap();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  MemfdRegion(const MemfdRegion&) = delete;
  MemfdRegion& operator=(const MemfdRegion&) = delete;
  ~MemfdRegion() { Unmap(); }

  // Creates a sealed anonymous memfd of `size` bytes and maps it read-write. On failure returns
  // an empty region and sets `*error` to a message with the failing call and errno.
  static MemfdRegion Create(const char* name, uint64_t size, UniqueFd* fd_out, std::string* error) {
    MemfdRegion r;
    UniqueFd fd(::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd) {
      *error = std::string("memfd_create: ") + std::strerror(errno);
      return r;
    }
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
      *error = std::string("ftruncate: ") + std::strerror(errno);
      return r;
    }
    // The size is fixed for the life of the segment: neither side can pull pages away from
    // the other (SIGBUS) or grow it behind the daemon's back.
    if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
      *error = std::string("F_ADD_SEALS: ") + std::strerror(errno);
      return r;
    }
    r = Map(fd.get(), size, error);
    if (r.data() != nullptr) *fd_out = std::move(fd);
    return r;
  }

  // Maps `size` bytes of an existing memfd read-write and shared. A zero size, or one that does
  // not fit a size_t, is refused rather than passed to mmap.
  static MemfdRegion Map(int fd, uint64_t size, std::string* error) {
    MemfdRegion r;
    if (size == 0 || size > static_cast<uint64_t>(SIZE_MAX)) {
      *error = "mapping the segment: size " + std::to_string(size) + " is not mappable";
      return r;
    }
    void* p = ::mmap(nullptr, static_cast<std::size_t>(size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      *error = std::string("mapping the segment: mmap: ") + std::strerror(errno);
      return r;
    }
    r.data_ = static_cast<char*>(p);
    r.size_ = size;
    return r;
  }

  // Size of the file behind `fd` (for a received memfd), or -1.
  static int64_t FdSize(int fd) {
    struct stat st;
    if (::fstat(fd, &st) != 0) return -1;
    return static_cast<int64_t>(st.st_size);
  }

  // True if `fd` carries at least the shrink and grow seals (the client checks what it got).
  static bool IsSealed(int fd) {
    const int seals = ::fcntl(fd, F_GET_SEALS);
    return seals >= 0 && (seals & F_SEAL_SHRINK) && (seals & F_SEAL_GROW);
  }

  char* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  void Unmap() {
    if (data_ != nullptr) ::munmap(data_, static_cast<std::size_t>(size_));
    data_ = nullptr;
    size_ = 0;
  }

  char* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace lam::shm
