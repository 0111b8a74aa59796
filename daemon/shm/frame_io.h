// SPDX-License-Identifier: MIT
// Blocking frame I/O on the control socket for liblamclient and lamctl (the daemon uses libuv).
// Header-only, libc/C++-std only.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "shm/protocol.h"

namespace lam::shm {

inline int64_t MonotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Connects a blocking, close-on-exec Unix stream socket to `path`; -1 with errno on failure.
inline int ConnectUnix(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int e = errno;
    ::close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

// Writes a whole frame; false on error (errno set). MSG_NOSIGNAL: a dead peer is an error,
// not a SIGPIPE in the caller's process.
inline bool SendFrame(int fd, uint16_t type, const void* payload, uint32_t size) {
  std::vector<char> buf(sizeof(FrameHeader) + size);
  FrameHeader h{kFrameMagic, kControlProtoMajor, type, size, 0};
  std::memcpy(buf.data(), &h, sizeof(h));
  if (size != 0) std::memcpy(buf.data() + sizeof(h), payload, size);
  size_t off = 0;
  while (off < buf.size()) {
    const ssize_t n = ::send(fd, buf.data() + off, buf.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return true;
}

// kBadFrame: not a lamd frame (magic) or larger than the reader accepts. kVersionMismatch: a lamd
// frame of another control-protocol major; its payload is not read (its layout is unknown).
enum class RecvResult { kOk, kEof, kTimeout, kError, kBadFrame, kVersionMismatch };

// One poll + recvmsg before `deadline_ns` (monotonic; < 0 = none): reads what has arrived, 1 to
// `cap` bytes, into dst (*got), collecting any SCM_RIGHTS descriptors into `fds` (close-on-exec;
// closed at once when fds is null).
inline RecvResult RecvSome(int fd, char* dst, size_t cap, int64_t deadline_ns, std::vector<int>* fds, size_t* got) {
  for (;;) {
    int wait_ms = -1;
    if (deadline_ns >= 0) {
      const int64_t left = deadline_ns - MonotonicNs();
      if (left <= 0) return RecvResult::kTimeout;
      wait_ms = static_cast<int>((left + 999999) / 1000000);
    }
    pollfd p{fd, POLLIN, 0};
    const int pr = ::poll(&p, 1, wait_ms);
    if (pr < 0) {
      if (errno == EINTR) continue;
      return RecvResult::kError;
    }
    if (pr == 0) continue;  // re-check the deadline
    iovec iov{dst, cap};
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 4)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof(cbuf);
    const ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return RecvResult::kError;
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        const size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfd; ++i) {
          int f;
          std::memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
          if (fds != nullptr) {
            fds->push_back(f);
          } else {
            ::close(f);
          }
        }
      }
    }
    if (n == 0) return RecvResult::kEof;
    *got = static_cast<size_t>(n);
    return RecvResult::kOk;
  }
}

// Reads exactly `len` bytes (see RecvSome for the deadline and the descriptors).
inline RecvResult RecvExact(int fd, char* dst, size_t len, int64_t deadline_ns, std::vector<int>* fds) {
  size_t got = 0;
  while (got < len) {
    size_t n = 0;
    const RecvResult r = RecvSome(fd, dst + got, len - got, deadline_ns, fds, &n);
    if (r != RecvResult::kOk) return r;
    got += n;
  }
  return RecvResult::kOk;
}

// Reads one frame. A frame with a foreign magic (or too large) is kBadFrame, one with another
// control major kVersionMismatch; the header is still returned so that the caller can report the
// peer's version (h->proto_major).
inline RecvResult RecvFrame(int fd, FrameHeader* h, std::vector<char>* payload, int64_t deadline_ns,
                            std::vector<int>* fds, uint32_t max_payload = kMaxDaemonFramePayload) {
  RecvResult r = RecvExact(fd, reinterpret_cast<char*>(h), sizeof(*h), deadline_ns, fds);
  if (r != RecvResult::kOk) return r;
  if (h->magic != kFrameMagic) return RecvResult::kBadFrame;
  if (h->proto_major != kControlProtoMajor) return RecvResult::kVersionMismatch;
  if (h->payload_size > max_payload) return RecvResult::kBadFrame;
  payload->resize(h->payload_size);
  if (h->payload_size == 0) return RecvResult::kOk;
  return RecvExact(fd, payload->data(), h->payload_size, deadline_ns, fds);
}

}  // namespace lam::shm
