// SPDX-License-Identifier: MIT
// The C++ core of liblamclient: one handle = one (re)connectable session with lamd.
// libc and the C++ standard library only (the segment is mapped with mmap(2)).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "arena_allocator.h"
#include "lam/lam.h"
#include "shm/memfd_region.h"
#include "shm/protocol.h"
#include "shm/ring.h"
#include "shm/shm_abi.h"

namespace lam::client {

// One live connection: socket, mapped segment, doorbell. Shared by the tickets made on it so
// that a zero-copy result stays mapped even after the handle reconnected elsewhere.
struct Connection {
  shm::UniqueFd sock;
  shm::UniqueFd memfd;
  shm::UniqueFd doorbell;
  shm::MemfdRegion region;
  shm::SegmentHeader* header = nullptr;
  char* arena = nullptr;
  shm::SpscRing<shm::SubmitDesc> sq;
  shm::SpscRing<shm::CompletionDesc> cq;
  shm::HelloReply hello{};
  ArenaAllocator alloc;
  uint32_t outstanding = 0;  // submitted, completion not yet taken from the ring
  bool streamed_results = false;  // the daemon speaks shm minor >= 2 (shm/stream.h)
  // Arena blocks released while the daemon was still streaming rows into them: freed once
  // their completion's output is complete (never reused before, or the rows would land on the
  // next request's payload).
  struct PendingFree {
    uint64_t off, bytes;
    uint32_t cq_index;
    size_t floats;
  };
  std::vector<PendingFree> pending_frees;
  bool dead = false;
  // When the daemon last showed it was alive on this connection (a completion, or a socket
  // check): a call within kAliveFreshNs of it skips the socket check (see EnsureConnectedLocked).
  int64_t alive_ns = 0;
};

// A completion and the completion-ring index it was popped at.
struct Popped {
  shm::CompletionDesc desc;
  uint32_t index;
};

struct Ticket {
  std::shared_ptr<Connection> conn;
  uint64_t arena_off = UINT64_MAX;  // whole block (lengths + ids + output)
  uint64_t arena_bytes = 0;
  uint64_t out_off = 0;             // arena offset of the output rows
  size_t n_seqs = 0;
  bool done = false;
  bool orphan = false;              // abandoned by the caller; free when the answer arrives
  uint32_t cq_index = 0;            // ring index the completion was popped at (shm/stream.h)
  shm::CompletionDesc comp{};
};

class Client {
 public:
  explicit Client(const lam_client_options& options);
  ~Client();

  lam_status Connect();
  lam_status ModelInfo(lam_model_info* out);
  lam_status Submit(const lam_embed_tokens_request& req, lam_ticket* ticket);
  // Copies the texts into the arena and submits a kOpEmbedText request (daemon tokenises).
  lam_status SubmitText(const lam_embed_text_request& req, lam_ticket* ticket);
  lam_status SubmitNop(uint32_t timeout_ms, lam_ticket* ticket);
  // Waits (timeout_ms: 0 = default, LAM_TIMEOUT_INFINITE) and copies out. `zero_copy` fills
  // `result` instead of copying. `poll` returns PENDING rather than waiting.
  lam_status Wait(lam_ticket ticket, uint32_t timeout_ms, bool poll, float* out, size_t cap, size_t* count,
                  lam_result* result);
  lam_status Cancel(lam_ticket ticket);
  void Release(lam_result* result);
  lam_status GetStats(lam_client_stats* out);
  lam_status Fail(lam_status code, std::string message);  // records last_error (and logs it)
  const char* last_error() const { return last_error_.c_str(); }
  uint32_t default_timeout_ms() const { return timeout_ms_; }

 private:
  lam_status EnsureConnectedLocked();
  lam_status ConnectLocked();
  static bool SocketAlive(Connection* c);
  // Leader: drains completions of `conn` into `got`, sleeping on the futex in short slices
  // and watching the socket. Runs without mu_.
  void LeaderWait(Connection* conn, int64_t deadline_ns, std::vector<Popped>* got, bool* dead);
  void Pump(std::unique_lock<std::mutex>& lk, std::shared_ptr<Connection> conn, int64_t deadline, bool once);
  void ApplyCompletionsLocked(Connection* conn, const std::vector<Popped>& got);
  // Floats of `t`'s output the daemon has written so far (all of them unless streamed).
  static size_t OutputReady(const Ticket& t);
  // Waits for `t`'s streamed output, copying it to `out` when non-null. OK, TIMEOUT (past
  // `deadline`) or DAEMON_UNAVAILABLE (the daemon died mid-stream).
  lam_status AwaitOutputLocked(Ticket& t, float* out, int64_t deadline);
  void SweepPendingFreesLocked(Connection* conn);
  void DropConnectionLocked();
  void FreeTicketLocked(Ticket& t);
  // Pushes `d` (payload already in the arena block [off, off + needed)) and records its ticket.
  lam_status PushLocked(const std::shared_ptr<Connection>& conn, const shm::SubmitDesc& d, uint64_t off,
                        uint64_t needed, lam_ticket* ticket);
  lam_status ReserveLocked(std::unique_lock<std::mutex>& lk, const std::shared_ptr<Connection>& conn,
                           uint32_t opcode, uint64_t n, uint64_t payload_bytes, uint64_t total,
                           uint32_t timeout_ms, shm::SubmitDesc* d, uint64_t* off, uint64_t* needed);
  int64_t DeadlineFor(uint32_t timeout_ms) const;
  lam_status WaitForRoomLocked(std::unique_lock<std::mutex>& lk, uint64_t bytes, int64_t deadline,
                               uint64_t* off);

  std::string socket_path_;
  uint64_t arena_bytes_;
  uint32_t timeout_ms_;
  uint32_t connect_timeout_ms_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool leader_active_ = false;
  std::shared_ptr<Connection> conn_;
  std::unordered_map<uint64_t, Ticket> tickets_;
  std::unordered_map<uint64_t, Ticket> held_;  // zero-copy results not yet released
  uint64_t next_ticket_ = 1;
  std::string last_error_;

  // lam_client_get_stats, under mu_.
  struct Counters {
    uint64_t submitted = 0, completed = 0, failed = 0, sequences = 0, bytes = 0;
    uint64_t queue_us = 0, compute_us = 0, connects = 0, lost = 0;
    uint32_t inflight_high_water = 0;
  } counters_;
  void CountSubmitLocked(const Connection& conn, uint64_t payload_bytes);
};

}  // namespace lam::client
