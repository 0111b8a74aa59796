// SPDX-License-Identifier: MIT
// Anonymous, sealed memfd segments mapped with Boost.Interprocess. Header-only (libc, std and
// Boost headers only): the daemon creates and maps, the client maps what it received over
// SCM_RIGHTS, both through the same adapter.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/interprocess/detail/os_file_functions.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

namespace lam::shm {

// What boost::interprocess::mapped_region needs from a "memory mappable" object, built from a
// plain file descriptor (a memfd) instead of a named shm object or a file.
class MemfdMappable {
 public:
  MemfdMappable(int fd, boost::interprocess::mode_t mode)
      : handle_(boost::interprocess::ipcdetail::mapping_handle_from_file_handle(fd)), mode_(mode) {}
  boost::interprocess::mapping_handle_t get_mapping_handle() const { return handle_; }
  boost::interprocess::mode_t get_mode() const { return mode_; }

 private:
  boost::interprocess::mapping_handle_t handle_;
  boost::interprocess::mode_t mode_;
};

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

  // Maps `size` bytes of an existing memfd read-write.
  static MemfdRegion Map(int fd, uint64_t size, std::string* error) {
    MemfdRegion r;
    try {
      MemfdMappable m(fd, boost::interprocess::read_write);
      r.region_ = std::make_unique<boost::interprocess::mapped_region>(
          m, boost::interprocess::read_write, 0, static_cast<std::size_t>(size));
    } catch (const std::exception& e) {
      *error = std::string("mapping the segment: ") + e.what();
      r.region_.reset();
    }
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

  char* data() const { return region_ ? static_cast<char*>(region_->get_address()) : nullptr; }
  uint64_t size() const { return region_ ? region_->get_size() : 0; }

 private:
  std::unique_ptr<boost::interprocess::mapped_region> region_;
};

}  // namespace lam::shm
