// SPDX-License-Identifier: MIT
#include "server/text_worker.h"

#include <utility>

#include "shm/frame_io.h"

namespace lam::server {

bool TextWorker::Post(uint64_t client, Job job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return false;
    queues_[client].push_back(std::move(job));
    ++jobs_;
    if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
  }
  cv_.notify_one();
  return true;
}

size_t TextWorker::Stop(int64_t deadline_ns) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      deadline_ns_ = deadline_ns;
    } else if (deadline_ns != 0 && (deadline_ns_ == 0 || deadline_ns < deadline_ns_)) {
      deadline_ns_ = deadline_ns;
    }
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_at_stop_;
}

size_t TextWorker::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_;
}

uint64_t TextWorker::cancelled_jobs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_jobs_;
}

void TextWorker::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queues_.empty(); });
    if (queues_.empty()) return;  // stopping and drained
    if (stopping_ && deadline_ns_ != 0 && shm::MonotonicNs() >= deadline_ns_) {
      dropped_at_stop_ += jobs_;
      jobs_ = 0;
      queues_.clear();
      return;
    }
    // The next client in turn: one slice of its oldest job.
    auto it = queues_.lower_bound(next_client_);
    if (it == queues_.end()) it = queues_.begin();
    const uint64_t client = it->first;
    Job job = std::move(it->second.front());
    it->second.pop_front();
    if (it->second.empty()) queues_.erase(it);
    next_client_ = client + 1;
    lock.unlock();
    bool gone = false;
    bool finished = true;
    try {
      gone = job.cancelled && job.cancelled();
      finished = gone || job.step();
    } catch (...) {
      // No exception leaves this thread; a job that threw is over (its owner answers nothing).
    }
    lock.lock();
    if (gone) ++cancelled_jobs_;
    if (finished) {
      --jobs_;
    } else {
      queues_[client].push_front(std::move(job));  // its next slice, after the other clients
    }
  }
}

}  // namespace lam::server
