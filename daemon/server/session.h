// SPDX-License-Identifier: MIT
// One data-plane client: its sealed memfd segment, rings and doorbell. Shared between the
// loop thread (connection), the data-plane thread (which drains the submission ring) and the
// scheduler's worker (which posts completions); it lives until the connection is gone, the
// data plane has let go of it and no request refers to it.
//
// The segment is the client's to scribble on, header included (DESIGN invariant 6). The session
// therefore keeps its own copy of every value it lays the segment out with (SegmentGeometry,
// fixed in Create) and never reads the header back: bounds, ring sizes and offsets all come from
// `geometry()`. The daemon only ever *writes* the header's live words (daemon_polling,
// out_progress) and the rings' own indices (shm/ring.h keeps them privately too).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "server/arena_budget.h"
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

// What the daemon laid the segment out with; held in daemon memory for the session's life.
struct SegmentGeometry {
  uint64_t segment_size = 0;
  uint64_t sq_offset = 0, cq_offset = 0;
  uint64_t arena_offset = 0, arena_size = 0;
  uint32_t sq_entries = 0, cq_entries = 0;
  uint32_t embedding_dim = 0;
};

class ClientSession {
 public:
  static Result<std::shared_ptr<ClientSession>> Create(const SessionParams& p);
  // Punches every page out of the memfd (unless KeepPagesOnClose was called), so that nothing
  // faulted by the daemon stays charged to it while the client keeps its descriptor, then
  // unmaps it and gives the budget reservation back (arena_budget.h).
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  // The share of the arena budget this session holds until it is destroyed.
  void HoldReservation(ArenaBudget::Reservation r) { reservation_ = std::move(r); }
  // Daemon shutdown: leave the pages to the client (a result it still holds stays readable).
  void KeepPagesOnClose() { keep_pages_.store(true, std::memory_order_relaxed); }

  uint64_t id() const { return id_; }
  int memfd() const { return memfd_.get(); }
  int doorbell_fd() const { return doorbell_.get(); }
  // The daemon's own copies, fixed at Create (never read back from the segment).
  const SegmentGeometry& geometry() const { return geometry_; }
  uint64_t segment_size() const { return geometry_.segment_size; }
  uint64_t arena_size() const { return geometry_.arena_size; }
  const char* arena() const { return arena_; }
  // The segment's header: client-writable. The daemon writes its live words and reads nothing
  // from it (tests inspect it as a client would).
  shm::SegmentHeader* header() const { return header_; }
  // Data-plane thread: tells the client whether the daemon is spinning on the rings.
  void SetDaemonPolling(bool on) { header_->daemon_polling.store(on ? 1 : 0, std::memory_order_seq_cst); }

  // Data-plane thread: copies the next submission out of the ring if the completion ring has room
  // for its answer counting what is in flight. Returns false when nothing was taken (empty,
  // no room, or a corrupt ring; see ring_corrupt()).
  bool TakeSubmission(shm::SubmitDesc* out);
  // True once either ring showed indices no honest client writes (shm/ring.h).
  bool ring_corrupt() const { return sq_.Corrupt() || cq_corrupt_.load(std::memory_order_relaxed); }

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

  ArenaBudget::Reservation reservation_;  // first: given back after the segment is gone
  std::atomic<bool> keep_pages_{false};
  uint64_t id_ = 0;
  shm::UniqueFd memfd_;
  shm::UniqueFd doorbell_;
  shm::MemfdRegion region_;
  SegmentGeometry geometry_;
  shm::SegmentHeader* header_ = nullptr;
  char* arena_ = nullptr;
  shm::SpscRing<shm::SubmitDesc> sq_;
  shm::SpscRing<shm::CompletionDesc> cq_;
  std::mutex cq_mu_;  // daemon-internal: the loop and the worker both produce completions
  std::atomic<bool> cq_corrupt_{false};  // cq_ saw an absurd head (set under cq_mu_)
  std::mutex stream_mu_;  // one streamed completion at a time (they share out_progress)
  bool stream_results_ = false;
  std::atomic<uint32_t> inflight_{0};
};

}  // namespace lam::server
