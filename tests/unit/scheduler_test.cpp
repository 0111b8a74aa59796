// SPDX-License-Identifier: MIT
// The batching scheduler against a deterministic fake engine.
#include "scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "shm/frame_io.h"
#include "support/fake_engine.h"

namespace lam::scheduler {
namespace {

using lam::testing::FakeEngine;
using namespace std::chrono_literals;

class CollectingSink : public CompletionSink {
 public:
  void OnComplete(std::unique_ptr<Request> r) override {
    std::lock_guard<std::mutex> lock(mu_);
    done_.push_back(std::move(r));
    cv_.notify_all();
  }
  // Waits until `n` completions arrived (or 10 s).
  bool WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return done_.size() >= n; });
  }
  std::vector<std::unique_ptr<Request>> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(done_);
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return done_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Request>> done_;
};

// A request of sequences with the given lengths; ids start at `first` and count up.
std::unique_ptr<Request> MakeRequest(uint64_t client, uint64_t ticket, std::vector<uint32_t> lengths,
                                     int32_t first = 1, int64_t deadline_ns = 0) {
  auto r = std::make_unique<Request>();
  r->client_id = client;
  r->ticket = ticket;
  r->deadline_ns = deadline_ns;
  r->offsets.push_back(0);
  int32_t id = first;
  for (uint32_t len : lengths) {
    for (uint32_t j = 0; j < len; ++j) r->tokens.push_back(id++ % 1000);
    r->offsets.push_back(static_cast<uint32_t>(r->tokens.size()));
  }
  return r;
}

void ExpectMatchesReference(const FakeEngine& engine, const Request& r) {
  const int dim = engine.info().embedding_dim;
  ASSERT_EQ(r.status, LAM_STATUS_OK) << r.message;
  ASSERT_EQ(r.output.size(), r.n_seqs() * dim);
  std::vector<float> want(dim);
  for (size_t i = 0; i < r.n_seqs(); ++i) {
    engine::TokenSpan s{r.tokens.data() + r.offsets[i], r.offsets[i + 1] - r.offsets[i]};
    engine.Reference(s, want.data());
    EXPECT_EQ(std::memcmp(want.data(), r.output.data() + i * dim, dim * sizeof(float)), 0) << "sequence " << i;
  }
}

TEST(SchedulerTest, DefaultBucketsArePowersOfTwoUpToTheModelMaximum) {
  EXPECT_EQ(DefaultBuckets(512), (std::vector<uint32_t>{16, 32, 64, 128, 256, 512}));
  EXPECT_EQ(DefaultBuckets(100), (std::vector<uint32_t>{16, 32, 64, 100}));
}

TEST(SchedulerTest, EverySequenceGetsItsOwnEmbeddingWhateverItsBatchMates) {
  FakeEngine engine;
  CollectingSink sink;
  Options o;
  o.max_delay_us = 2000;
  Scheduler s(&engine, o, &sink);
  for (uint64_t t = 0; t < 20; ++t) {
    auto r = MakeRequest(t % 3, t, {static_cast<uint32_t>(1 + t), 5, static_cast<uint32_t>(40 + t)}, static_cast<int32_t>(t * 13));
    ASSERT_TRUE(s.Submit(r).ok());
  }
  ASSERT_TRUE(sink.WaitFor(20));
  for (const auto& r : sink.Take()) ExpectMatchesReference(engine, *r);
}

TEST(SchedulerTest, FullBucketRunsBeforeTheDelayExpires) {
  FakeEngine engine;
  CollectingSink sink;
  Options o;
  o.max_delay_us = 10'000'000;  // 10 s: only a full batch can run
  o.max_batch_sequences = 8;
  Scheduler s(&engine, o, &sink);
  const auto t0 = std::chrono::steady_clock::now();
  for (uint64_t t = 0; t < 8; ++t) {
    auto r = MakeRequest(1, t, {4});
    ASSERT_TRUE(s.Submit(r).ok());
  }
  ASSERT_TRUE(sink.WaitFor(8));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(engine.batch_sizes(), (std::vector<size_t>{8}));
}

TEST(SchedulerTest, PartialBucketRunsAfterTheMaximumDelay) {
  FakeEngine engine;
  CollectingSink sink;
  Options o;
  o.max_delay_us = 30'000;
  Scheduler s(&engine, o, &sink);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = MakeRequest(1, 1, {4, 4});
  ASSERT_TRUE(s.Submit(r).ok());
  ASSERT_TRUE(sink.WaitFor(1));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 25ms);
  EXPECT_EQ(engine.batch_sizes(), (std::vector<size_t>{2}));
}

TEST(SchedulerTest, LoneRequestRunsAtOnceButCloseArrivalsStillWaitForMates) {
  FakeEngine engine;
  CollectingSink sink;
  Options o;
  o.max_delay_us = 300'000;  // 0.3 s
  o.dispatch_lone_requests = true;
  Scheduler s(&engine, o, &sink);
  auto t0 = std::chrono::steady_clock::now();
  auto a = MakeRequest(1, 1, {4, 4});
  ASSERT_TRUE(s.Submit(a).ok());
  ASSERT_TRUE(sink.WaitFor(1));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 200ms) << "a lone request waited for mates";
  // Two requests right after it arrive close together: they wait and run as one batch.
  t0 = std::chrono::steady_clock::now();
  auto b = MakeRequest(2, 2, {4});
  auto c = MakeRequest(3, 3, {4});
  ASSERT_TRUE(s.Submit(b).ok());
  ASSERT_TRUE(s.Submit(c).ok());
  ASSERT_TRUE(sink.WaitFor(3));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 250ms);
  EXPECT_EQ(engine.batch_sizes(), (std::vector<size_t>{2, 2}));
  // After a quiet spell longer than the delay, a request is lone again.
  std::this_thread::sleep_for(350ms);
  t0 = std::chrono::steady_clock::now();
  auto d = MakeRequest(1, 4, {4});
  ASSERT_TRUE(s.Submit(d).ok());
  ASSERT_TRUE(sink.WaitFor(4));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 200ms);
  for (auto& r : sink.Take()) ExpectMatchesReference(engine, *r);
}

TEST(SchedulerTest, SequencesAreGroupedByLengthClass) {
  FakeEngine engine;
  CollectingSink sink;
  Options o;
  o.max_delay_us = 20'000;
  o.buckets = {16, 512};
  Scheduler s(&engine, o, &sink);
  auto r = MakeRequest(1, 1, {3, 300, 5, 400, 7});
  ASSERT_TRUE(s.Submit(r).ok());
  ASSERT_TRUE(sink.WaitFor(1));
  auto sizes = engine.batch_sizes();
  std::sort(sizes.begin(), sizes.end());
  EXPECT_EQ(sizes, (std::vector<size_t>{2, 3}));
  ExpectMatchesReference(engine, *sink.Take()[0]);
}

TEST(SchedulerTest, TokenBudgetCapsABatchButALongSequenceStillRunsAlone) {
  FakeEngine engine;
  CollectingSink sink;
  Options o;
  o.max_delay_us = 1000;
  o.token_budget = 100;
  o.buckets = {512};
  Scheduler s(&engine, o, &sink);
  engine.delay_ms = 20;  // let the queue fill behind the first batch
  for (uint64_t t = 0; t < 6; ++t) {
    auto r = MakeRequest(1, t, {t == 0 ? 300u : 40u});
    ASSERT_TRUE(s.Submit(r).ok());
  }
  ASSERT_TRUE(sink.WaitFor(6));
  for (size_t tokens : engine.batch_tokens()) EXPECT_TRUE(tokens <= 100 || tokens == 300) << tokens;
}

TEST(SchedulerTest, RoundRobinKeepsAFloodingClientFromStarvingAnother) {
  FakeEngine engine;
  CollectingSink sink;
  Options o;
  o.max_delay_us = 1000;
  o.max_batch_sequences = 4;
  Scheduler s(&engine, o, &sink);
  engine.delay_ms = 30;
  // A blocker occupies the worker while both clients queue up.
  auto blocker = MakeRequest(9, 0, {4}, 900);
  ASSERT_TRUE(s.Submit(blocker).ok());
  std::this_thread::sleep_for(10ms);
  auto flood = MakeRequest(1, 1, std::vector<uint32_t>(40, 4), 100);  // client 1: 40 sequences
  ASSERT_TRUE(s.Submit(flood).ok());
  auto small = MakeRequest(2, 2, {4, 4}, 500);  // client 2: 2 sequences, submitted later
  ASSERT_TRUE(s.Submit(small).ok());
  ASSERT_TRUE(sink.WaitFor(3));
  // Client 2's sequences (first ids 500, 504) ran in the first batch after the blocker.
  const auto ids = engine.first_ids();
  ASSERT_GE(ids.size(), 5u);
  std::vector<int32_t> second_batch(ids.begin() + 1, ids.begin() + 5);
  EXPECT_NE(std::find(second_batch.begin(), second_batch.end(), 500), second_batch.end());
  EXPECT_NE(std::find(second_batch.begin(), second_batch.end(), 504), second_batch.end());
}

TEST(SchedulerTest, FullQueueAnswersOverloadedAndKeepsTheRequestWithTheCaller) {
  FakeEngine engine;
  CollectingSink sink;
  Options o;
  o.max_delay_us = 10'000'000;
  o.max_queued_sequences = 10;
  o.max_batch_sequences = 64;
  Scheduler s(&engine, o, &sink);
  auto a = MakeRequest(1, 1, std::vector<uint32_t>(8, 2));
  ASSERT_TRUE(s.Submit(a).ok());
  auto b = MakeRequest(1, 2, std::vector<uint32_t>(3, 2));
  Status st = s.Submit(b);
  EXPECT_EQ(st.code(), LAM_STATUS_OVERLOADED);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(s.GetStats().overloaded_requests, 1u);
  EXPECT_EQ(s.GetStats().queued_sequences, 8u);
}

TEST(SchedulerTest, ExpiredRequestIsDroppedBeforeCompute) {
  FakeEngine engine;
  CollectingSink sink;
  Options o;
  o.max_delay_us = 1000;
  Scheduler s(&engine, o, &sink);
  engine.delay_ms = 100;
  auto blocker = MakeRequest(1, 1, {4}, 1);
  ASSERT_TRUE(s.Submit(blocker).ok());
  // Once the blocker computes (not after a fixed sleep: on a loaded machine the worker may not
  // have taken it yet, and the late request would join its batch).
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (engine.first_ids().empty() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
  ASSERT_FALSE(engine.first_ids().empty());
  const int64_t deadline = shm::MonotonicNs() + 20'000'000;  // 20 ms, blocker takes 100 ms
  auto late = MakeRequest(2, 2, {4, 4}, 700, deadline);
  ASSERT_TRUE(s.Submit(late).ok());
  ASSERT_TRUE(sink.WaitFor(2));
  auto done = sink.Take();
  const auto& expired = done[0]->ticket == 2 ? done[0] : done[1];
  EXPECT_EQ(expired->status, LAM_STATUS_DEADLINE_EXCEEDED);
  EXPECT_TRUE(expired->output.empty());
  const auto ids = engine.first_ids();
  EXPECT_EQ(std::find(ids.begin(), ids.end(), 700), ids.end()) << "expired sequence was computed";
  EXPECT_EQ(s.GetStats().deadline_dropped_requests, 1u);
}

TEST(SchedulerTest, CancelledClientsRequestsNeverCompleteOrCompute) {
  FakeEngine engine;
  CollectingSink sink;
  Options o;
  o.max_delay_us = 1000;
  Scheduler s(&engine, o, &sink);
  engine.delay_ms = 50;
  auto blocker = MakeRequest(1, 1, {4}, 1);
  ASSERT_TRUE(s.Submit(blocker).ok());
  std::this_thread::sleep_for(10ms);
  auto gone = MakeRequest(2, 2, {4, 4, 4}, 300);
  ASSERT_TRUE(s.Submit(gone).ok());
  s.CancelClient(2);
  EXPECT_EQ(s.GetStats().queued_sequences, 0u);
  ASSERT_TRUE(sink.WaitFor(1));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(sink.count(), 1u);
  const auto ids = engine.first_ids();
  EXPECT_EQ(std::find(ids.begin(), ids.end(), 300), ids.end());
  EXPECT_TRUE(s.Idle());
}

// The lamd race (issue 10, defect 3): a text job finished tokenising after its client's
// connection closed and CancelClient ran, then submitted; the sequences stayed queued and were
// computed for nobody. The owner sets the request's `cancelled` flag before CancelClient, and
// Submit reads it under the scheduler lock.
TEST(SchedulerTest, SubmitAfterCancelClientIsRefusedAndNothingOfItComputes) {
  FakeEngine engine;
  CollectingSink sink;
  Options o;
  o.max_delay_us = 1000;
  Scheduler s(&engine, o, &sink);
  engine.delay_ms = 30;
  auto closed = std::make_shared<std::atomic<bool>>(false);
  auto blocker = MakeRequest(1, 1, {4}, 1);
  ASSERT_TRUE(s.Submit(blocker).ok());
  std::this_thread::sleep_for(10ms);
  auto queued = MakeRequest(2, 2, {4, 4}, 300);
  queued->cancelled = closed;
  ASSERT_TRUE(s.Submit(queued).ok());
  // The client goes away: the owner sets the flag, then cancels.
  closed->store(true);
  s.CancelClient(2);
  // A submitter that read "not closed" before, and tokenised meanwhile, submits now.
  auto late = MakeRequest(2, 3, std::vector<uint32_t>(50, 4), 600);
  late->cancelled = closed;
  EXPECT_EQ(s.Submit(late).code(), LAM_STATUS_CANCELLED);
  ASSERT_NE(late, nullptr) << "a refused request stays with the caller";
  EXPECT_EQ(s.GetStats().queued_sequences, 0u);
  ASSERT_TRUE(sink.WaitFor(1));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(sink.count(), 1u);
  for (int32_t id : engine.first_ids()) {
    EXPECT_TRUE(id < 300) << "a sequence of the cancelled client was computed (first id " << id << ")";
  }
  EXPECT_TRUE(s.Idle());
  EXPECT_EQ(s.GetStats().cancelled_requests, 2u);
}

// The worker checks the flag too: a queued request whose client is gone is dropped before
// compute even if the owner never called CancelClient.
TEST(SchedulerTest, QueuedRequestOfAGoneClientIsDroppedBeforeCompute) {
  FakeEngine engine;
  CollectingSink sink;
  Options o;
  o.max_delay_us = 1000;
  Scheduler s(&engine, o, &sink);
  engine.delay_ms = 30;
  auto closed = std::make_shared<std::atomic<bool>>(false);
  auto blocker = MakeRequest(1, 1, {4}, 1);
  ASSERT_TRUE(s.Submit(blocker).ok());
  std::this_thread::sleep_for(10ms);
  auto gone = MakeRequest(2, 2, {4, 4, 4}, 300);
  gone->cancelled = closed;
  ASSERT_TRUE(s.Submit(gone).ok());
  closed->store(true);
  ASSERT_TRUE(sink.WaitFor(1));
  for (int i = 0; i < 200 && !s.Idle(); ++i) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(s.Idle());
  EXPECT_EQ(sink.count(), 1u);
  const auto ids = engine.first_ids();
  EXPECT_EQ(std::find(ids.begin(), ids.end(), 300), ids.end());
}

// Issue 10, defect 6: buckets were picked by the age of their oldest sequence, so a deep flood
// of one length class held a light client's request of another class back until every older
// flood sequence had run. Now the bucket of the least recently served client goes next.
TEST(SchedulerTest, LightClientGoesIntoTheNextBatchBehindAFloodOfAnotherLengthClass) {
  FakeEngine engine;
  CollectingSink sink;
  Options o;
  o.max_delay_us = 1000;
  o.buckets = {16, 64};
  o.max_batch_sequences = 64;
  Scheduler s(&engine, o, &sink);
  engine.delay_ms = 10;
  for (uint64_t t = 0; t < 2000; ++t) {  // client 1: 2000 one-sequence requests, ~31 batches
    auto r = MakeRequest(1, t, {4}, 1);
    ASSERT_TRUE(s.Submit(r).ok());
  }
  std::this_thread::sleep_for(25ms);  // a few flood batches ran; the rest is queued
  auto light = MakeRequest(2, 9999, {40}, 500);
  ASSERT_TRUE(s.Submit(light).ok());
  const size_t batches_then = engine.batch_sizes().size();
  ASSERT_LT(batches_then, 20u) << "the flood ran too fast for this test to mean anything";
  ASSERT_TRUE(sink.WaitFor(2001));
  // Find the batch that computed the light sequence (first id 500).
  const auto sizes = engine.batch_sizes();
  const auto ids = engine.first_ids();
  size_t seen = 0, light_batch = sizes.size();
  for (size_t b = 0; b < sizes.size() && light_batch == sizes.size(); ++b) {
    for (size_t i = seen; i < seen + sizes[b]; ++i) {
      if (ids[i] == 500) light_batch = b;
    }
    seen += sizes[b];
  }
  ASSERT_LT(light_batch, sizes.size());
  // The batch computing when it arrived (or one formed just before) may come first; no more.
  EXPECT_LE(light_batch, batches_then + 1) << "the light request waited behind the flood";
}

// Arms one failure of the engine (`arm`), then checks that the batch it hits fails with `code`
// (its message containing `message`) and that the next request is served.
template <typename Arm>
void ExpectOneFailedBatchThenService(Arm arm, lam_status code, const std::string& message) {
  FakeEngine engine;
  CollectingSink sink;
  Options o;
  o.max_delay_us = 1000;
  Scheduler s(&engine, o, &sink);
  arm(engine);
  auto a = MakeRequest(1, 1, {4});
  ASSERT_TRUE(s.Submit(a).ok());
  ASSERT_TRUE(sink.WaitFor(1));
  auto first = sink.Take();
  EXPECT_EQ(first[0]->status, code);
  EXPECT_NE(first[0]->message.find(message), std::string::npos) << first[0]->message;
  auto b = MakeRequest(1, 2, {4});
  ASSERT_TRUE(s.Submit(b).ok());
  ASSERT_TRUE(sink.WaitFor(1));
  ExpectMatchesReference(engine, *sink.Take()[0]);
  EXPECT_EQ(s.GetStats().engine_failures, 1u);
}

TEST(SchedulerTest, EngineFailureFailsTheBatchAndTheSchedulerGoesOn) {
  ExpectOneFailedBatchThenService([](FakeEngine& e) { e.fail_next = true; }, LAM_STATUS_BACKEND_FAILED,
                                  "injected failure");
}

// Issue 10 (DESIGN.md invariant 7): an exception from the engine must not leave the worker
// thread (it used to reach std::terminate and end lamd); the batch fails and the worker goes on.
TEST(SchedulerTest, AnEngineExceptionFailsTheBatchAndTheWorkerGoesOn) {
  ExpectOneFailedBatchThenService([](FakeEngine& e) { e.throw_next = true; }, LAM_STATUS_INTERNAL,
                                  "injected exception");
}

TEST(SchedulerTest, ShutdownFinishesQueuedWorkAndRefusesNewWork) {
  FakeEngine engine;
  CollectingSink sink;
  Options o;
  o.max_delay_us = 10'000'000;
  Scheduler s(&engine, o, &sink);
  for (uint64_t t = 0; t < 5; ++t) {
    auto r = MakeRequest(1, t, {3});
    ASSERT_TRUE(s.Submit(r).ok());
  }
  s.Shutdown();
  EXPECT_EQ(sink.count(), 5u);
  auto r = MakeRequest(1, 9, {3});
  EXPECT_EQ(s.Submit(r).code(), LAM_STATUS_CANCELLED);
}

// Issue 10, defect 3: Shutdown waited for an empty queue whatever its size. With a deadline it
// drops what is still queued then; every dropped request completes once, with CANCELLED.
TEST(SchedulerTest, ShutdownDropsWhatIsStillQueuedAtItsDeadline) {
  FakeEngine engine;
  CollectingSink sink;
  Options o;
  o.max_delay_us = 1000;
  o.max_batch_sequences = 1;
  Scheduler s(&engine, o, &sink);
  engine.delay_ms = 20;  // 300 batches: 6 s of work
  for (uint64_t t = 0; t < 300; ++t) {
    auto r = MakeRequest(1 + t % 3, t, {4});
    ASSERT_TRUE(s.Submit(r).ok());
  }
  const auto t0 = std::chrono::steady_clock::now();
  const size_t dropped = s.Shutdown(shm::MonotonicNs() + 100'000'000).dropped;  // 100 ms
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s) << "Shutdown ran past its deadline";
  ASSERT_EQ(sink.count(), 300u) << "every request completes exactly once";
  size_t cancelled = 0;
  for (const auto& r : sink.Take()) {
    if (r->status == LAM_STATUS_CANCELLED) {
      ++cancelled;
      EXPECT_TRUE(r->output.empty());
    } else {
      ExpectMatchesReference(engine, *r);
    }
  }
  EXPECT_GT(cancelled, 200u);
  EXPECT_EQ(cancelled, dropped);
  EXPECT_EQ(s.GetStats().queued_sequences, 0u);
  auto r = MakeRequest(1, 9, {3});
  EXPECT_EQ(s.Submit(r).code(), LAM_STATUS_CANCELLED);
}

// A batch cannot be interrupted; with an abandon time Shutdown returns then instead of waiting
// for it (lamd then _exits), and says so.
TEST(SchedulerTest, ShutdownReturnsAtTheAbandonTimeWhileABatchStillComputes) {
  FakeEngine engine;
  CollectingSink sink;
  Options o;
  o.max_delay_us = 1000;
  auto s = std::make_unique<Scheduler>(&engine, o, &sink);
  engine.delay_ms = 1500;
  auto r = MakeRequest(1, 1, {4});
  ASSERT_TRUE(s->Submit(r).ok());
  for (int i = 0; i < 1000 && engine.batch_sizes().empty(); ++i) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(engine.batch_sizes().size(), 1u);
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t now = shm::MonotonicNs();
  const Scheduler::ShutdownResult res = s->Shutdown(now, now + 50'000'000);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_FALSE(res.joined);
  s.reset();  // waits for the batch
  EXPECT_EQ(sink.count(), 1u);
}

TEST(SchedulerTest, StatsCountBatchesAndWaits) {
  FakeEngine engine;
  CollectingSink sink;
  Options o;
  o.max_delay_us = 5000;
  Scheduler s(&engine, o, &sink);
  auto r = MakeRequest(1, 1, {4, 4, 4});
  ASSERT_TRUE(s.Submit(r).ok());
  ASSERT_TRUE(sink.WaitFor(1));
  const Stats st = s.GetStats();
  EXPECT_EQ(st.batches_total, 1u);
  EXPECT_EQ(st.sequences_total, 3u);
  EXPECT_EQ(st.tokens_total, 12u);
  EXPECT_EQ(st.batch_histogram[1], 1u);  // 2-3
  EXPECT_GE(st.wait_p50_us, 4000);
}

}  // namespace
}  // namespace lam::scheduler
