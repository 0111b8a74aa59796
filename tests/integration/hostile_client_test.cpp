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
