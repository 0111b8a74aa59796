// SPDX-License-Identifier: MIT
// A raw control-socket client (no liblamclient), for tests that send what lamctl and the library
// never would: frames before hello, foreign majors, bytes that are not UTF-8.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "lam/lam_version.h"
#include "shm/frame_io.h"
#include "shm/protocol.h"
#include "shm/shm_abi.h"

namespace lam::testing {

// A blocking control connection spoken by hand.
class RawControl {
 public:
  RawControl() = default;
  RawControl(const RawControl&) = delete;
  RawControl& operator=(const RawControl&) = delete;
  ~RawControl() { Close(); }

  bool Connect(const std::string& socket) {
    Close();
    fd_ = shm::ConnectUnix(socket);
    return fd_ >= 0;
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }

  bool SendRaw(const void* data, size_t n) {
    return ::send(fd_, data, n, MSG_NOSIGNAL) == static_cast<ssize_t>(n);
  }
  bool Send(uint16_t type, const std::string& payload, uint16_t major = shm::kControlProtoMajor) {
    std::string buf(sizeof(shm::FrameHeader) + payload.size(), '\0');
    const shm::FrameHeader h{shm::kFrameMagic, major, type, static_cast<uint32_t>(payload.size()), 0};
    std::memcpy(buf.data(), &h, sizeof(h));
    std::memcpy(buf.data() + sizeof(h), payload.data(), payload.size());
    return SendRaw(buf.data(), buf.size());
  }

  // Reads one frame (descriptors received are closed). kOk fills *type and *payload.
  shm::RecvResult Recv(uint16_t* type, std::string* payload, int timeout_ms = 5000) {
    shm::FrameHeader h{};
    std::vector<char> body;
    std::vector<int> fds;
    const auto r = shm::RecvFrame(fd_, &h, &body, shm::MonotonicNs() + int64_t{timeout_ms} * 1000000, &fds);
    for (int f : fds) ::close(f);
    if (r == shm::RecvResult::kOk) {
      *type = h.type;
      payload->assign(body.begin(), body.end());
    }
    return r;
  }

  // Says hello (with a segment when `segment`); returns the reply's status, -1 without a reply.
  int Hello(bool segment = false, std::string* message = nullptr) {
    shm::HelloRequest h{};
    h.struct_size = sizeof(h);
    h.abi_version = LAM_VERSION_NUMBER;
    h.shm_major = shm::kShmProtoMajor;
    h.shm_minor = shm::kShmProtoMinor;
    h.ctl_minor = shm::kControlProtoMinor;
    h.flags = segment ? shm::kHelloWantSegment : 0;
    h.arena_bytes = 65536;
    if (!Send(shm::kFrameHello, std::string(reinterpret_cast<const char*>(&h), sizeof(h)))) return -1;
    return ReadHelloReply(message);
  }

  // Reads a HelloReply (also one the daemon sends unasked before closing); -1 without one.
  int ReadHelloReply(std::string* message = nullptr, int timeout_ms = 5000) {
    uint16_t type = 0;
    std::string body;
    if (Recv(&type, &body, timeout_ms) != shm::RecvResult::kOk || type != shm::kFrameHelloReply) return -1;
    shm::HelloReply r{};
    std::memcpy(&r, body.data(), std::min(body.size(), sizeof(r)));
    r.message[sizeof(r.message) - 1] = '\0';
    r.precision[sizeof(r.precision) - 1] = '\0';
    if (message != nullptr) *message = r.message;
    last_hello = r;
    return r.status;
  }

  // Sends a request and waits for a frame of `reply_type`.
  bool Call(uint16_t type, const std::string& payload, uint16_t reply_type, std::string* reply,
            int timeout_ms = 5000) {
    if (!Send(type, payload)) return false;
    uint16_t got = 0;
    return Recv(&got, reply, timeout_ms) == shm::RecvResult::kOk && got == reply_type;
  }

  // True once the peer has closed (after any bytes it sent), within timeout_ms.
  bool ClosedByPeer(int timeout_ms) {
    const int64_t deadline = shm::MonotonicNs() + int64_t{timeout_ms} * 1000000;
    char buf[4096];
    for (;;) {
      size_t got = 0;
      const auto r = shm::RecvSome(fd_, buf, sizeof(buf), deadline, nullptr, &got);
      if (r == shm::RecvResult::kEof || r == shm::RecvResult::kError) return true;
      if (r == shm::RecvResult::kTimeout) return false;
    }
  }

  shm::HelloReply last_hello{};  // the last reply ReadHelloReply read

 private:
  int fd_ = -1;
};

}  // namespace lam::testing
