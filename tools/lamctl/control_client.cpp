// SPDX-License-Identifier: MIT
#include "control_client.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "lam/lam_version.h"
#include "shm/frame_io.h"
#include "shm/protocol.h"
#include "shm/shm_abi.h"

namespace lam::ctl {

std::string ResolveSocket(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("LAMD_SOCKET"); env != nullptr && env[0] != '\0') return env;
  return "/run/lamd/lamd.sock";
}

ControlSession::~ControlSession() {
  if (fd_ >= 0) ::close(fd_);
}

Status ControlSession::Connect(const std::string& socket, int timeout_ms) {
  fd_ = shm::ConnectUnix(socket);
  if (fd_ < 0) return Status(LAM_STATUS_DAEMON_UNAVAILABLE, "connect " + socket + ": " + std::strerror(errno));
  shm::HelloRequest h{};
  h.struct_size = sizeof(h);
  h.abi_version = LAM_VERSION_NUMBER;
  h.shm_major = shm::kShmProtoMajor;
  h.shm_minor = shm::kShmProtoMinor;
  h.ctl_minor = shm::kControlProtoMinor;
  h.client_pid = static_cast<uint32_t>(::getpid());
  std::string reply;
  LAM_RETURN_IF_ERROR(Call(shm::kFrameHello, std::string(reinterpret_cast<const char*>(&h), sizeof(h)),
                           shm::kFrameHelloReply, &reply, timeout_ms));
  shm::HelloReply r{};
  std::memcpy(&r, reply.data(), std::min(reply.size(), sizeof(r)));
  r.message[sizeof(r.message) - 1] = '\0';
  if (r.status != LAM_STATUS_OK) return Status(r.status, std::string("daemon refused: ") + r.message);
  return Status::Ok();
}

Status ControlSession::Call(uint16_t type, const std::string& payload, uint16_t reply_type, std::string* reply,
                            int timeout_ms) {
  if (!shm::SendFrame(fd_, type, payload.data(), static_cast<uint32_t>(payload.size()))) {
    return Status(LAM_STATUS_DAEMON_UNAVAILABLE, std::string("send: ") + std::strerror(errno));
  }
  shm::FrameHeader fh{};
  std::vector<char> body;
  std::vector<int> fds;
  const auto rr = shm::RecvFrame(fd_, &fh, &body, shm::MonotonicNs() + int64_t{timeout_ms} * 1000000, &fds);
  for (int f : fds) ::close(f);
  if (rr == shm::RecvResult::kTimeout) return Status(LAM_STATUS_TIMEOUT, "no reply from the daemon");
  if (rr == shm::RecvResult::kBadFrame) return Status(LAM_STATUS_PROTOCOL_MISMATCH, "not a lamd control frame");
  if (rr == shm::RecvResult::kVersionMismatch) {
    return Status(LAM_STATUS_PROTOCOL_MISMATCH, "the daemon speaks control protocol " + std::to_string(fh.proto_major) +
                                                    ", lamctl " + std::to_string(shm::kControlProtoMajor));
  }
  if (rr != shm::RecvResult::kOk) return Status(LAM_STATUS_DAEMON_UNAVAILABLE, "the daemon closed the connection");
  if (fh.type != reply_type) {
    return Status(LAM_STATUS_PROTOCOL_MISMATCH, "unexpected reply frame type " + std::to_string(fh.type));
  }
  reply->assign(body.begin(), body.end());
  return Status::Ok();
}

}  // namespace lam::ctl
