// SPDX-License-Identifier: MIT
// The text worker: clients are served round-robin one slice at a time, a job of a client that
// is gone is dropped before its next slice, Stop is bounded by its deadline; and a text request
// tokenised in slices gives exactly what one TokenizeText call gives.
#include "server/text_worker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/admission.h"
#include "shm/frame_io.h"
#include "support/fake_engine.h"
#include "tokenizer/wordpiece.h"

namespace lam::server {
namespace {

using namespace std::chrono_literals;

// Records which job ran each slice, in order.
class Trace {
 public:
  void Add(char who) {
    std::lock_guard<std::mutex> lock(mu_);
    log_.push_back(who);
    cv_.notify_all();
  }
  std::string Get() {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }
  bool WaitFor(char who, size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return static_cast<size_t>(std::count(log_.begin(), log_.end(), who)) >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string log_;
};

// A job of `slices` slices that logs `who` for each.
TextWorker::Job Sliced(Trace* trace, char who, int slices, std::shared_ptr<std::atomic<bool>> gone = nullptr) {
  TextWorker::Job job;
  job.step = [trace, who, left = slices]() mutable {
    trace->Add(who);
    std::this_thread::sleep_for(100us);
    return --left == 0;
  };
  if (gone) job.cancelled = [gone] { return gone->load(); };
  return job;
}

// Issue 10, defect 6: one FIFO thread made every client's text wait behind an 8 MiB request.
TEST(TextWorkerTest, AnotherClientsSmallJobRunsBetweenTheSlicesOfABigOne) {
  TextWorker w;
  Trace trace;
  ASSERT_TRUE(w.Post(1, Sliced(&trace, 'A', 1000)));
  ASSERT_TRUE(trace.WaitFor('A', 3));  // A's job is under way
  ASSERT_TRUE(w.Post(2, Sliced(&trace, 'B', 1)));
  ASSERT_TRUE(w.Post(2, Sliced(&trace, 'C', 2)));  // client 2's second job, after its first
  ASSERT_TRUE(trace.WaitFor('C', 2));
  const std::string log = trace.Get();
  const size_t a_before_b = static_cast<size_t>(std::count(log.begin(), log.begin() + static_cast<std::ptrdiff_t>(log.find('B')), 'A'));
  EXPECT_LT(a_before_b, 20u) << "client 2 waited for " << a_before_b << " slices of client 1's job";
  EXPECT_LT(log.find('B'), log.find('C')) << "one client's jobs keep their order";
  EXPECT_LT(std::count(log.begin(), log.end(), 'A'), 1000) << "client 2 waited for all of client 1's job";
  w.Stop();
  const std::string all = trace.Get();
  EXPECT_EQ(std::count(all.begin(), all.end(), 'A'), 1000);
}

// Issue 10, defect 3: a client killed while its large request is tokenised stops costing
// anything at the next slice; its queued jobs never run.
TEST(TextWorkerTest, JobsOfAGoneClientAreDroppedBeforeTheirNextSlice) {
  TextWorker w;
  Trace trace;
  auto gone = std::make_shared<std::atomic<bool>>(false);
  ASSERT_TRUE(w.Post(1, Sliced(&trace, 'A', 1000, gone)));
  ASSERT_TRUE(w.Post(1, Sliced(&trace, 'Q', 5, gone)));
  ASSERT_TRUE(trace.WaitFor('A', 5));
  gone->store(true);
  // Slices that started before the store may still finish; after that the worker checks the
  // flag before each slice, so at most the one in progress adds an 'A'. (A bound on the total
  // count instead depended on how long this thread was off the CPU between the two lines above:
  // 30 slices on a loaded 2-core machine.)
  const std::string at_gone = trace.Get();
  const auto a_at_gone = std::count(at_gone.begin(), at_gone.end(), 'A');
  ASSERT_TRUE(w.Post(2, Sliced(&trace, 'B', 1)));
  ASSERT_TRUE(trace.WaitFor('B', 1));
  for (int i = 0; i < 1000 && w.pending() != 0; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(w.pending(), 0u);
  const std::string log = trace.Get();
  EXPECT_LE(std::count(log.begin(), log.end(), 'A') - a_at_gone, 1);
  EXPECT_LT(a_at_gone, 1000) << "the gone client's job ran to its end";
  EXPECT_EQ(log.find('Q'), std::string::npos);
  EXPECT_EQ(w.cancelled_jobs(), 2u);
}

TEST(TextWorkerTest, StopRunsQueuedJobsWithoutADeadlineAndDropsTheRestAtOne) {
  {
    TextWorker w;
    Trace trace;
    ASSERT_TRUE(w.Post(1, Sliced(&trace, 'A', 50)));
    ASSERT_TRUE(w.Post(2, Sliced(&trace, 'B', 50)));
    EXPECT_EQ(w.Stop(), 0u);
    const std::string log = trace.Get();
    EXPECT_EQ(log.size(), 100u);
    EXPECT_FALSE(w.Post(1, Sliced(&trace, 'C', 1))) << "a job posted after Stop runs";
  }
  TextWorker w;
  Trace trace;
  TextWorker::Job endless;
  endless.step = [&trace] {
    trace.Add('E');
    std::this_thread::sleep_for(1ms);
    return false;
  };
  ASSERT_TRUE(w.Post(1, std::move(endless)));
  ASSERT_TRUE(w.Post(2, Sliced(&trace, 'B', 1000000)));
  ASSERT_TRUE(trace.WaitFor('E', 1));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(w.Stop(shm::MonotonicNs() + 50'000'000), 2u);  // 50 ms
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

TEST(TextWorkerTest, TokenisingInSlicesGivesWhatOneCallGives) {
  testing::FakeEngine engine(/*dim=*/8, /*vocab=*/10, /*max_tokens=*/6);
  auto tok = tokenizer::WordPieceTokenizer::FromVocab(
      {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "a", "b", "##b"});
  ASSERT_TRUE(tok.ok());
  std::vector<std::string> texts;
  for (int i = 0; i < 300; ++i) texts.push_back(i % 7 == 0 ? "hello world a b bb x hello" : std::string(i % 5, 'a'));
  auto make = [&] {
    TextRequest t;
    for (const auto& s : texts) {
      t.bytes += s;
      t.lengths.push_back(static_cast<uint32_t>(s.size()));
    }
    t.req = std::make_unique<scheduler::Request>();
    return t;
  };
  TextRequest whole = make();
  uint64_t detail = 0;
  ASSERT_TRUE(TokenizeText(*tok, engine, 6, &whole, &detail).ok());
  TextRequest sliced = make();
  TokenizeCursor cursor;
  int slices = 0;
  while (!cursor.done) {
    ASSERT_TRUE(TokenizeTextSlice(*tok, engine, 6, &sliced, &cursor, 16, 7, &detail).ok());
    ++slices;
  }
  EXPECT_GT(slices, 40);
  EXPECT_EQ(sliced.req->tokens, whole.req->tokens);
  EXPECT_EQ(sliced.req->offsets, whole.req->offsets);
  // An error in a later slice names the text by its index in the whole request.
  texts[250] = "bad \xC3\x28";
  TextRequest bad = make();
  TokenizeCursor c2;
  Status st;
  while (st.ok() && !c2.done) st = TokenizeTextSlice(*tok, engine, 6, &bad, &c2, 16, 7, &detail);
  EXPECT_EQ(st.code(), LAM_STATUS_INVALID_UTF8);
  EXPECT_EQ(detail, 250u);
}

}  // namespace
}  // namespace lam::server
