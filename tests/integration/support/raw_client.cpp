// SPDX-License-Identifier: MIT
#include "integration/support/raw_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "shm/frame_io.h"

namespace lam::itest {

lam_status RawClient::Connect(const std::string& socket, uint32_t abi_version, uint16_t shm_major,
                              uint16_t ctl_major, uint16_t shm_minor) {
  sock.reset(shm::ConnectUnix(socket));
  if (!sock) return LAM_STATUS_DAEMON_UNAVAILABLE;
  shm::HelloRequest h{};
  h.struct_size = sizeof(h);
  h.abi_version = abi_version;
  h.shm_major = shm_major;
  h.shm_minor = shm_minor;
  h.flags = shm::kHelloWantSegment;
  h.arena_bytes = arena_bytes;
  std::vector<char> frame(sizeof(shm::FrameHeader) + sizeof(h));
  shm::FrameHeader fh{shm::kFrameMagic, ctl_major, shm::kFrameHello, sizeof(h), 0};
  std::memcpy(frame.data(), &fh, sizeof(fh));
  std::memcpy(frame.data() + sizeof(fh), &h, sizeof(h));
  if (::send(sock.get(), frame.data(), frame.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(frame.size())) {
    return LAM_STATUS_DAEMON_UNAVAILABLE;
  }
  shm::FrameHeader rh{};
  std::vector<char> payload;
  std::vector<int> fds;
  if (shm::RecvFrame(sock.get(), &rh, &payload, shm::MonotonicNs() + 10'000'000'000, &fds) != shm::RecvResult::kOk) {
    for (int f : fds) ::close(f);
    return LAM_STATUS_DAEMON_UNAVAILABLE;
  }
  std::memcpy(&reply, payload.data(), std::min(payload.size(), sizeof(reply)));
  if (reply.status != LAM_STATUS_OK) {
    for (int f : fds) ::close(f);
    return reply.status;
  }
  if (fds.size() != 2) return LAM_STATUS_PROTOCOL_MISMATCH;
  memfd.reset(fds[0]);
  doorbell.reset(fds[1]);
  std::string err;
  region = shm::MemfdRegion::Map(memfd.get(), static_cast<uint64_t>(shm::MemfdRegion::FdSize(memfd.get())), &err);
  if (region.data() == nullptr) return LAM_STATUS_INTERNAL;
  header = reinterpret_cast<shm::SegmentHeader*>(region.data());
  arena = region.data() + header->arena_offset;
  sq = shm::SpscRing<shm::SubmitDesc>(reinterpret_cast<shm::RingCtl*>(region.data() + header->sq_offset),
                                      header->sq_entries);
  cq = shm::SpscRing<shm::CompletionDesc>(reinterpret_cast<shm::RingCtl*>(region.data() + header->cq_offset),
                                          header->cq_entries);
  return LAM_STATUS_OK;
}

void RawClient::Ring() {
  const uint64_t one = 1;
  (void)!::write(doorbell.get(), &one, sizeof(one));
}

bool RawClient::NextCompletion(shm::CompletionDesc* out, int timeout_ms) {
  const int64_t deadline = shm::MonotonicNs() + int64_t{timeout_ms} * 1000000;
  while (shm::MonotonicNs() < deadline) {
    if (cq.Pop(out)) return true;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return false;
}

bool RawClient::ClosedByDaemon(int timeout_ms) {
  pollfd p{sock.get(), POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return false;
  char b;
  return ::recv(sock.get(), &b, 1, MSG_DONTWAIT) == 0 || (p.revents & (POLLHUP | POLLRDHUP)) != 0;
}

}  // namespace lam::itest
