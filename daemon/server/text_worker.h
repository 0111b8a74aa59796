// SPDX-License-Identifier: MIT
// One background thread that runs text jobs (tokenising) fairly across clients. lamd tokenises
// text requests here rather than on the libuv loop: WordPiece runs at about 10 MB/s per core
// (8 MiB of English text took 0.9 s on the development machine), so one request filling a
// multi-MiB arena would stall every other client's doorbells and hellos for hundreds of ms. One
// thread is enough (tokenising is far cheaper than embedding the result, and the engine owns
// the other cores).
//
// A job runs in slices (Job::step does a bounded piece of work and says whether the job is
// done). Each client has its own FIFO of jobs, and the thread serves the clients round-robin one
// slice at a time: a client's 8 MiB request no longer holds back another client's one-sentence
// request for a second, and each client's own requests still finish in submission order. A job
// whose client is gone (Job::cancelled) is dropped before its next slice, so a client killed in
// the middle of a large request costs at most one more slice.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace lam::server {

class TextWorker {
 public:
  struct Job {
    std::function<bool()> step;       // runs one slice; true once the job is finished
    std::function<bool()> cancelled;  // optional: true once the job's client is gone
  };

  TextWorker() = default;
  ~TextWorker() { Stop(); }
  TextWorker(const TextWorker&) = delete;
  TextWorker& operator=(const TextWorker&) = delete;

  // Queues `job` behind `client`'s earlier jobs; starts the thread on first use. False (the job
  // dropped unrun) after Stop().
  bool Post(uint64_t client, Job job);
  // Stops taking jobs and runs the queued ones until `deadline_ns` (monotonic; 0 = no limit);
  // at the deadline the rest is dropped unrun, including the rest of a job between two slices.
  // Joins the thread. Returns how many jobs were dropped at the deadline. Idempotent.
  size_t Stop(int64_t deadline_ns = 0);

  // Jobs queued or running (any thread).
  size_t pending() const;
  // Jobs dropped because their client was gone.
  uint64_t cancelled_jobs() const;

 private:
  void Loop();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, std::deque<Job>> queues_;  // per client; no empty deques
  size_t jobs_ = 0;                             // queued + the one running
  uint64_t next_client_ = 0;                    // round-robin cursor: served first next time
  bool stopping_ = false;
  int64_t deadline_ns_ = 0;
  size_t dropped_at_stop_ = 0;
  uint64_t cancelled_jobs_ = 0;
  std::thread thread_;
};

}  // namespace lam::server
