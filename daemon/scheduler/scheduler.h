// SPDX-License-Identifier: MIT
// The batching scheduler: requests from all clients are split into sequences, grouped by length
// class (bucket) and run through the engine in batches on one worker thread.
//
// A bucket's batch runs when it holds token_budget tokens or max_batch_sequences sequences, or
// when its oldest sequence has waited max_delay. With dispatch_lone_requests, a request that
// finds the scheduler idle and empty after at least max_delay without any other arrival runs
// at once: waiting for batch mates only pays when requests come close together, and a lone
// request (one short-lived process embedding one sentence) should not pay the delay. Requests
// arriving while a batch computes queue up and run together next, delay or not.
//
// Fairness is per client, not per arrival: of the buckets that are ready, the next batch is
// formed from the one holding the client served least recently (the oldest sequence breaks
// ties), and a batch is filled one sequence per client in turn, least recently served first.
// So a light client's sequences go into the next batch formed once their bucket is ready, even
// behind a flooding client's thousands of queued sequences of another length class, and a
// client with many sequences in a bucket shares each batch with the others. The queue is
// bounded (OVERLOADED beyond
// max_queued_sequences). A request whose deadline passes before its last sequence is computed
// completes with DEADLINE_EXCEEDED and its queued sequences are dropped before compute.
// Results never depend on batch mates (the engine guarantees batch invariance and the
// scheduler passes every sequence's ids unchanged).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/histogram.h"
#include "common/status.h"
#include "engine/engine.h"

namespace lam::scheduler {

// One client request. Filled by the submitter; the scheduler fills the result fields and hands
// the request back through CompletionSink exactly once, unless it was cancelled.
struct Request {
  uint64_t client_id = 0;
  uint64_t ticket = 0;
  uint64_t output_offset = 0;        // opaque to the scheduler (where the owner puts results)
  std::shared_ptr<void> context;     // opaque owner state, kept alive until completion
  std::vector<int32_t> tokens;       // all sequences back to back
  std::vector<uint32_t> offsets;     // n_seqs + 1 prefix offsets into tokens
  int64_t deadline_ns = 0;           // monotonic; 0 = none
  // Optional: the owner's "this client is gone" flag (lamd: its session's `closed`). Submit
  // refuses a request whose flag is set, reading it under the scheduler lock, and the worker
  // drops a queued request whose flag is set before computing it. An owner that sets the flag
  // and then calls CancelClient leaves nothing of that client queued whichever of Submit and
  // CancelClient runs first: a Submit that takes the lock after CancelClient sees the flag.
  std::shared_ptr<const std::atomic<bool>> cancelled;
  // Opaque to the scheduler: the owner's transport tag (lamd: shared memory or HTTP) and when the
  // request arrived (monotonic ns), for its completion path and latency metrics.
  uint32_t transport = 0;
  int64_t arrival_ns = 0;

  // Results.
  std::vector<float> output;         // n_seqs * embedding_dim on success
  lam_status status = LAM_STATUS_OK;
  std::string message;
  int64_t queue_ns = 0;              // longest wait of one of its sequences before compute
  int64_t compute_ns = 0;            // sum of the compute time of the batches it ran in

  size_t n_seqs() const { return offsets.empty() ? 0 : offsets.size() - 1; }
};

class CompletionSink {
 public:
  virtual ~CompletionSink() = default;
  // Called on the worker thread, without scheduler locks held.
  virtual void OnComplete(std::unique_ptr<Request> request) = 0;
};

struct Options {
  int64_t max_delay_us = 1000;           // longest a sequence waits for batch mates
  bool dispatch_lone_requests = false;   // see the top of this file
  uint32_t token_budget = 8192;          // real tokens per batch (a longer sequence runs alone)
  uint32_t max_batch_sequences = 64;
  uint32_t max_queued_sequences = 16384;  // across all clients
  std::vector<uint32_t> buckets;          // ascending length classes; empty = powers of two
};

inline constexpr size_t kBatchHistogramBins = 9;  // 1, 2-3, 4-7, ..., 128-255, 256+

struct Stats {
  uint64_t queued_sequences = 0;
  uint64_t queued_requests = 0;
  uint64_t queued_high_water = 0;
  uint64_t batches_total = 0;
  uint64_t sequences_total = 0;
  uint64_t tokens_total = 0;
  uint64_t deadline_dropped_requests = 0;
  uint64_t overloaded_requests = 0;
  uint64_t cancelled_requests = 0;   // dropped because their client was gone (flag or CancelClient)
  uint64_t engine_failures = 0;
  uint64_t sink_failures = 0;             // completions whose delivery threw (dropped)
  uint64_t compute_ns_total = 0;
  uint64_t batch_histogram[kBatchHistogramBins] = {};
  LatencyHistogram batch_seconds;  // compute time of each batch
  int64_t wait_p50_us = 0;
  int64_t wait_p99_us = 0;
  int64_t wait_max_us = 0;
  std::vector<uint32_t> buckets;
};

// Length classes used when Options::buckets is empty: 16, 32, ..., up to max_tokens.
std::vector<uint32_t> DefaultBuckets(uint32_t max_tokens);

class Scheduler {
 public:
  Scheduler(engine::Engine* engine, Options options, CompletionSink* sink);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request (tokens/offsets already validated by the caller). On OVERLOADED (queue
  // full) or CANCELLED (shutting down, or the request's `cancelled` flag is set) the request
  // stays with the caller.
  Status Submit(std::unique_ptr<Request>& request);

  // Drops every queued sequence of the client; its requests never complete. A batch already
  // computing finishes, but its results for this client are discarded. Requests of the client
  // submitted later are only refused if they carry a `cancelled` flag the owner set first.
  void CancelClient(uint64_t client_id);

  struct ShutdownResult {
    size_t dropped = 0;    // requests dropped at the deadline
    bool joined = true;    // false: a batch was still computing at abandon_ns (see Shutdown)
  };
  // Stops admitting and runs what is queued until `deadline_ns` (monotonic; 0 = no limit), then
  // drops the rest: every request still queued completes with CANCELLED through the sink (those
  // whose `cancelled` flag is set are dropped silently). A batch computing at the deadline
  // cannot be interrupted: Shutdown waits for it and joins the worker, or, with `abandon_ns`
  // (monotonic; 0 = wait however long), returns at that time with joined = false while the
  // worker still computes. The caller must then end the process without destroying the engine
  // or the scheduler (lamd _exits); destroying the scheduler waits for the batch. Idempotent.
  ShutdownResult Shutdown(int64_t deadline_ns = 0, int64_t abandon_ns = 0);

  // True when nothing is queued or computing.
  bool Idle() const;

  Stats GetStats() const;
  const std::vector<uint32_t>& buckets() const { return options_.buckets; }
  const Options& options() const { return options_; }

 private:
  struct SeqRef {
    Request* req;
    uint32_t index;
    int64_t enqueue_ns;
  };
  struct PendingRequest {
    std::unique_ptr<Request> req;
    uint32_t remaining = 0;   // sequences not yet computed or dropped
    uint32_t in_batch = 0;    // sequences in the batch now computing
    bool cancelled = false;
    bool failed = false;
  };
  struct Bucket {
    std::map<uint64_t, std::deque<SeqRef>> per_client;
    uint64_t seqs = 0;
    uint64_t tokens = 0;
  };
  struct ClientState {
    uint64_t queued = 0;       // sequences queued in any bucket
    uint64_t last_served = 0;  // number of the last batch that took one of its sequences; 0 = none
  };

  void WorkerLoop();
  // Hands one finished request to the sink; no exception leaves it.
  void Deliver(std::unique_ptr<Request> request) noexcept;
  size_t BucketFor(uint32_t len) const;
  int64_t OldestIn(const Bucket& b) const;
  // Removes the queued sequences of `req` from every bucket (lock held).
  void PurgeLocked(Request* req);
  // Bookkeeping of ClientState::queued when `n` sequences of `client` leave the queue.
  void DequeuedLocked(uint64_t client, uint64_t n);
  uint64_t LastServedLocked(uint64_t client) const;
  // Drops a queued request whose client is gone: no completion (lock held).
  void DropCancelledLocked(Request* req);
  // Deadline passed during Shutdown: completes every queued request with CANCELLED.
  void DropAllLocked(std::vector<std::unique_ptr<Request>>* done);
  void FailLocked(PendingRequest& p, lam_status code, std::string message,
                  std::vector<std::unique_ptr<Request>>* done);
  void CollectLocked(Request* req, std::vector<std::unique_ptr<Request>>* done);
  void RecordWaitLocked(int64_t wait_ns);

  engine::Engine* engine_;
  Options options_;
  CompletionSink* sink_;
  int dim_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Bucket> buckets_;
  std::unordered_map<Request*, PendingRequest> pending_;
  std::unordered_map<uint64_t, ClientState> clients_;  // clients with queued sequences
  uint64_t batch_number_ = 0;
  uint64_t queued_seqs_ = 0;
  bool stopping_ = false;
  int64_t stop_deadline_ns_ = 0;  // Shutdown's deadline; 0 = finish everything
  bool worker_done_ = false;      // WorkerLoop returned
  std::condition_variable done_cv_;
  size_t shutdown_dropped_ = 0;
  bool computing_ = false;
  int64_t last_submit_ns_ = 0;
  bool lone_arrival_ = false;  // the latest request came after max_delay without arrivals
  Stats stats_;
  std::vector<int64_t> wait_samples_;  // ring of recent per-sequence waits (ns)
  size_t wait_next_ = 0;
  std::thread worker_;
};

}  // namespace lam::scheduler
