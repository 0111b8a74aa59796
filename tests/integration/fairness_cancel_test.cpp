// SPDX-License-Identifier: MIT
// Issue 10, defects 3 and 6, through a real lamd: a client killed while its large text requests
// are tokenised leaves nothing queued and does not hold up another client; SIGTERM ends lamd
// within shutdown_timeout_ms whatever is queued; a light client's text is served between the
// slices of a neighbour's 8 MiB request.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "integration/support/lamd_harness.h"

namespace lam::itest {
namespace {

using namespace std::chrono_literals;

// `n` texts of about `bytes` bytes of words each (WordPiece runs at ~10 MB/s on one core).
struct Texts {
  std::vector<std::string> texts;
  std::vector<const char*> ptrs;
  std::vector<size_t> lengths;
  Texts(size_t n, size_t bytes, uint64_t seed) {
    static const char* kWords[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
                                   "hotel", "india", "juliet", "kilo", "lima", "mike", "november"};
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    texts.resize(n);
    for (auto& t : texts) {
      while (t.size() < bytes) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        t += kWords[x % 14];
        t += ' ';
      }
    }
    for (const auto& t : texts) {
      ptrs.push_back(t.data());
      lengths.push_back(t.size());
    }
  }
  lam_embed_text_request Request(uint32_t timeout_ms) const {
    lam_embed_text_request r = LAM_EMBED_TEXT_REQUEST_INIT;
    r.texts = ptrs.data();
    r.lengths = lengths.data();
    r.n_texts = texts.size();
    r.timeout_ms = timeout_ms;
    return r;
  }
};

// Submits `n_requests` requests of 2048 texts of ~1 KiB (no deadline) and returns; the client
// stays open. Each takes lamd ~0.2-0.5 s to tokenise and far longer to embed.
bool SubmitBulk(lam_client* c, int n_requests, std::vector<lam_ticket>* tickets) {
  static const Texts bulk(2048, 1000, 7);
  const lam_embed_text_request req = bulk.Request(LAM_TIMEOUT_INFINITE);
  for (int i = 0; i < n_requests; ++i) {
    lam_ticket t = 0;
    const lam_status st = Api().submit_text(c, &req, &t);
    if (st != LAM_STATUS_OK) {
      std::fprintf(stderr, "submit_text: %s: %s\n", Api().status_str(st), Api().client_last_error(c));
      return false;
    }
    if (tickets != nullptr) tickets->push_back(t);
  }
  return true;
}

nlohmann::json Queue(const std::string& socket) {
  int rc = 0;
  const auto j = nlohmann::json::parse(Lamctl({"status", "--json", "--socket", socket}, &rc), nullptr, false);
  return j.is_discarded() ? nlohmann::json() : j["queue"];
}

using FairnessCancelTest = LamdTest;

TEST_F(FairnessCancelTest, KilledClientsTextWorkIsDroppedAndAnotherClientIsServedPromptly) {
  LamdProcess lamd(socket_);
  ASSERT_TRUE(lamd.Start());
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    lam_status st;
    lam_client* c = OpenClient(socket_, &st, 128ull << 20);
    const bool ok = c != nullptr && SubmitBulk(c, 6, nullptr);
    const char byte = ok ? 1 : 0;
    (void)!::write(ready[1], &byte, 1);
    for (;;) ::pause();  // killed by the test
  }
  ::close(ready[1]);
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  ::close(ready[0]);
  ASSERT_EQ(byte, 1) << "the doomed client could not submit";
  std::this_thread::sleep_for(300ms);  // lamd is tokenising its first requests
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);

  // Another client's short text completes well within a timeout that the dead client's
  // sequences, once computed for nobody, made it miss.
  lam_status st;
  lam_client* good = OpenClient(socket_, &st);
  ASSERT_NE(good, nullptr) << Api().status_str(st);
  const Texts one(1, 40, 3);
  const lam_embed_text_request req = one.Request(20000);
  std::vector<float> out(4096);
  size_t n = 0;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Api().embed_text(good, &req, out.data(), out.size(), &n), LAM_STATUS_OK) << Api().client_last_error(good);
  std::fprintf(stderr, "good client's request: %.0f ms\n",
               std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  Api().client_close(good);

  // Nothing of the dead client stays queued.
  nlohmann::json q;
  const auto until = std::chrono::steady_clock::now() + 10s;
  do {
    q = Queue(socket_);
    if (q.is_object() && q["queue_depth_sequences"] == 0 && q["queue_depth_requests"] == 0 &&
        q["text_jobs_pending"] == 0) {
      break;
    }
    std::this_thread::sleep_for(50ms);
  } while (std::chrono::steady_clock::now() < until);
  ASSERT_TRUE(q.is_object());
  EXPECT_EQ(q["queue_depth_sequences"], 0) << q.dump();
  EXPECT_EQ(q["queue_depth_requests"], 0) << q.dump();
  EXPECT_EQ(q["text_jobs_pending"], 0) << q.dump();
  // Its work was dropped, not computed for nobody: status counts it.
  EXPECT_GT(q["text_jobs_cancelled_total"].get<uint64_t>() + q["cancelled_requests_total"].get<uint64_t>(), 0u)
      << q.dump();
  EXPECT_EQ(lamd.Stop(20000), 0);
}

TEST_F(FairnessCancelTest, SigtermEndsLamdWithinTheShutdownTimeoutWhateverIsQueued) {
  LamdProcess lamd(socket_, {"--shutdown-timeout-ms", "1000"});
  ASSERT_TRUE(lamd.Start());
  lam_status st;
  lam_client* c = OpenClient(socket_, &st, 128ull << 20);
  ASSERT_NE(c, nullptr) << Api().status_str(st);
  ASSERT_TRUE(SubmitBulk(c, 6, nullptr));  // seconds of tokenising, minutes of compute
  std::this_thread::sleep_for(100ms);
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = lamd.Stop(60000);
  const auto took = std::chrono::steady_clock::now() - t0;
  std::fprintf(stderr, "lamd stopped in %.0f ms (status %d)\n", std::chrono::duration<double, std::milli>(took).count(), rc);
  // 1 s of drain, then at most one batch and one tokeniser slice; generous for a loaded VM.
  EXPECT_LT(took, 8s) << "shutdown_timeout_ms did not bound the shutdown";
  EXPECT_EQ(rc, 1) << "a shutdown that cancelled work exits non-zero";
  Api().client_close(c);
}

TEST_F(FairnessCancelTest, LightClientsTextIsServedBetweenTheSlicesOfANeighboursLargeRequest) {
  LamdProcess lamd(socket_);
  ASSERT_TRUE(lamd.Start());
  lam_status st;
  lam_client* heavy = OpenClient(socket_, &st, 64ull << 20);
  ASSERT_NE(heavy, nullptr) << Api().status_str(st);
  lam_client* light = OpenClient(socket_, &st);
  ASSERT_NE(light, nullptr) << Api().status_str(st);
  const Texts big(8192, 1024, 11);  // 8 MiB: about a second of tokenising, far more of compute
  const lam_embed_text_request big_req = big.Request(LAM_TIMEOUT_INFINITE);
  lam_ticket ticket = 0;
  ASSERT_EQ(Api().submit_text(heavy, &big_req, &ticket), LAM_STATUS_OK) << Api().client_last_error(heavy);
  const Texts one(1, 40, 5);
  const lam_embed_text_request req = one.Request(30000);  // old lamd: minutes behind the 8192 sequences
  std::vector<float> out(4096);
  size_t n = 0;
  ASSERT_EQ(Api().embed_text(light, &req, out.data(), out.size(), &n), LAM_STATUS_OK) << Api().client_last_error(light);
  // The light client's answer came while the 8 MiB request was still being worked on: it waited
  // neither for its tokenisation (one FIFO thread) nor for its 8192 sequences (oldest first).
  EXPECT_EQ(Api().poll(heavy, ticket, nullptr, 0, nullptr), LAM_STATUS_PENDING);
  Api().client_close(light);
  Api().client_close(heavy);  // cancels the rest of the big request
  EXPECT_EQ(lamd.Stop(20000), 0);
}

}  // namespace
}  // namespace lam::itest
