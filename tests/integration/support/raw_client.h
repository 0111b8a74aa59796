// SPDX-License-Identifier: MIT
// A client that speaks lamd's protocol by hand (no liblamclient), so tests can send what a
// well-behaved library never would.
#pragma once

#include <cstdint>
#include <string>

#include "lam/lam_status.h"
#include "shm/memfd_region.h"
#include "shm/protocol.h"
#include "shm/ring.h"
#include "shm/shm_abi.h"

namespace lam::itest {

struct RawClient {
  shm::UniqueFd sock, memfd, doorbell;
  shm::MemfdRegion region;
  shm::SegmentHeader* header = nullptr;
  char* arena = nullptr;
  shm::SpscRing<shm::SubmitDesc> sq;
  shm::SpscRing<shm::CompletionDesc> cq;
  shm::HelloReply reply{};
  uint64_t arena_bytes = 0;  // asked for in the hello (0 = the daemon's default)

  // Connects and says hello; returns the reply status (segment mapped when OK).
  lam_status Connect(const std::string& socket, uint32_t abi_version, uint16_t shm_major = shm::kShmProtoMajor,
                     uint16_t ctl_major = shm::kControlProtoMajor, uint16_t shm_minor = 0);
  void Ring();  // doorbell
  // Pops one completion, waiting up to timeout_ms. False on timeout.
  bool NextCompletion(shm::CompletionDesc* out, int timeout_ms);
  // True once the daemon has closed the socket (waits up to timeout_ms).
  bool ClosedByDaemon(int timeout_ms);
};

}  // namespace lam::itest
