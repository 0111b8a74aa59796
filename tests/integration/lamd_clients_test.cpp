// SPDX-License-Identifier: MIT
// lamd with real client processes: concurrency with bitwise results, clients killed at random
// moments, the daemon killed under waiting clients, SIGTERM draining, and peer credentials.
#include <gtest/gtest.h>

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <random>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "integration/support/lamd_harness.h"
#include "shm/frame_io.h"
#include "integration/support/reference_pool.h"
#include "shm/stream.h"

namespace lam::itest {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::set<std::string> DevShm() {
  std::set<std::string> s;
  if (DIR* d = ::opendir("/dev/shm")) {
    while (dirent* e = ::readdir(d)) s.insert(e->d_name);
    ::closedir(d);
  }
  return s;
}

class LamdClientsTest : public LamdTest {
 protected:
  // The reference pool (in-process engine), saved once per test.
  std::string Pool(uint32_t n = 48, uint32_t max_len = 16) {
    const std::string path = dir_ + "/pool.bin";
    pool_ = ReferencePool::Build(ModelDir(), n, max_len, 17);
    EXPECT_TRUE(pool_.Save(path));
    return path;
  }
  ReferencePool pool_;
};

TEST_F(LamdClientsTest, SixtyFourProcessesGetTheInProcessEnginesBitsForEveryRequest) {
  const std::string pool = Pool();
  LamdProcess lamd(socket_);
  ASSERT_TRUE(lamd.Start());
  std::vector<pid_t> kids;
  for (int i = 0; i < 64; ++i) kids.push_back(SpawnRole("worker", {socket_, pool, std::to_string(i + 1), "100"}));
  const auto deadline = Clock::now() + 900s;  // the CPU engine on 2 shared cores is the bottleneck
  for (pid_t k : kids) {
    const int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    const int status = WaitPid(k, std::max(left, 1));
    ASSERT_NE(status, -1) << "worker timed out";
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "worker failed (3 = mismatch, 4 = error status)";
  }
  EXPECT_EQ(lamd.Stop(), 0);
}

TEST_F(LamdClientsTest, TwoHundredKilledClientsLeaveNoFdSegmentOrMemoryBehind) {
  const std::string pool = Pool();
  LamdProcess lamd(socket_);
  ASSERT_TRUE(lamd.Start());
  const auto shm_before = DevShm();
  // Warm the daemon's allocators with one full client life, then take the baseline.
  {
    const pid_t w = SpawnRole("worker", {socket_, pool, "999", "30"});
    ASSERT_EQ(WaitPid(w, 60000), 0);
  }
  std::this_thread::sleep_for(100ms);
  const int fds_before = lamd.OpenFdCount();
  const int64_t rss_before = lamd.RssKiB();
  ASSERT_GT(fds_before, 0);

  // Steady clients keep working (and checking bits) while victims die around them.
  std::vector<pid_t> steady;
  for (int i = 0; i < 3; ++i) steady.push_back(SpawnRole("worker", {socket_, pool, std::to_string(500 + i), "150"}));
  std::mt19937 rng(12345);
  for (int wave = 0; wave < 10; ++wave) {
    std::vector<pid_t> victims;
    for (int i = 0; i < 20; ++i) victims.push_back(SpawnRole("victim", {socket_, pool, std::to_string(wave * 20 + i + 1)}));
    for (pid_t v : victims) {
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 15));
      ::kill(v, SIGKILL);
    }
    for (pid_t v : victims) WaitPid(v, 10000);
  }
  for (pid_t s : steady) {
    const int status = WaitPid(s, 240000);
    ASSERT_TRUE(status != -1 && WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "a steady client was disturbed";
  }
  // The daemon notices every closed socket on its loop; give it a moment to finish.
  const auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline && (lamd.OpenFdCount() > fds_before || lamd.MemfdMappings() > 0)) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(lamd.OpenFdCount(), fds_before);
  EXPECT_EQ(lamd.MemfdMappings(), 0) << "a client segment is still mapped";
  EXPECT_EQ(DevShm(), shm_before);
  EXPECT_LT(lamd.RssKiB(), rss_before + rss_before / 5 + 32 * 1024) << "RSS grew from " << rss_before << " KiB";
  lam_status st;
  lam_client* c = OpenClient(socket_, &st);
  ASSERT_NE(c, nullptr) << "the daemon no longer serves";
  EXPECT_EQ(Api().ping(c, 5000), LAM_STATUS_OK);
  Api().client_close(c);
  EXPECT_EQ(lamd.Stop(), 0);
}

TEST_F(LamdClientsTest, WaitingClientsSeeDaemonDeathWithinASecondAndReconnectAfterRestart) {
  // A long batching delay keeps every request queued (even the first, which would otherwise run
  // at once as a lone request): the clients are waiting when lamd dies.
  auto lamd = std::make_unique<LamdProcess>(
      socket_, std::vector<std::string>{"--max-delay-us", "60000000", "--dispatch-lone-requests", "false"});
  ASSERT_TRUE(lamd->Start());
  constexpr int kClients = 4;
  std::vector<lam_client*> clients(kClients);
  for (auto& c : clients) {
    lam_status st;
    c = OpenClient(socket_, &st);
    ASSERT_NE(c, nullptr) << Api().status_str(st);
  }
  std::atomic<int64_t> kill_ns{0};
  std::vector<lam_status> got(kClients, LAM_STATUS_OK);
  std::vector<int64_t> returned_ns(kClients, 0);
  std::vector<std::thread> threads;
  const auto seq = RandomSequence(3, 12);
  const uint32_t len = 12;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      lam_embed_tokens_request req = LAM_EMBED_TOKENS_REQUEST_INIT;
      req.token_ids = seq.data();
      req.lengths = &len;
      req.n_sequences = 1;
      req.timeout_ms = LAM_TIMEOUT_INFINITE;
      float out[384];
      size_t n;
      got[i] = Api().embed_tokens(clients[i], &req, out, 384, &n);
      returned_ns[i] = shm::MonotonicNs();
    });
  }
  std::this_thread::sleep_for(500ms);
  kill_ns = shm::MonotonicNs();
  lamd->Kill();
  for (auto& t : threads) t.join();
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(got[i], LAM_STATUS_DAEMON_UNAVAILABLE) << "client " << i;
    EXPECT_LT(returned_ns[i] - kill_ns, 1'000'000'000) << "client " << i << " noticed late";
  }
  lamd = std::make_unique<LamdProcess>(socket_);
  ASSERT_TRUE(lamd->Start());
  for (int i = 0; i < kClients; ++i) {
    lam_embed_tokens_request req = LAM_EMBED_TOKENS_REQUEST_INIT;
    req.token_ids = seq.data();
    req.lengths = &len;
    req.n_sequences = 1;
    float out[384];
    size_t n = 0;
    EXPECT_EQ(Api().embed_tokens(clients[i], &req, out, 384, &n), LAM_STATUS_OK)
        << Api().client_last_error(clients[i]);
    EXPECT_EQ(n, 384u);
    // The handle counted the lost daemon and the reconnect; the lost request stays unanswered.
    lam_client_stats s = LAM_CLIENT_STATS_INIT;
    ASSERT_EQ(Api().get_stats(clients[i], &s), LAM_STATUS_OK);
    EXPECT_EQ(s.connects, 2u);
    EXPECT_EQ(s.daemon_lost, 1u);
    EXPECT_EQ(s.requests_submitted, 2u);
    EXPECT_EQ(s.requests_completed, 1u);
    EXPECT_EQ(s.sequences_embedded, 1u);
    EXPECT_EQ(s.inflight, 0u);
    Api().client_close(clients[i]);
  }
  EXPECT_EQ(lamd->Stop(), 0);
}

TEST_F(LamdClientsTest, SigtermFinishesInFlightRequestsAndExitsZero) {
  LamdProcess lamd(socket_, {"--max-delay-us", "300000", "--dispatch-lone-requests", "false"});
  ASSERT_TRUE(lamd.Start());
  lam_status st;
  lam_client* c = OpenClient(socket_, &st);
  ASSERT_NE(c, nullptr);
  const auto seq = RandomSequence(5, 10);
  const uint32_t len = 10;
  lam_embed_tokens_request req = LAM_EMBED_TOKENS_REQUEST_INIT;
  req.token_ids = seq.data();
  req.lengths = &len;
  req.n_sequences = 1;
  std::vector<lam_ticket> tickets(16);
  for (auto& t : tickets) ASSERT_EQ(Api().submit_tokens(c, &req, &t), LAM_STATUS_OK);
  ASSERT_EQ(Api().ping(c, 5000), LAM_STATUS_OK);  // the submissions have been read
  ::kill(lamd.pid(), SIGTERM);
  for (auto t : tickets) {
    float out[384];
    size_t n = 0;
    EXPECT_EQ(Api().wait(c, t, 20000, out, 384, &n), LAM_STATUS_OK) << Api().client_last_error(c);
  }
  EXPECT_EQ(lamd.Stop(), 0);
  Api().client_close(c);
}

TEST_F(LamdClientsTest, PeerWithADisallowedUidIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as another uid (nobody)";
  LamdProcess lamd(socket_, {"--socket-mode", "0666", "--allow-group", ""});
  ASSERT_TRUE(lamd.Start());
  (void)Api();  // load the library before fork
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) _exit(90);
    lam_status st;
    lam_client* c = OpenClient(socket_, &st);
    if (c != nullptr) _exit(91);
    _exit(st);
  }
  const int status = WaitPid(pid, 20000);
  ASSERT_TRUE(status != -1 && WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), LAM_STATUS_PERMISSION_DENIED);
  // Root (this process) is still allowed.
  lam_status st;
  lam_client* c = OpenClient(socket_, &st);
  EXPECT_NE(c, nullptr);
  Api().client_close(c);
  EXPECT_EQ(lamd.Stop(), 0);
}

// Polling mode: the data plane spins on the rings after activity and clients skip the
// doorbell; once the spin ends the daemon sleeps again and doorbells must wake it. Both
// phases must serve every request with the in-process engine's bits.
TEST_F(LamdClientsTest, PollingModeServesBitwiseAndDoorbellsWakeTheDaemonAfterTheSpin) {
  const std::string pool = Pool(24, 16);
  LamdProcess lamd(socket_, {"--polling-us", "20000"});
  ASSERT_TRUE(lamd.Start());
  std::vector<pid_t> kids;
  for (int i = 0; i < 4; ++i) kids.push_back(SpawnRole("worker", {socket_, pool, std::to_string(i + 1), "40"}));
  for (pid_t k : kids) {
    const int status = WaitPid(k, 240000);
    ASSERT_TRUE(status != -1 && WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "worker failed (3 = mismatch, 4 = error status)";
  }
  lam_status st;
  lam_client* c = OpenClient(socket_, &st);
  ASSERT_NE(c, nullptr);
  for (int round = 0; round < 3; ++round) {
    // Idle well past the spin: the next submission has to ring the doorbell.
    std::this_thread::sleep_for(100ms);
    for (size_t i = 0; i < 3; ++i) {
      const auto& seq = pool_.seqs[(static_cast<size_t>(round) * 3 + i) % pool_.seqs.size()];
      const auto& want = pool_.embeddings[(static_cast<size_t>(round) * 3 + i) % pool_.seqs.size()];
      const uint32_t len = static_cast<uint32_t>(seq.size());
      lam_embed_tokens_request req = LAM_EMBED_TOKENS_REQUEST_INIT;
      req.token_ids = seq.data();
      req.lengths = &len;
      req.n_sequences = 1;
      req.timeout_ms = 20000;
      std::vector<float> out(pool_.dim);
      size_t n = 0;
      ASSERT_EQ(Api().embed_tokens(c, &req, out.data(), out.size(), &n), LAM_STATUS_OK) << Api().client_last_error(c);
      ASSERT_EQ(n, want.size());  // floats written
      EXPECT_EQ(std::memcmp(out.data(), want.data(), want.size() * sizeof(float)), 0) << "round " << round;
    }
    EXPECT_EQ(Api().ping(c, 5000), LAM_STATUS_OK);
  }
  Api().client_close(c);
  EXPECT_EQ(lamd.Stop(), 0);
}

// A 64-sequence answer is large enough to be streamed (the daemon wakes the client first and
// writes the rows after, shm/stream.h). Every way of taking a result must still end with the
// engine's bits, and an abandoned streamed answer must not have its arena block reused while
// the daemon may still be writing it.
TEST_F(LamdClientsTest, StreamedLargeResultsReachEveryApiBitwise) {
  const std::string pool = Pool(64, 16);
  LamdProcess lamd(socket_);
  ASSERT_TRUE(lamd.Start());
  lam_status st;
  // Room for one such request at a time (~100 KiB): each request reuses the previous block.
  lam_client* c = OpenClient(socket_, &st, 160u << 10);
  ASSERT_NE(c, nullptr);
  const size_t n = pool_.seqs.size();
  const size_t floats = n * pool_.dim;
  ASSERT_TRUE(shm::ShouldStream(floats)) << "the test must exercise the streamed path";
  std::vector<int32_t> ids;
  std::vector<uint32_t> lengths;
  std::vector<float> want;
  for (size_t i = 0; i < n; ++i) {
    ids.insert(ids.end(), pool_.seqs[i].begin(), pool_.seqs[i].end());
    lengths.push_back(static_cast<uint32_t>(pool_.seqs[i].size()));
    want.insert(want.end(), pool_.embeddings[i].begin(), pool_.embeddings[i].end());
  }
  lam_embed_tokens_request req = LAM_EMBED_TOKENS_REQUEST_INIT;
  req.token_ids = ids.data();
  req.lengths = lengths.data();
  req.n_sequences = n;
  req.timeout_ms = 60000;
  auto same = [&](const float* got) { return std::memcmp(got, want.data(), floats * sizeof(float)) == 0; };
#ifdef LAM_TEST_SANITIZED
  constexpr int kRounds = 2;  // each round computes 6 x 64 sequences; sanitized lamd is 5-15x slower
#else
  constexpr int kRounds = 6;
#endif
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::vector<float> out(floats, -1.0f);
    size_t count = 0;
    ASSERT_EQ(Api().embed_tokens(c, &req, out.data(), out.size(), &count), LAM_STATUS_OK) << Api().client_last_error(c);
    EXPECT_EQ(count, floats);
    EXPECT_TRUE(same(out.data())) << "copy-out";

    lam_result res = LAM_RESULT_INIT;
    ASSERT_EQ(Api().embed_tokens_result(c, &req, &res), LAM_STATUS_OK) << Api().client_last_error(c);
    ASSERT_EQ(res.n_sequences, n);
    EXPECT_TRUE(same(res.data)) << "zero-copy";
    Api().result_release(c, &res);

    lam_ticket t = 0;
    std::fill(out.begin(), out.end(), -1.0f);
    ASSERT_EQ(Api().submit_tokens(c, &req, &t), LAM_STATUS_OK);
    ASSERT_EQ(Api().wait(c, t, 60000, out.data(), out.size(), &count), LAM_STATUS_OK) << Api().client_last_error(c);
    EXPECT_TRUE(same(out.data())) << "submit + wait";

    std::fill(out.begin(), out.end(), -1.0f);
    ASSERT_EQ(Api().submit_tokens(c, &req, &t), LAM_STATUS_OK);
    lam_status ps;
    const auto until = Clock::now() + 60s;
    while ((ps = Api().poll(c, t, out.data(), out.size(), &count)) == LAM_STATUS_PENDING && Clock::now() < until) {
      std::this_thread::yield();
    }
    ASSERT_EQ(ps, LAM_STATUS_OK) << Api().client_last_error(c);
    EXPECT_TRUE(same(out.data())) << "submit + poll";

    // Abandon one streamed answer, then ask again at once: the new request must not land in
    // the block the daemon may still be streaming the abandoned rows into.
    ASSERT_EQ(Api().submit_tokens(c, &req, &t), LAM_STATUS_OK);
    ASSERT_EQ(Api().cancel(c, t), LAM_STATUS_OK);
    std::fill(out.begin(), out.end(), -1.0f);
    ASSERT_EQ(Api().embed_tokens(c, &req, out.data(), out.size(), &count), LAM_STATUS_OK) << Api().client_last_error(c);
    EXPECT_TRUE(same(out.data())) << "after a cancelled streamed answer";
  }
  Api().client_close(c);
  // Every 64-row answer went out streamed: 6 requests a round, the cancelled one included.
  int rc = 0;
  const auto status = nlohmann::json::parse(Lamctl({"status", "--json", "--socket", socket_}, &rc), nullptr, false);
  ASSERT_EQ(rc, 0);
  ASSERT_FALSE(status.is_discarded());
  EXPECT_EQ(status["requests"]["results_streamed_total"].get<uint64_t>(), 6u * kRounds);
  EXPECT_EQ(lamd.Stop(), 0);
}

}  // namespace
}  // namespace lam::itest
