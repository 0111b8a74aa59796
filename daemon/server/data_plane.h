// SPDX-License-Identifier: MIT
// lamd's data plane: one thread that waits for the clients' doorbells and drains their
// submission rings, outside the libuv loop.
//
// Why its own thread: a tiny request's round trip is set by wake-ups, not by copies (a futex
// ping-pong between two processes is the floor). Through the libuv loop a doorbell cost an
// epoll wake-up plus the loop's own turn (timers, idle and check handles) plus reading the
// eventfd until EAGAIN before a ring was even looked at. Here the thread sleeps in epoll_wait
// on the doorbell eventfds registered edge-triggered, so a doorbell is one wake-up and nothing
// is read back (the counter is reset once every kDoorbellResetEvery wake-ups so a client
// cannot saturate it by accident), and the rings are drained at once.
//
// Spinning: after a submission the thread keeps looking at every ring, without a single
// system call, and tells clients so through SegmentHeader::daemon_polling (they then skip the
// doorbell). When the spin ends the flag is cleared and every ring is drained once more, for a
// client that skipped its doorbell just before the flag dropped. Two windows:
//  - polling mode (polling_us > 0, opt-in): spin polling_us after any submission;
//  - idle spin (idle_spin_us, on by default): spin idle_spin_us after a submission, but only
//    while `engine_idle` says the engine has nothing queued or running, so the spinning
//    thread never takes a core from a batch. Back-to-back small requests (pings, errors,
//    a client's next request right after an answer) then cost no doorbell and no wake-up.
//
// Sessions are added and removed from any thread through a small mutex-protected queue the
// thread applies between passes; it holds its own reference to each session, so a session's
// doorbell fd stays open until the thread has taken it out of its epoll set.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "server/session.h"
#include "shm/memfd_region.h"

namespace lam::server {

class DataPlane {
 public:
  // Called on the data-plane thread.
  class Sink {
   public:
    virtual ~Sink() = default;
    // One submission, already copied out of the ring.
    virtual void OnSubmission(const std::shared_ptr<ClientSession>& s, const shm::SubmitDesc& d) = 0;
    // The client broke the ring protocol (corrupt indices, or no room left for an answer); the
    // data plane has stopped reading its rings. Must hand the disconnect to the owner's thread.
    virtual void OnViolation(uint64_t client_id, const char* why) = 0;
  };

  // `drain_budget`: submissions taken from one ring per pass, so a client that refills its
  // ring as fast as it is drained cannot starve the others.
  // `engine_idle` (any thread, cheap enough to call every few microseconds) gates the idle spin.
  DataPlane(Sink* sink, uint32_t polling_us, uint32_t idle_spin_us, std::function<bool()> engine_idle,
            uint32_t drain_budget);
  ~DataPlane();
  DataPlane(const DataPlane&) = delete;
  DataPlane& operator=(const DataPlane&) = delete;

  Status Start();
  // Any thread. Sessions added after Stop() are ignored.
  void Add(std::shared_ptr<ClientSession> s);
  void Remove(uint64_t client_id);
  // Any thread: drain this client's ring soon (its completion ring has room again).
  void Kick(uint64_t client_id);
  // Drains every ring one last time (what clients submitted before this call is admitted),
  // then joins the thread. Idempotent.
  void Stop();

  bool polling_active() const { return polling_active_.load(std::memory_order_relaxed); }
  uint64_t wakeups() const { return wakeups_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    std::shared_ptr<ClientSession> session;
    uint32_t events = 0;  // doorbell wake-ups since the counter was last reset
  };

  void Run();
  bool ApplyPending(std::vector<uint64_t>* ready);
  void Forget(uint64_t id);
  // Takes up to the budget from one ring; appends the id to `again` if the budget ran out.
  bool Drain(uint64_t id, std::vector<uint64_t>* again);
  void SetPolling(bool on);
  void Wake();

  Sink* sink_;
  const uint32_t polling_us_;
  const uint32_t idle_spin_us_;
  std::function<bool()> engine_idle_;
  const uint32_t drain_budget_;
  shm::UniqueFd epoll_;
  shm::UniqueFd wake_fd_;  // eventfd: pending changes or stop
  std::thread thread_;

  std::mutex mu_;
  std::vector<std::shared_ptr<ClientSession>> to_add_;
  std::vector<uint64_t> to_remove_;
  std::vector<uint64_t> to_kick_;
  bool stop_requested_ = false;
  bool stopped_ = false;
  std::atomic<bool> pending_{false};

  // Data-plane thread only.
  std::unordered_map<uint64_t, Entry> sessions_;

  std::atomic<bool> polling_active_{false};  // written by the data-plane thread only
  std::atomic<uint64_t> wakeups_{0};
};

}  // namespace lam::server
