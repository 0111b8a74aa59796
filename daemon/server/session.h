// SPDX-License-Identifier: MIT
// One data-plane client: its sealed memfd segment, rings and doorbell. Shared between the
// loop thread (connection), the data-plane thread (which drains the submission ring) and the
// scheduler's worker (which posts completions); it lives until the connection is gone, the
// data plane has let go of it and no request refers to it.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "shm/memfd_region.h"
#include "shm/ring.h"
#include "shm/shm_abi.h"

namespace lam::server {

struct SessionParams {
  uint64_t client_id = 0;
  uint64_t daemon_epoch = 0;
  uint32_t ring_entries = 256;
  uint64_t arena_bytes = 16ull << 20;
  uint32_t embedding_dim = 384;
  uint32_t polling_us = 0;
  bool stream_results = false;  // the client speaks shm minor >= 2 (shm/stream.h)
};

class ClientSession {
 public:
  static Result<std::shared_ptr<ClientSession>> Create(const SessionParams& p);

  uint64_t id() const { return id_; }
  int memfd() const { return memfd_.get(); }
  int doorbell_fd() const { return doorbell_.get(); }
  uint64_t segment_size() const { return region_.size(); }
  uint64_t arena_size() const { return header_->arena_size; }
  const char* arena() const { return arena_; }
  shm::SegmentHeader* header() const { return header_; }

  // Data-plane thread: copies the next submission out of the ring if the completion ring has room
  // for its answer counting what is in flight. Returns false when nothing was taken (empty,
  // no room, or a corrupt ring; see ring_corrupt()).
  bool TakeSubmission(shm::SubmitDesc* out);
  bool ring_corrupt() const { return sq_.Corrupt(); }

  // Any thread: writes `rows` (may be null) into the arena at the completion's output_offset
  // and publishes the completion, then wakes the client. A large output to a client that
  // understands it is streamed instead (shm/stream.h): published and woken first, rows written
  // after, so that the client's wake-up overlaps the writing. `from_scheduler` releases one
  // in-flight slot. False if the completion ring was full (a client breaking the protocol).
  // `streamed` (optional) tells whether the rows went out streamed.
  bool Complete(const shm::CompletionDesc& c, const float* rows, size_t n_floats, bool from_scheduler,
                bool* streamed = nullptr);

  void MarkInFlight() { inflight_.fetch_add(1, std::memory_order_relaxed); }
  uint32_t inflight() const { return inflight_.load(std::memory_order_relaxed); }

  std::atomic<bool> closed{false};
  std::atomic<bool> sq_blocked{false};  // a submission waited for completion-ring room
  std::atomic<bool> broken{false};      // protocol violation; the loop disconnects it
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> errors{0};
  pid_t pid = 0;
  uid_t uid = 0;

 private:
  ClientSession() = default;

  uint64_t id_ = 0;
  shm::UniqueFd memfd_;
  shm::UniqueFd doorbell_;
  shm::MemfdRegion region_;
  shm::SegmentHeader* header_ = nullptr;
  char* arena_ = nullptr;
  shm::SpscRing<shm::SubmitDesc> sq_;
  shm::SpscRing<shm::CompletionDesc> cq_;
  std::mutex cq_mu_;  // daemon-internal: the loop and the worker both produce completions
  std::mutex stream_mu_;  // one streamed completion at a time (they share out_progress)
  bool stream_results_ = false;
  std::atomic<uint32_t> inflight_{0};
};

}  // namespace lam::server
