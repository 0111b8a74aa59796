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
  stats_.queued_high_water = std::max<uint64_t>(stats_.queued_high_water, queued_seqs_);
  PendingRequest p;
  p.req = std::move(request);
  p.remaining = static_cast<uint32_t>(n);
  pending_.emplace(raw, std::move(p));
  cv_.notify_one();
  return Status::Ok();
}

void Scheduler::PurgeLocked(Request* req) {
  for (Bucket& b : buckets_) {
    auto it = b.per_client.find(req->client_id);
    if (it == b.per_client.end()) continue;
    auto& q = it->second;
    for (auto qi = q.begin(); qi != q.end();) {
      if (qi->req == req) {
        --b.seqs;
        b.tokens -= req->offsets[qi->index + 1] - req->offsets[qi->index];
        --queued_seqs_;
        qi = q.erase(qi);
      } else {
        ++qi;
      }
    }
    if (q.empty()) b.per_client.erase(it);
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
    if (it->first->client_id == client_id) {
      if (it->second.in_batch == 0) {
        it = pending_.erase(it);
        continue;
      }
      it->second.cancelled = true;
    }
    ++it;
  }
}

void Scheduler::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (worker_.joinable()) worker_.join();
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

  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    // Pick the ready bucket whose oldest sequence has waited longest.
    const int64_t now = shm::MonotonicNs();
    int64_t next_due = std::numeric_limits<int64_t>::max();
    size_t pick = buckets_.size();
    int64_t pick_oldest = std::numeric_limits<int64_t>::max();
    // The worker is here, so nothing computes: a lone request in an empty scheduler runs now.
    const bool lone = options_.dispatch_lone_requests && lone_arrival_ && pending_.size() == 1;
    for (size_t i = 0; i < buckets_.size(); ++i) {
      const Bucket& b = buckets_[i];
      if (b.seqs == 0) continue;
      const int64_t oldest = OldestIn(b);
      const bool ready = stopping_ || lone || b.tokens >= options_.token_budget ||
                         b.seqs >= options_.max_batch_sequences || now - oldest >= max_delay_ns;
      if (ready && oldest < pick_oldest) {
        pick = i;
        pick_oldest = oldest;
      }
      next_due = std::min(next_due, oldest + max_delay_ns);
    }
    if (pick == buckets_.size()) {
      if (stopping_ && queued_seqs_ == 0) break;
      if (next_due == std::numeric_limits<int64_t>::max()) {
        cv_.wait(lock);
      } else {
        cv_.wait_for(lock, std::chrono::nanoseconds(std::max<int64_t>(next_due - now, 1000)));
      }
      continue;
    }

    // Fill the batch round-robin across the bucket's clients, dropping expired requests.
    Bucket& b = buckets_[pick];
    batch.clear();
    done.clear();
    uint64_t tokens = 0;
    while (b.seqs != 0 && batch.size() < options_.max_batch_sequences) {
      auto it = b.per_client.lower_bound(b.next_client);
      if (it == b.per_client.end()) it = b.per_client.begin();
      SeqRef s = it->second.front();
      const uint32_t len = s.req->offsets[s.index + 1] - s.req->offsets[s.index];
      PendingRequest& p = pending_.at(s.req);
      if (s.req->deadline_ns != 0 && now > s.req->deadline_ns) {
        ++stats_.deadline_dropped_requests;
        FailLocked(p, LAM_STATUS_DEADLINE_EXCEEDED,
                   "request waited " + std::to_string((now - s.enqueue_ns) / 1000) +
                       " us in the queue, past its deadline",
                   &done);
        continue;  // FailLocked removed its sequences from the queues
      }
      if (!batch.empty() && tokens + len > options_.token_budget) break;
      it->second.pop_front();
      const uint64_t client = it->first;
      if (it->second.empty()) b.per_client.erase(it);
      b.next_client = client + 1;
      --b.seqs;
      b.tokens -= len;
      --queued_seqs_;
      tokens += len;
      ++p.in_batch;
      batch.push_back(s);
    }
    if (batch.empty()) {
      lock.unlock();
      for (auto& r : done) sink_->OnComplete(std::move(r));
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
    for (auto& r : done) sink_->OnComplete(std::move(r));
    done.clear();

    spans.resize(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      const Request* r = batch[i].req;
      spans[i].ids = r->tokens.data() + r->offsets[batch[i].index];
      spans[i].len = r->offsets[batch[i].index + 1] - r->offsets[batch[i].index];
    }
    scratch.resize(batch.size() * static_cast<size_t>(dim_));
    const int64_t t0 = shm::MonotonicNs();
    Status st = engine_->Embed(spans, scratch.data());
    const int64_t compute_ns = shm::MonotonicNs() - t0;
    if (st.ok()) {
      // Only this thread touches output; cancelled requests are discarded below.
      for (size_t i = 0; i < batch.size(); ++i) {
        Request* r = batch[i].req;
        if (r->output.empty()) r->output.resize(r->n_seqs() * static_cast<size_t>(dim_));
        std::memcpy(r->output.data() + size_t{batch[i].index} * dim_, scratch.data() + i * dim_,
                    sizeof(float) * static_cast<size_t>(dim_));
      }
    }

    lock.lock();
    computing_ = false;
    ++stats_.batches_total;
    stats_.sequences_total += batch.size();
    stats_.tokens_total += tokens;
    stats_.compute_ns_total += static_cast<uint64_t>(compute_ns);
    ++stats_.batch_histogram[HistogramBin(batch.size())];
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
    for (auto& r : done) sink_->OnComplete(std::move(r));
    done.clear();
    lock.lock();
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
