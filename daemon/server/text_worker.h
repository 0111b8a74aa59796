// SPDX-License-Identifier: MIT
// One background thread that runs posted jobs in FIFO order. lamd tokenises text requests on
// it rather than on the libuv loop: WordPiece runs at about 10 MB/s per core (8 MiB of
// English text took 0.9 s on the development machine), so one request filling a multi-MiB
// arena would stall every other client's doorbells and hellos for hundreds of ms. One
// thread is enough (tokenising is far cheaper than embedding the result, and the engine owns
// the other cores) and keeps each client's text requests in submission order.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace lam::server {

class TextWorker {
 public:
  TextWorker() = default;
  ~TextWorker() { Stop(); }
  TextWorker(const TextWorker&) = delete;
  TextWorker& operator=(const TextWorker&) = delete;

  // Queues `job`; starts the thread on first use. After Stop() jobs are dropped unrun.
  void Post(std::function<void()> job);
  // Runs the jobs already queued, then joins the thread. Idempotent.
  void Stop();

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace lam::server
