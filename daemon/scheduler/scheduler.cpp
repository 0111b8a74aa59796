// SPDX-License-Identifier: MIT
#include "scheduler/scheduler.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>

#include "shm/frame_io.h"

namespace lam::scheduler {
namespace {

constexpr size_t kWaitSamples = 4096;

size_t HistogramBin(size_t n) {
  size_t bin = 0;
  while (n > 1 && bin + 1 < kBatchHistogramBins) {
    n >>= 1;
    ++bin;
  }
  return bin;
}

}  // namespace

std::vector<uint32_t> DefaultBuckets(uint32_t max_tokens) {
  std::vector<uint32_t> b;
  for (uint32_t len = 16; len < max_tokens; len *= 2) b.push_back(len);
  b.push_back(std::max<uint32_t>(max_tokens, 1));
  return b;
}

Scheduler::Scheduler(engine::Engine* engine, Options options, CompletionSink* sink)
    : engine_(engine), options_(std::move(options)), sink_(sink),
      dim_(engine->info().embedding_dim) {
  const auto max_tokens = static_cast<uint32_t>(engine->info().config.max_tokens);
  if (options_.buckets.empty()) options_.buckets = DefaultBuckets(max_tokens);
  std::sort(options_.buckets.begin(), options_.buckets.end());
  options_.buckets.erase(std::unique(options_.buckets.begin(), options_.buckets.end()),
                         options_.buckets.end());
  if (options_.max_batch_sequences == 0) options_.max_batch_sequences = 1;
  if (options_.token_budget == 0) options_.token_budget = 1;
  buckets_.resize(options_.buckets.size());
  stats_.buckets = options_.buckets;
  wait_samples_.reserve(kWaitSamples);
  worker_ = std::thread([this] { WorkerLoop(); });
}

Scheduler::~Scheduler() { Shutdown(); }

size_t Scheduler::BucketFor(uint32_t len) const {
  const auto it = std::lower_bound(options_.buckets.begin(), options_.buckets.end(), len);
  return it == options_.buckets.end() ? options_.buckets.size() - 1
                                      : static_cast<size_t>(it - options_.buckets.begin());
}

Status Scheduler::Submit(std::unique_ptr<Request>& request) {
  const size_t n = request->n_seqs();
  if (n == 0) return Status(LAM_STATUS_EMPTY_BATCH, "request has no sequences");
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return Status(LAM_STATUS_CANCELLED, "daemon is shutting down");
  // Read under mu_: an owner sets the flag before CancelClient takes mu_, so a Submit that
  // comes after CancelClient sees it (see Request::cancelled).
  if (request->cancelled && request->cancelled->load(std::memory_order_acquire)) {
    ++stats_.cancelled_requests;
    return Status(LAM_STATUS_CANCELLED, "client " + std::to_string(request->client_id) + " is gone");
  }
  if (queued_seqs_ + n > options_.max_queued_sequences) {
    ++stats_.overloaded_requests;
    return Status(LAM_STATUS_OVERLOADED,
                  "queue holds " + std::to_string(queued_seqs_) + " sequences; limit " +
                      std::to_string(options_.max_queued_sequences));
  }
  const int64_t now = shm::MonotonicNs();
  lone_arrival_ = last_submit_ns_ == 0 || now - last_submit_ns_ >= options_.max_delay_us * 1000;
  last_submit_ns_ = now;
  Request* raw = request.get();
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t len = raw->offsets[i + 1] - raw->offsets[i];
    Bucket& b = buckets_[BucketFor(len)];
    b.per_client[raw->client_id].push_back(SeqRef{raw, i, now});
    ++b.seqs;
    b.tokens += len;
  }
  queued_seqs_ += n;
  clients_[raw->client_id].queued += n;
  stats_.queued_high_water = std::max<uint64_t>(stats_.queued_high_water, queued_seqs_);
  PendingRequest p;
  p.req = std::move(request);
  p.remaining = static_cast<uint32_t>(n);
  pending_.emplace(raw, std::move(p));
  cv_.notify_one();
  return Status::Ok();
}

void Scheduler::PurgeLocked(Request* req) {
  uint64_t removed = 0;
  for (Bucket& b : buckets_) {
    auto it = b.per_client.find(req->client_id);
    if (it == b.per_client.end()) continue;
    auto& q = it->second;
    for (auto qi = q.begin(); qi != q.end();) {
      if (qi->req == req) {
        --b.seqs;
        b.tokens -= req->offsets[qi->index + 1] - req->offsets[qi->index];
        --queued_seqs_;
        ++removed;
        qi = q.erase(qi);
      } else {
        ++qi;
      }
    }
    if (q.empty()) b.per_client.erase(it);
  }
  DequeuedLocked(req->client_id, removed);
}

void Scheduler::DequeuedLocked(uint64_t client, uint64_t n) {
  if (n == 0) return;
  auto it = clients_.find(client);
  if (it == clients_.end()) return;
  it->second.queued -= std::min(it->second.queued, n);
  // A client with nothing queued is forgotten: when it comes back it is served first.
  if (it->second.queued == 0) clients_.erase(it);
}

uint64_t Scheduler::LastServedLocked(uint64_t client) const {
  const auto it = clients_.find(client);
  return it == clients_.end() ? 0 : it->second.last_served;
}

void Scheduler::DropCancelledLocked(Request* req) {
  auto it = pending_.find(req);
  if (it == pending_.end()) return;
  PurgeLocked(req);
  ++stats_.cancelled_requests;
  if (it->second.in_batch == 0) {
    pending_.erase(it);
  } else {
    it->second.cancelled = true;  // its batch's results are discarded (CollectLocked)
  }
}

void Scheduler::DropAllLocked(std::vector<std::unique_ptr<Request>>* done) {
  for (Bucket& b : buckets_) {
    b.per_client.clear();
    b.seqs = 0;
    b.tokens = 0;
  }
  clients_.clear();
  queued_seqs_ = 0;
  for (auto it = pending_.begin(); it != pending_.end();) {
    PendingRequest& p = it->second;
    if (p.in_batch != 0) {  // not reached from the worker loop (nothing computes there)
      ++it;
      continue;
    }
    ++shutdown_dropped_;
    const bool gone = p.cancelled || (p.req->cancelled && p.req->cancelled->load(std::memory_order_acquire));
    if (!gone) {
      p.req->status = LAM_STATUS_CANCELLED;
      p.req->message = "daemon shut down before the request was computed";
      p.req->output.clear();
      done->push_back(std::move(p.req));
    }
    it = pending_.erase(it);
  }
}

void Scheduler::CollectLocked(Request* req, std::vector<std::unique_ptr<Request>>* done) {
  auto it = pending_.find(req);
  if (it == pending_.end()) return;
  PendingRequest& p = it->second;
  if (p.in_batch != 0) return;
  if (p.cancelled) {
    pending_.erase(it);
    return;
  }
  if (p.remaining == 0 || p.failed) {
    if (p.failed) p.req->output.clear();
    done->push_back(std::move(p.req));
    pending_.erase(it);
  }
}

void Scheduler::FailLocked(PendingRequest& p, lam_status code, std::string message,
                           std::vector<std::unique_ptr<Request>>* done) {
  if (p.failed || p.cancelled) return;
  p.failed = true;
  p.req->status = code;
  p.req->message = std::move(message);
  Request* req = p.req.get();
  const size_t before = queued_seqs_;
  PurgeLocked(req);
  p.remaining -= static_cast<uint32_t>(before - queued_seqs_);
  CollectLocked(req, done);
}

void Scheduler::CancelClient(uint64_t client_id) {
  std::lock_guard<std::mutex> lock(mu_);
  clients_.erase(client_id);
  for (Bucket& b : buckets_) {
    auto it = b.per_client.find(client_id);
    if (it == b.per_client.end()) continue;
    for (const SeqRef& s : it->second) {
      b.tokens -= s.req->offsets[s.index + 1] - s.req->offsets[s.index];
    }
    b.seqs -= it->second.size();
    queued_seqs_ -= it->second.size();
    b.per_client.erase(it);
  }
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->first->client_id == client_id && !it->second.cancelled) {
      ++stats_.cancelled_requests;
      if (it->second.in_batch == 0) {
        it = pending_.erase(it);
        continue;
      }
      it->second.cancelled = true;
    }
    ++it;
  }
}

Scheduler::ShutdownResult Scheduler::Shutdown(int64_t deadline_ns, int64_t abandon_ns) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      stop_deadline_ns_ = deadline_ns;
    } else if (deadline_ns != 0 && (stop_deadline_ns_ == 0 || deadline_ns < stop_deadline_ns_)) {
      stop_deadline_ns_ = deadline_ns;  // a second call may only shorten the wait
    }
    cv_.notify_all();
    if (abandon_ns != 0) {
      while (!worker_done_) {
        const int64_t left = abandon_ns - shm::MonotonicNs();
        if (left <= 0) return ShutdownResult{shutdown_dropped_, false};
        done_cv_.wait_for(lock, std::chrono::nanoseconds(left));
      }
    }
  }
  if (worker_.joinable()) worker_.join();
  std::lock_guard<std::mutex> lock(mu_);
  return ShutdownResult{shutdown_dropped_, true};
}

bool Scheduler::Idle() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_.empty() && !computing_;
}

int64_t Scheduler::OldestIn(const Bucket& b) const {
  int64_t oldest = std::numeric_limits<int64_t>::max();
  for (const auto& [id, q] : b.per_client) {
    if (!q.empty()) oldest = std::min(oldest, q.front().enqueue_ns);
  }
  return oldest;
}

void Scheduler::RecordWaitLocked(int64_t wait_ns) {
  if (wait_samples_.size() < kWaitSamples) {
    wait_samples_.push_back(wait_ns);
  } else {
    wait_samples_[wait_next_] = wait_ns;
    wait_next_ = (wait_next_ + 1) % kWaitSamples;
  }
  stats_.wait_max_us = std::max<int64_t>(stats_.wait_max_us, wait_ns / 1000);
}

void Scheduler::WorkerLoop() {
  std::vector<SeqRef> batch;
  std::vector<engine::TokenSpan> spans;
  std::vector<float> scratch;
  std::vector<std::unique_ptr<Request>> done;
  const int64_t max_delay_ns = options_.max_delay_us * 1000;

  std::vector<std::pair<uint64_t, uint64_t>> order;  // (last served, client) of the picked bucket

  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    const int64_t now = shm::MonotonicNs();
    if (stopping_ && stop_deadline_ns_ != 0 && now >= stop_deadline_ns_ && !pending_.empty()) {
      // Shutdown's deadline: nothing more is computed (the worker is here, so nothing computes).
      done.clear();
      DropAllLocked(&done);
      lock.unlock();
      for (auto& r : done) Deliver(std::move(r));
      done.clear();
      lock.lock();
      continue;
    }
    // Of the ready buckets, pick the one holding the client served least recently; the oldest
    // sequence breaks ties. (Picking by age alone let a deep flood in one bucket hold back a
    // light client's bucket until every older flood sequence had run.)
    int64_t next_due = std::numeric_limits<int64_t>::max();
    size_t pick = buckets_.size();
    uint64_t pick_served = std::numeric_limits<uint64_t>::max();
    int64_t pick_oldest = std::numeric_limits<int64_t>::max();
    // The worker is here, so nothing computes: a lone request in an empty scheduler runs now.
    const bool lone = options_.dispatch_lone_requests && lone_arrival_ && pending_.size() == 1;
    for (size_t i = 0; i < buckets_.size(); ++i) {
      const Bucket& b = buckets_[i];
      if (b.seqs == 0) continue;
      const int64_t oldest = OldestIn(b);
      next_due = std::min(next_due, oldest + max_delay_ns);
      const bool ready = stopping_ || lone || b.tokens >= options_.token_budget ||
                         b.seqs >= options_.max_batch_sequences || now - oldest >= max_delay_ns;
      if (!ready) continue;
      uint64_t served = std::numeric_limits<uint64_t>::max();
      for (const auto& [id, q] : b.per_client) served = std::min(served, LastServedLocked(id));
      if (served < pick_served || (served == pick_served && oldest < pick_oldest)) {
        pick = i;
        pick_served = served;
        pick_oldest = oldest;
      }
    }
    if (pick == buckets_.size()) {
      if (stopping_ && queued_seqs_ == 0) {
        worker_done_ = true;
        done_cv_.notify_all();
        break;
      }
      if (next_due == std::numeric_limits<int64_t>::max()) {
        cv_.wait(lock);
      } else {
        cv_.wait_for(lock, std::chrono::nanoseconds(std::max<int64_t>(next_due - now, 1000)));
      }
      continue;
    }

    // Fill the batch one sequence per client in turn, least recently served client first,
    // dropping expired requests and those of clients that are gone.
    Bucket& b = buckets_[pick];
    batch.clear();
    done.clear();
    order.clear();
    for (const auto& [id, q] : b.per_client) order.emplace_back(LastServedLocked(id), id);
    std::sort(order.begin(), order.end());
    const uint64_t batch_number = ++batch_number_;
    uint64_t tokens = 0;
    bool full = false;
    while (!full && b.seqs != 0) {
      bool progress = false;
      for (const auto& [served, client] : order) {
        if (batch.size() >= options_.max_batch_sequences) {
          full = true;
          break;
        }
        auto it = b.per_client.find(client);
        if (it == b.per_client.end()) continue;
        SeqRef s = it->second.front();
        if (s.req->cancelled && s.req->cancelled->load(std::memory_order_acquire)) {
          DropCancelledLocked(s.req);
          progress = true;
          continue;
        }
        const uint32_t len = s.req->offsets[s.index + 1] - s.req->offsets[s.index];
        PendingRequest& p = pending_.at(s.req);
        if (s.req->deadline_ns != 0 && now > s.req->deadline_ns) {
          ++stats_.deadline_dropped_requests;
          FailLocked(p, LAM_STATUS_DEADLINE_EXCEEDED,
                     "request waited " + std::to_string((now - s.enqueue_ns) / 1000) +
                         " us in the queue, past its deadline",
                     &done);
          progress = true;
          continue;  // FailLocked removed its sequences from the queues
        }
        if (!batch.empty() && tokens + len > options_.token_budget) {
          full = true;
          break;
        }
        it->second.pop_front();
        if (it->second.empty()) b.per_client.erase(it);
        --b.seqs;
        b.tokens -= len;
        --queued_seqs_;
        DequeuedLocked(client, 1);
        if (auto c = clients_.find(client); c != clients_.end()) c->second.last_served = batch_number;
        tokens += len;
        ++p.in_batch;
        batch.push_back(s);
        progress = true;
      }
      if (!progress) break;
    }
    if (batch.empty()) {
      lock.unlock();
      for (auto& r : done) Deliver(std::move(r));
      done.clear();
      lock.lock();
      continue;
    }
    for (const SeqRef& s : batch) {
      const int64_t wait = now - s.enqueue_ns;
      RecordWaitLocked(wait);
      s.req->queue_ns = std::max(s.req->queue_ns, wait);
    }
    computing_ = true;
    lock.unlock();

    // Already-failed requests complete before this batch computes.
    for (auto& r : done) Deliver(std::move(r));
    done.clear();

    spans.resize(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      const Request* r = batch[i].req;
      spans[i].ids = r->tokens.data() + r->offsets[batch[i].index];
      spans[i].len = r->offsets[batch[i].index + 1] - r->offsets[batch[i].index];
    }
    scratch.resize(batch.size() * static_cast<size_t>(dim_));
    const int64_t t0 = shm::MonotonicNs();
    // No exception leaves this thread (DESIGN.md invariant 7): one from the engine or an
    // allocation fails this batch like an engine error, and the worker goes on.
    Status st;
    try {
      st = engine_->Embed(spans, scratch.data());
      if (st.ok()) {
        // Only this thread touches output; cancelled requests are discarded below.
        for (size_t i = 0; i < batch.size(); ++i) {
          Request* r = batch[i].req;
          if (r->output.empty()) r->output.resize(r->n_seqs() * static_cast<size_t>(dim_));
          std::memcpy(r->output.data() + size_t{batch[i].index} * dim_, scratch.data() + i * dim_,
                      sizeof(float) * static_cast<size_t>(dim_));
        }
      }
    } catch (const std::exception& e) {
      st = Status(LAM_STATUS_INTERNAL, std::string("batch failed: ") + e.what());
    } catch (...) {
      st = Status(LAM_STATUS_INTERNAL, "batch failed: unknown exception");
    }
    const int64_t compute_ns = shm::MonotonicNs() - t0;

    lock.lock();
    computing_ = false;
    ++stats_.batches_total;
    stats_.sequences_total += batch.size();
    stats_.tokens_total += tokens;
    stats_.compute_ns_total += static_cast<uint64_t>(compute_ns);
    ++stats_.batch_histogram[HistogramBin(batch.size())];
    stats_.batch_seconds.Observe(compute_ns);
    if (!st.ok()) ++stats_.engine_failures;
    for (const SeqRef& s : batch) {
      auto it = pending_.find(s.req);
      PendingRequest& p = it->second;
      --p.in_batch;
      --p.remaining;
      if (!p.failed) s.req->compute_ns += compute_ns;
    }
    for (const SeqRef& s : batch) {
      auto it = pending_.find(s.req);
      if (it == pending_.end()) continue;  // already collected via a batch mate of the same request
      if (!st.ok()) FailLocked(it->second, st.code(), st.message(), &done);
      it = pending_.find(s.req);
      if (it != pending_.end()) CollectLocked(s.req, &done);
    }
    lock.unlock();
    for (auto& r : done) Deliver(std::move(r));
    done.clear();
    lock.lock();
  }
}

void Scheduler::Deliver(std::unique_ptr<Request> request) noexcept {
  // The sink must not throw; if it does anyway the request is dropped rather than the worker.
  try {
    sink_->OnComplete(std::move(request));
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.sink_failures;
  }
}

Stats Scheduler::GetStats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Stats s = stats_;
  s.queued_sequences = queued_seqs_;
  s.queued_requests = pending_.size();
  if (!wait_samples_.empty()) {
    std::vector<int64_t> w = wait_samples_;
    auto pct = [&w](double q) {
      const size_t k = std::min(w.size() - 1, static_cast<size_t>(q * static_cast<double>(w.size())));
      std::nth_element(w.begin(), w.begin() + static_cast<std::ptrdiff_t>(k), w.end());
      return w[k] / 1000;
    };
    s.wait_p50_us = pct(0.50);
    s.wait_p99_us = pct(0.99);
  }
  return s;
}

}  // namespace lam::scheduler
