// SPDX-License-Identifier: MIT
// What one client can make lamd touch through its shared-memory segment, and the budget that
// bounds it (DESIGN invariant 8: "limits hold per user: ... arena pages the daemon touches").
//
// What the daemon touches. A session's segment is one sealed memfd of `segment_size` bytes:
// header and rings (about 52 KiB with 256-slot rings) plus the payload arena. The daemon maps all
// of it, but a mapping costs nothing until a page is faulted. The daemon faults only
//   - the header and both rings' control words and slots (written at Create and per request);
//   - per admitted request: the lengths and input bytes it copies out (n_seqs * 4 and
//     total_tokens * 4 or the text bytes) and the output rows it writes (n_seqs * dim * 4),
// each range checked against the arena size the daemon fixed at Create (session.h), never
// against the segment's header. So one session can make the daemon touch at most its
// `segment_size` bytes of shared memory, however it scribbles.
//
// Who pays for a page. A memfd page is charged (memory cgroup, and the system's shmem count) to
// the process that faults it first, and stays charged there until the page is freed, which
// happens when the last mapping and descriptor of the memfd are gone or the range is punched
// out. The client writes its inputs itself (its pages), but output rows are usually faulted by
// the daemon (lamd's cgroup pays), and a hostile client can leave its whole arena untouched and
// point requests at it so that every page is lamd's. Worse, the client holds a descriptor of the
// memfd: it can keep the pages alive after it disconnects, and reconnect to make lamd fault
// another arena's worth. Hence:
//   1. the per-session cap (`max_arena_bytes`, default 64 MiB, was 512 MiB) bounds one session;
//   2. this budget bounds the sum of live segments per uid (`arena_budget_per_uid`, default
//      2 GiB: 127 default 16 MiB sessions, or 31 at the cap) and in all
//      (`arena_budget_total`, default 0 = a quarter of physical memory). A hello whose segment
//      does not fit is refused with LAM_STATUS_OVERLOADED and a message naming the budget; the
//      bytes are given back when the session is destroyed (not merely disconnected: in-flight
//      work may still write to it until then);
//   3. when a session is destroyed the daemon punches every page out of the memfd
//      (fallocate PUNCH_HOLE; the seals forbid only growing and shrinking), so pages charged to
//      lamd are freed even if the client keeps its descriptor or mapping: the budget then bounds
//      what is charged to lamd at any moment, not only what is mapped. A client still mapping the
//      segment sees zeros. The one exception is the daemon's own shutdown, where sessions keep
//      their pages so that results a client still holds stay readable.
// Size lamd's MemoryMax (systemd) above arena_budget_total plus the model and executables.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "common/status.h"

namespace lam::server {

class ArenaBudget : public std::enable_shared_from_this<ArenaBudget> {
 public:
  struct Limits {
    uint64_t per_uid_bytes = 2ull << 30;
    uint64_t total_bytes = 0;  // 0: PhysicalMemoryQuarter()
  };

  // Bytes held for one session; given back when destroyed. Move-only.
  class Reservation {
   public:
    Reservation() = default;
    Reservation(Reservation&& o) noexcept { *this = std::move(o); }
    Reservation& operator=(Reservation&& o) noexcept;
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;
    ~Reservation() { Release(); }
    uint64_t bytes() const { return bytes_; }

   private:
    friend class ArenaBudget;
    void Release();
    std::shared_ptr<ArenaBudget> budget_;
    uid_t uid_ = 0;
    uint64_t bytes_ = 0;
  };

  static std::shared_ptr<ArenaBudget> Create(Limits limits);

  // Reserves `bytes` of segment for a new session of `uid`. OVERLOADED, naming the budget (the
  // config key), its size, what is in use and by how many sessions, if it does not fit.
  Result<Reservation> Reserve(uid_t uid, uint64_t bytes);

  uint64_t per_uid_limit() const { return limits_.per_uid_bytes; }
  uint64_t total_limit() const { return limits_.total_bytes; }
  uint64_t total_used() const;
  uint64_t used_by(uid_t uid) const;

  // A quarter of the machine's physical memory (at least 256 MiB).
  static uint64_t PhysicalMemoryQuarter();

 private:
  explicit ArenaBudget(Limits limits);
  void Give(uid_t uid, uint64_t bytes);

  struct Use {
    uint64_t bytes = 0;
    uint32_t sessions = 0;
  };
  Limits limits_;
  mutable std::mutex mu_;
  std::map<uid_t, Use> by_uid_;
  Use total_;
};

}  // namespace lam::server
