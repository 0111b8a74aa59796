// SPDX-License-Identifier: MIT
// A hostile client writes garbage into its segment; it gets error completions or is
// disconnected, while lamd and a well-behaved client carry on unaffected (bitwise results).
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <random>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "integration/support/lamd_harness.h"
#include "integration/support/raw_client.h"
#include "integration/support/reference_pool.h"
#include "lam/lam_version.h"
#include "shm/frame_io.h"

namespace lam::itest {
namespace {

using namespace std::chrono_literals;

// Stops and joins a scribbler thread, also when an assertion leaves the test early.
struct StopAndJoin {
  std::atomic<bool>* stop;
  std::thread* thread;
  void Stop() {
    stop->store(true);
    if (thread->joinable()) thread->join();
  }
  ~StopAndJoin() { Stop(); }
};

class HostileClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = SocketPath();
    lamd_ = std::make_unique<LamdProcess>(socket_, std::vector<std::string>{"--max-delay-us", "500"});
    ASSERT_TRUE(lamd_->Start());
    pool_ = ReferencePool::Build(ModelDir(), 8, 16, 99);
    good_ = std::thread([this] { GoodClientLoop(); });
  }
  void TearDown() override {
    // The good client must complete requests after the hostile actions, too.
    const int before = good_requests_.load();
    const auto until = std::chrono::steady_clock::now() + 60s;
    while (good_requests_.load() < before + 3 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(10ms);
    }
    EXPECT_GE(good_requests_.load(), before + 3) << "the well-behaved client stalled";
    stop_ = true;
    if (good_.joinable()) good_.join();
    EXPECT_EQ(good_failures_.load(), 0) << "the well-behaved client saw a failure or a wrong result";
    EXPECT_GT(good_requests_.load(), 0);
    EXPECT_EQ(::kill(lamd_->pid(), 0), 0) << "lamd died";
    EXPECT_EQ(lamd_->Stop(), 0);
    RemoveSocketDir(socket_);
  }

  // Keeps embedding pool sequences and comparing bits until the test ends.
  void GoodClientLoop() {
    lam_status st;
    lam_client* c = OpenClient(socket_, &st);
    if (c == nullptr) {
      ++good_failures_;
      return;
    }
    std::vector<float> out(pool_.dim);
    for (size_t i = 0; !stop_; ++i) {
      const auto& s = pool_.seqs[i % pool_.seqs.size()];
      const uint32_t len = static_cast<uint32_t>(s.size());
      lam_embed_tokens_request req = LAM_EMBED_TOKENS_REQUEST_INIT;
      req.token_ids = s.data();
      req.lengths = &len;
      req.n_sequences = 1;
      size_t n = 0;
      if (Api().embed_tokens(c, &req, out.data(), out.size(), &n) != LAM_STATUS_OK ||
          std::memcmp(out.data(), pool_.embeddings[i % pool_.seqs.size()].data(), pool_.dim * 4) != 0) {
        ++good_failures_;
      }
      ++good_requests_;
    }
    Api().client_close(c);
  }

  // Submits one descriptor and returns the completion status (or -1 if none came).
  int Submit(RawClient& rc, const shm::SubmitDesc& d) {
    EXPECT_TRUE(rc.sq.Push(d));
    rc.Ring();
    shm::CompletionDesc c{};
    if (!rc.NextCompletion(&c, 10000)) return -1;
    EXPECT_EQ(c.ticket, d.ticket);
    return c.status;
  }

  // A valid one-sequence request at the start of the arena.
  shm::SubmitDesc Valid(RawClient& rc, uint64_t ticket) {
    const uint32_t len = 4;
    const int32_t ids[4] = {101, 2000, 3000, 102};
    std::memcpy(rc.arena, &len, 4);
    std::memcpy(rc.arena + 64, ids, sizeof(ids));
    shm::SubmitDesc d{};
    d.ticket = ticket;
    d.opcode = shm::kOpEmbedTokens;
    d.n_seqs = 1;
    d.lengths_offset = 0;
    d.tokens_offset = 64;
    d.output_offset = 128;
    d.total_tokens = 4;
    return d;
  }

  std::string socket_;
  std::unique_ptr<LamdProcess> lamd_;
  ReferencePool pool_;
  std::thread good_;
  std::atomic<bool> stop_{false};
  std::atomic<int> good_failures_{0};
  std::atomic<int> good_requests_{0};
};

TEST_F(HostileClientTest, GarbageDescriptorsGetErrorCompletionsNamingTheProblem) {
  RawClient rc;
  ASSERT_EQ(rc.Connect(socket_, LAM_VERSION_NUMBER), LAM_STATUS_OK);
  const uint64_t arena = rc.header->arena_size;
  ASSERT_EQ(Submit(rc, Valid(rc, 1)), LAM_STATUS_OK);

  shm::SubmitDesc d = Valid(rc, 2);
  d.tokens_offset = arena - 8;  // runs past the end
  EXPECT_EQ(Submit(rc, d), LAM_STATUS_MALFORMED_REQUEST);
  d = Valid(rc, 3);
  d.output_offset = UINT64_MAX - 3;  // overflow bait
  EXPECT_EQ(Submit(rc, d), LAM_STATUS_MALFORMED_REQUEST);
  d = Valid(rc, 4);
  d.lengths_offset = 2;  // misaligned
  EXPECT_EQ(Submit(rc, d), LAM_STATUS_MALFORMED_REQUEST);
  d = Valid(rc, 5);
  d.total_tokens = 5;  // does not match the lengths
  EXPECT_EQ(Submit(rc, d), LAM_STATUS_MALFORMED_REQUEST);
  d = Valid(rc, 6);
  d.n_seqs = 0xFFFFFFFF;
  EXPECT_EQ(Submit(rc, d), LAM_STATUS_MALFORMED_REQUEST);
  d = Valid(rc, 7);
  d.n_seqs = 1000;
  d.total_tokens = 1000 * 8000;  // needs far more than the arena
  EXPECT_EQ(Submit(rc, d), LAM_STATUS_TOO_LARGE);
  d = Valid(rc, 8);
  d.total_tokens = UINT64_MAX;
  EXPECT_EQ(Submit(rc, d), LAM_STATUS_SEQUENCE_TOO_LONG);
  d = Valid(rc, 9);
  const uint32_t huge = 100000;
  std::memcpy(rc.arena, &huge, 4);
  d.total_tokens = huge;
  EXPECT_EQ(Submit(rc, d), LAM_STATUS_SEQUENCE_TOO_LONG);
  d = Valid(rc, 10);
  const int32_t bad_id = 1 << 30;
  std::memcpy(rc.arena + 64 + 4, &bad_id, 4);
  EXPECT_EQ(Submit(rc, d), LAM_STATUS_TOKEN_OUT_OF_RANGE);
  d = Valid(rc, 11);
  const int32_t neg = -5;
  std::memcpy(rc.arena + 64 + 8, &neg, 4);
  EXPECT_EQ(Submit(rc, d), LAM_STATUS_TOKEN_OUT_OF_RANGE);
  d = Valid(rc, 12);
  const uint32_t zero = 0;
  std::memcpy(rc.arena, &zero, 4);
  d.total_tokens = 0;
  EXPECT_EQ(Submit(rc, d), LAM_STATUS_EMPTY_SEQUENCE);
  d = Valid(rc, 13);
  d.opcode = 77;
  EXPECT_EQ(Submit(rc, d), LAM_STATUS_MALFORMED_REQUEST);
  // Random bytes as descriptors: every one is answered, none hurts.
  std::mt19937_64 rng(7);
  for (uint64_t i = 0; i < 200; ++i) {
    shm::SubmitDesc r;
    for (size_t b = 0; b < sizeof(r); b += 8) {
      const uint64_t v = rng();
      std::memcpy(reinterpret_cast<char*>(&r) + b, &v, 8);
    }
    r.ticket = 1000 + i;
    if (r.opcode % 3 == 0) r.opcode = shm::kOpEmbedTokens;
    EXPECT_NE(Submit(rc, r), -1) << "no answer to random descriptor " << i;
  }
  ASSERT_EQ(Submit(rc, Valid(rc, 99)), LAM_STATUS_OK);
}

TEST_F(HostileClientTest, RewritingThePayloadWhileTheDaemonReadsItNeverCrashesIt) {
  RawClient rc;
  ASSERT_EQ(rc.Connect(socket_, LAM_VERSION_NUMBER), LAM_STATUS_OK);
  std::atomic<bool> stop{false};
  std::thread scribbler([&] {
    std::mt19937 rng(3);
    while (!stop) {
      const uint32_t len = rng() % 6;
      const int32_t id = static_cast<int32_t>(rng() % 40000) - 100;
      std::memcpy(rc.arena, &len, 4);
      std::memcpy(rc.arena + 64 + 4 * (rng() % 4), &id, 4);
    }
  });
  int answered = 0;
  for (uint64_t t = 0; t < 300; ++t) {
    const int st = Submit(rc, Valid(rc, t));
    answered += st != -1;
  }
  stop = true;
  scribbler.join();
  EXPECT_EQ(answered, 300);
}

TEST_F(HostileClientTest, FloodingTheRingAndDoorbellWithoutReadingCompletionsHarmsNoOne) {
  RawClient rc;
  ASSERT_EQ(rc.Connect(socket_, LAM_VERSION_NUMBER), LAM_STATUS_OK);
  const auto until = std::chrono::steady_clock::now() + 1500ms;
  uint64_t t = 0;
  while (std::chrono::steady_clock::now() < until) {
    shm::SubmitDesc d = Valid(rc, t++);
    rc.sq.Push(d);  // fails once full; the daemon must not take more than it can answer
    rc.Ring();
  }
  // A slow daemon (a sanitizer build on a loaded machine) may not have answered within the
  // flood: wait for its first answer, without taking any, so the bound below still holds.
  const auto answer_by = std::chrono::steady_clock::now() + 30s;
  while (!rc.cq.HasData() && std::chrono::steady_clock::now() < answer_by) std::this_thread::sleep_for(5ms);
  // Drain what the daemon answered: never more than the completion ring holds.
  shm::CompletionDesc c;
  uint32_t n = 0;
  while (rc.cq.Pop(&c)) ++n;
  EXPECT_LE(n, rc.header->cq_entries);
  EXPECT_GT(n, 0u);
}

TEST_F(HostileClientTest, CorruptRingIndicesGetTheClientDisconnected) {
  RawClient rc;
  ASSERT_EQ(rc.Connect(socket_, LAM_VERSION_NUMBER), LAM_STATUS_OK);
  rc.sq.ctl()->tail.store(rc.sq.ctl()->head.load() + 100000);
  rc.Ring();
  EXPECT_TRUE(rc.ClosedByDaemon(5000));
}

// Issue 10, defect 1: a client rewrites every field of its segment header (arena_size above
// all) and then asks for output past the real arena. The daemon bounds everything with its own
// copy of the geometry: each such request gets MALFORMED_REQUEST, nothing is written outside the
// mapping, `lamctl status` still shows the real arena size, and valid requests of the same
// client still get the right bits.
TEST_F(HostileClientTest, AForgedSegmentHeaderIsNeverTrusted) {
  RawClient rc;
  ASSERT_EQ(rc.Connect(socket_, LAM_VERSION_NUMBER), LAM_STATUS_OK);
  const uint64_t real = rc.header->arena_size;
  ASSERT_GT(real, 1u << 16);
  const uint64_t forged = real + (64ull << 20);
  auto forge = [&](uint64_t salt) {
    shm::SegmentHeader* h = rc.header;
    h->magic = 0x4141414141414141ULL ^ salt;
    h->proto_major = 0xffff;
    h->proto_minor = 0xffff;
    h->header_size = 1;
    h->slot_size = 0;
    h->request_size = 0xffffffff;
    h->result_size = 7;
    h->flags = 0xffffffff;
    h->segment_size = UINT64_MAX;
    h->daemon_epoch = salt;
    h->client_id = salt + 1;
    h->sq_offset = 1;
    h->cq_offset = UINT64_MAX;
    h->arena_offset = 3;
    h->arena_size = forged;
    h->sq_entries = 1u << 31;
    h->cq_entries = 3;
    h->embedding_dim = 1;
    h->poll_spin_us = 0xffffffff;
    std::memset(h->reserved0, 0xee, sizeof(h->reserved0));
    h->daemon_polling.store(1);
    h->reserved1 = 0xdeadbeef;
    h->out_progress.store(UINT64_MAX - salt);
    std::memset(h->reserved2, 0xdd, sizeof(h->reserved2));
  };
  forge(0);
  // The header keeps changing under the daemon while it serves this client.
  std::atomic<bool> stop{false};
  std::thread scribbler([&] {
    for (uint64_t i = 1; !stop.load(); ++i) forge(i);
  });
  StopAndJoin joiner{&stop, &scribbler};
  const uint32_t dim = pool_.dim;
  const uint64_t row = uint64_t{dim} * 4;
  // Output ranges that lie inside the forged arena but past the real one.
  const uint64_t past[] = {real, real - row + 4, real + (1ull << 20), forged - row, real + 4096};
  uint64_t ticket = 100;
  for (const uint64_t off : past) {
    shm::SubmitDesc d = Valid(rc, ticket++);
    d.output_offset = off;
    EXPECT_EQ(Submit(rc, d), LAM_STATUS_MALFORMED_REQUEST) << "output at " << off << " of a " << real << "-byte arena";
    if (off < real) continue;  // the inputs' ranges there are shorter than a row
    d = Valid(rc, ticket++);
    d.tokens_offset = off;
    EXPECT_EQ(Submit(rc, d), LAM_STATUS_MALFORMED_REQUEST) << "tokens at " << off;
    d = Valid(rc, ticket++);
    d.lengths_offset = off;
    EXPECT_EQ(Submit(rc, d), LAM_STATUS_MALFORMED_REQUEST) << "lengths at " << off;
  }
  // The same for text requests.
  const char text[] = "hello world";
  const uint32_t text_len = sizeof(text) - 1;
  std::memcpy(rc.arena, &text_len, 4);
  std::memcpy(rc.arena + 64, text, text_len);
  for (const uint64_t off : past) {
    shm::SubmitDesc d{};
    d.ticket = ticket++;
    d.opcode = shm::kOpEmbedText;
    d.n_seqs = 1;
    d.lengths_offset = 0;
    d.tokens_offset = 64;
    d.output_offset = off;
    d.total_tokens = text_len;
    EXPECT_EQ(Submit(rc, d), LAM_STATUS_MALFORMED_REQUEST) << "text output at " << off;
  }
  // A request the real arena does not hold is TOO_LARGE against the real size, not the forged one.
  shm::SubmitDesc big = Valid(rc, ticket++);
  big.n_seqs = static_cast<uint32_t>(real / row + 1);
  big.total_tokens = big.n_seqs;
  EXPECT_EQ(Submit(rc, big), LAM_STATUS_TOO_LARGE);
  // A valid request of the same client still gets the right bits, at the real offsets.
  const auto& seq = pool_.seqs[0];
  const uint32_t len = static_cast<uint32_t>(seq.size());
  shm::SubmitDesc ok = Valid(rc, ticket++);
  std::memcpy(rc.arena, &len, 4);
  std::memcpy(rc.arena + 64, seq.data(), seq.size() * 4);
  ok.total_tokens = len;
  ok.output_offset = real - row;  // the last row of the real arena
  ASSERT_EQ(Submit(rc, ok), LAM_STATUS_OK);
  EXPECT_EQ(std::memcmp(rc.arena + ok.output_offset, pool_.embeddings[0].data(), row), 0);
  joiner.Stop();

  int status_rc = 0;
  const auto st = nlohmann::json::parse(Lamctl({"status", "--json", "--socket", socket_}, &status_rc), nullptr, false);
  ASSERT_FALSE(st.is_discarded());
  bool found = false;
  for (const auto& c : st["clients"]["list"]) {
    if (c["id"].get<uint64_t>() != rc.reply.client_id) continue;
    found = true;
    EXPECT_EQ(c["arena_bytes"].get<uint64_t>(), real) << "lamctl status must show the real arena, not the forged one";
  }
  EXPECT_TRUE(found);
  EXPECT_LT(st["clients"]["segment_arena_bytes"].get<uint64_t>(), forged);
}

// The ring words a client owns or shares (its producer tail, the daemon's consumer head and
// producer tail, the wake and waiters words of both rings) are never read back by the daemon as
// its own state: a client that moves the daemon's head back cannot make it take a slot twice, and
// one that moves the daemon's tail cannot make it publish elsewhere. Futex words full of garbage
// cost the daemon nothing but a wake-up call.
TEST_F(HostileClientTest, RingWordsTheClientRewritesAreNeverReadBackAsTheDaemonsOwn) {
  RawClient rc;
  ASSERT_EQ(rc.Connect(socket_, LAM_VERSION_NUMBER), LAM_STATUS_OK);
  std::atomic<bool> stop{false};
  std::thread scribbler([&] {
    std::mt19937 rng(11);
    while (!stop.load()) {
      rc.sq.ctl()->wake.store(rng());
      rc.sq.ctl()->waiters.store(rng());
      rc.cq.ctl()->wake.store(rng());
      rc.cq.ctl()->waiters.store(rng());
    }
  });
  StopAndJoin joiner{&stop, &scribbler};
  uint64_t ticket = 1;
  for (int round = 0; round < 20; ++round) {
    ASSERT_EQ(Submit(rc, Valid(rc, ticket++)), LAM_STATUS_OK);
    // Move the daemon's submission head back one slot: the slot it already took looks ready again.
    rc.sq.ctl()->head.fetch_sub(1);
    ASSERT_EQ(Submit(rc, Valid(rc, ticket++)), LAM_STATUS_OK) << "the daemon took an old slot twice";
    // Move the daemon's completion tail far ahead; its next push must land at its own index.
    const uint32_t cq_tail = rc.cq.ctl()->tail.load();
    rc.cq.ctl()->tail.store(cq_tail + 1000 + static_cast<uint32_t>(round));
    shm::SubmitDesc nop{};
    nop.ticket = ticket++;
    nop.opcode = shm::kOpNop;
    ASSERT_TRUE(rc.sq.Push(nop));
    rc.Ring();
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (rc.cq.ctl()->tail.load() == cq_tail + 1000 + static_cast<uint32_t>(round) &&
           std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(100us);
    }
    ASSERT_EQ(rc.cq.ctl()->tail.load(), cq_tail + 1) << "the daemon published at an index it read back";
    shm::CompletionDesc c{};
    ASSERT_TRUE(rc.NextCompletion(&c, 10000));
    EXPECT_EQ(c.ticket, nop.ticket);
    EXPECT_EQ(c.status, LAM_STATUS_OK);
  }
  joiner.Stop();
  EXPECT_FALSE(rc.ClosedByDaemon(0));
}

// A completion-ring head that jumps (the client claims to have read answers never written) is a
// protocol violation: the client is disconnected; the daemon neither stalls on it nor uses it.
TEST_F(HostileClientTest, ACompletionHeadThatJumpsGetsTheClientDisconnected) {
  RawClient rc;
  ASSERT_EQ(rc.Connect(socket_, LAM_VERSION_NUMBER), LAM_STATUS_OK);
  ASSERT_EQ(Submit(rc, Valid(rc, 1)), LAM_STATUS_OK);
  rc.cq.ctl()->head.store(rc.cq.ctl()->head.load() + 100000);
  ASSERT_TRUE(rc.sq.Push(Valid(rc, 2)));
  rc.Ring();
  EXPECT_TRUE(rc.ClosedByDaemon(5000));
}

TEST_F(HostileClientTest, VersionMismatchesAreRefusedWithProtocolMismatch) {
  RawClient a;
  EXPECT_EQ(a.Connect(socket_, (LAM_VERSION_MAJOR + 1) * 1000000), LAM_STATUS_PROTOCOL_MISMATCH);
  RawClient b;
  EXPECT_EQ(b.Connect(socket_, LAM_VERSION_NUMBER, shm::kShmProtoMajor + 1), LAM_STATUS_PROTOCOL_MISMATCH);
  RawClient c;
  EXPECT_EQ(c.Connect(socket_, LAM_VERSION_NUMBER, shm::kShmProtoMajor, shm::kControlProtoMajor + 1),
            LAM_STATUS_PROTOCOL_MISMATCH);
}

TEST_F(HostileClientTest, GarbageOnTheControlSocketClosesOnlyThatConnection) {
  const int fd = shm::ConnectUnix(socket_);
  ASSERT_GE(fd, 0);
  char junk[256];
  for (size_t i = 0; i < sizeof(junk); ++i) junk[i] = static_cast<char>(i * 31);
  ASSERT_EQ(::send(fd, junk, sizeof(junk), MSG_NOSIGNAL), static_cast<ssize_t>(sizeof(junk)));
  char b;
  EXPECT_EQ(::recv(fd, &b, 1, 0), 0) << "the daemon should hang up";
  ::close(fd);
  // A frame claiming a huge payload is refused without buffering it.
  const int fd2 = shm::ConnectUnix(socket_);
  shm::FrameHeader h{shm::kFrameMagic, shm::kControlProtoMajor, shm::kFrameHello, 1u << 30, 0};
  ASSERT_EQ(::send(fd2, &h, sizeof(h), MSG_NOSIGNAL), static_cast<ssize_t>(sizeof(h)));
  EXPECT_EQ(::recv(fd2, &b, 1, 0), 0);
  ::close(fd2);
}

// A client that asked for streamed results (minor 2) scribbles on the progress word while the
// daemon streams a 64-row answer to it: the daemon only ever writes that word, so it finishes the
// answer with the right rows and everyone else is served as before.
TEST_F(HostileClientTest, ScribblingOnTheStreamProgressWordHarmsNoOne) {
  RawClient rc;
  ASSERT_EQ(rc.Connect(socket_, LAM_VERSION_NUMBER, shm::kShmProtoMajor, shm::kControlProtoMajor,
                       shm::kShmMinorStreamedResults),
            LAM_STATUS_OK);
  ASSERT_GE(rc.header->proto_minor, shm::kShmMinorStreamedResults);
  const uint32_t n = 64;
  std::vector<uint32_t> lengths;
  std::vector<int32_t> ids;
  for (uint32_t i = 0; i < n; ++i) {
    const auto& seq = pool_.seqs[i % pool_.seqs.size()];
    lengths.push_back(static_cast<uint32_t>(seq.size()));
    ids.insert(ids.end(), seq.begin(), seq.end());
  }
  std::memcpy(rc.arena, lengths.data(), n * 4);
  std::memcpy(rc.arena + 4096, ids.data(), ids.size() * 4);
  shm::SubmitDesc d{};
  d.ticket = 77;
  d.opcode = shm::kOpEmbedTokens;
  d.n_seqs = n;
  d.lengths_offset = 0;
  d.tokens_offset = 4096;
  d.output_offset = 65536;
  d.total_tokens = ids.size();
  std::atomic<bool> stop{false};
  std::thread scribbler([&] {
    std::mt19937_64 rng(5);
    while (!stop.load()) rc.header->out_progress.store(rng());
  });
  const int status = Submit(rc, d);
  stop = true;
  scribbler.join();
  ASSERT_EQ(status, LAM_STATUS_OK);
  // The rows follow the completion within microseconds (the word that says so was trashed).
  const auto* rows = reinterpret_cast<const float*>(rc.arena + d.output_offset);
  auto all_rows_right = [&] {
    for (uint32_t i = 0; i < n; ++i) {
      const float* want = pool_.embeddings[i % pool_.seqs.size()].data();
      if (std::memcmp(rows + size_t{i} * pool_.dim, want, pool_.dim * 4) != 0) return false;
    }
    return true;
  };
  const auto until = std::chrono::steady_clock::now() + 2s;
  while (!all_rows_right() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(all_rows_right());
  shm::SubmitDesc nop{};
  nop.ticket = 78;
  nop.opcode = shm::kOpNop;
  EXPECT_EQ(Submit(rc, nop), LAM_STATUS_OK) << "the client is still served";
  int rc_status = 0;
  const auto st = nlohmann::json::parse(Lamctl({"status", "--json", "--socket", socket_}, &rc_status), nullptr, false);
  ASSERT_FALSE(st.is_discarded());
  EXPECT_EQ(st["requests"]["results_streamed_total"].get<uint64_t>(), 1u) << "the 64-row answer was streamed";
}

}  // namespace
}  // namespace lam::itest
