// SPDX-License-Identifier: MIT
// A real lam::server::Server in this process (its loop on a thread, a fresh socket under /tmp)
// and a raw control-socket client, for the control-plane tests and the control_frames fuzzer.
#pragma once

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "lam/lam_version.h"
#include "server/config.h"
#include "server/server.h"
#include "shm/frame_io.h"
#include "shm/protocol.h"

namespace lam::testing {

class InprocServer {
 public:
  ~InprocServer() { Stop(); }

  // Starts a Server for `engine` (which must outlive it); `tweak` adjusts the config first.
  Status Start(engine::Engine* engine, const std::function<void(server::Config*)>& tweak = {}) {
    char dir[] = "/tmp/lamd-inproc-XXXXXX";
    if (::mkdtemp(dir) == nullptr) return Status(LAM_STATUS_IO_ERROR, "mkdtemp");
    dir_ = dir;
    server::Config c;
    c.model = dir_;  // no vocab.txt: text requests are refused, which these tests do not use
    c.socket = dir_ + "/lamd.sock";
    c.cache_dir = "";
    c.shutdown_timeout_ms = 2000;
    if (tweak) tweak(&c);
    socket_ = c.socket;
    server_ = std::make_unique<server::Server>(c, engine, server::WarmupInfo{});
    LAM_RETURN_IF_ERROR(server_->Start());
    loop_ = std::thread([this] { exit_code_ = server_->Run(); });
    return Status::Ok();
  }

  // Drains and stops the server; returns Run()'s exit code.
  int Stop() {
    if (server_ == nullptr) return exit_code_;
    server_->RequestStop();
    if (loop_.joinable()) loop_.join();
    server_.reset();
    ::unlink(socket_.c_str());
    ::rmdir(dir_.c_str());
    return exit_code_;
  }

  const std::string& socket() const { return socket_; }

 private:
  std::unique_ptr<server::Server> server_;
  std::thread loop_;
  std::string dir_, socket_;
  int exit_code_ = -1;
};

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
    if (message != nullptr) *message = r.message;
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

 private:
  int fd_ = -1;
};

}  // namespace lam::testing
