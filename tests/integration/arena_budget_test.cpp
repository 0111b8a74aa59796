// SPDX-License-Identifier: MIT
// Issue 10, defect 7: what one client can make lamd touch is bounded (server/arena_budget.h):
// a per-session arena cap, a budget of shared memory per uid and in all (a hello beyond it is
// refused with OVERLOADED naming the budget), and a destroyed session's pages are punched out
// of the memfd even when the client keeps its descriptor and mapping.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "integration/support/lamd_harness.h"
#include "integration/support/raw_client.h"
#include "lam/lam_version.h"

namespace lam::itest {
namespace {

using namespace std::chrono_literals;
constexpr uint64_t kMiB = 1ull << 20;

class ArenaBudgetTest : public LamdTest {
 protected:
  void StartLamd(std::vector<std::string> args) {
    lamd_ = std::make_unique<LamdProcess>(socket_, std::move(args));
    ASSERT_TRUE(lamd_->Start());
  }
  void TearDown() override {
    if (lamd_) {
      EXPECT_EQ(lamd_->Stop(), 0);
    }
    LamdTest::TearDown();
  }
  nlohmann::json Status() {
    int rc = 0;
    return nlohmann::json::parse(Lamctl({"status", "--json", "--socket", socket_}, &rc), nullptr, false);
  }
  // Connects new raw clients until one is refused; returns how many were accepted (at most 16).
  int FillBudget(std::vector<std::unique_ptr<RawClient>>* held, RawClient* refused) {
    for (int i = 0; i < 16; ++i) {
      auto rc = std::make_unique<RawClient>();
      const lam_status st = rc->Connect(socket_, LAM_VERSION_NUMBER);
      if (st != LAM_STATUS_OK) {
        EXPECT_EQ(st, LAM_STATUS_OVERLOADED);
        refused->reply = rc->reply;
        return i;
      }
      held->push_back(std::move(rc));
    }
    return 16;
  }
  // After a client left, its share comes back once the daemon has destroyed the session.
  bool ConnectsWithin(std::chrono::milliseconds limit, RawClient* rc) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      *rc = RawClient();
      if (rc->Connect(socket_, LAM_VERSION_NUMBER) == LAM_STATUS_OK) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
  std::unique_ptr<LamdProcess> lamd_;
};

TEST_F(ArenaBudgetTest, ASessionGetsNoMoreArenaThanTheCapWhateverItAsks) {
  StartLamd({});
  RawClient rc;
  rc.arena_bytes = 1ull << 30;
  ASSERT_EQ(rc.Connect(socket_, LAM_VERSION_NUMBER), LAM_STATUS_OK);
  EXPECT_EQ(rc.header->arena_size, 64 * kMiB) << "default max_arena_bytes";
  const auto st = Status();
  ASSERT_FALSE(st.is_discarded());
  EXPECT_EQ(st["clients"]["max_arena_bytes"].get<uint64_t>(), 64 * kMiB);
  EXPECT_EQ(st["clients"]["arena_budget_per_uid"].get<uint64_t>(), 2048 * kMiB);
  EXPECT_GE(st["clients"]["arena_budget_total"].get<uint64_t>(), 256 * kMiB);
  EXPECT_EQ(st["clients"]["arena_budget_used"].get<uint64_t>(), rc.reply.segment_size);
}

TEST_F(ArenaBudgetTest, OneUidCannotHoldMoreSharedMemoryThanItsBudget) {
  // Segments of 1 MiB arena + 60 KiB of header and rings: two fit in 3 MiB, a third does not.
  StartLamd({"--arena-bytes", "1M", "--arena-budget-per-uid", "3M"});
  std::vector<std::unique_ptr<RawClient>> held;
  RawClient refused;
  ASSERT_EQ(FillBudget(&held, &refused), 2);
  const std::string msg = refused.reply.message;
  EXPECT_NE(msg.find("arena_budget_per_uid"), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::to_string(3 * kMiB)), std::string::npos) << msg;
  // The client library reports the same refusal.
  lam_status st = LAM_STATUS_OK;
  lam_client* c = OpenClient(socket_, &st);
  EXPECT_EQ(c, nullptr);
  EXPECT_EQ(st, LAM_STATUS_OVERLOADED);
  if (c != nullptr) Api().client_close(c);
  // lamctl needs no segment and is never refused.
  const auto status = Status();
  ASSERT_FALSE(status.is_discarded());
  EXPECT_EQ(status["clients"]["arena_budget_used"].get<uint64_t>(), 2 * held[0]->reply.segment_size);
  held.pop_back();
  RawClient again;
  EXPECT_TRUE(ConnectsWithin(5s, &again)) << "the share of a client that left must come back";
}

TEST_F(ArenaBudgetTest, AllClientsTogetherCannotHoldMoreThanTheTotalBudget) {
  StartLamd({"--arena-bytes", "1M", "--arena-budget-total", "3M"});
  std::vector<std::unique_ptr<RawClient>> held;
  RawClient refused;
  ASSERT_EQ(FillBudget(&held, &refused), 2);
  const std::string msg = refused.reply.message;
  EXPECT_NE(msg.find("arena_budget_total"), std::string::npos) << msg;
  held.clear();
  RawClient again;
  EXPECT_TRUE(ConnectsWithin(5s, &again));
}

// A client that disconnects but keeps its memfd and mapping cannot keep pages the daemon faulted
// (charged to lamd) alive: the daemon punches the segment out when it destroys the session.
TEST_F(ArenaBudgetTest, ASessionsPagesAreFreedWhenItEndsEvenIfTheClientKeepsTheMemfd) {
  StartLamd({"--max-delay-us", "500"});
  RawClient rc;
  ASSERT_EQ(rc.Connect(socket_, LAM_VERSION_NUMBER), LAM_STATUS_OK);
  const uint32_t len = 4;
  const int32_t ids[4] = {101, 2000, 3000, 102};
  std::memcpy(rc.arena, &len, 4);
  std::memcpy(rc.arena + 64, ids, sizeof(ids));
  shm::SubmitDesc d{};
  d.ticket = 1;
  d.opcode = shm::kOpEmbedTokens;
  d.n_seqs = 1;
  d.tokens_offset = 64;
  d.output_offset = 8 * kMiB;  // a page only the daemon touches
  d.total_tokens = 4;
  ASSERT_TRUE(rc.sq.Push(d));
  rc.Ring();
  shm::CompletionDesc c{};
  ASSERT_TRUE(rc.NextCompletion(&c, 10000));
  ASSERT_EQ(c.status, LAM_STATUS_OK) << c.message;
  const auto* row = reinterpret_cast<const float*>(rc.arena + d.output_offset);
  ASSERT_NE(row[0], 0.0f);
  struct stat before;
  ASSERT_EQ(::fstat(rc.memfd.get(), &before), 0);
  ASSERT_GT(before.st_blocks, 0);
  rc.sock.reset();  // disconnect; memfd and mapping stay
  const auto until = std::chrono::steady_clock::now() + 5s;
  struct stat after = before;
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_EQ(::fstat(rc.memfd.get(), &after), 0);
    if (after.st_blocks == 0) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(after.st_blocks, 0) << "the segment still holds pages after the session ended";
  EXPECT_EQ(row[0], 0.0f);
}

}  // namespace
}  // namespace lam::itest
