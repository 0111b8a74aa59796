// SPDX-License-Identifier: MIT
// The shared-memory budget (server/arena_budget.h): per uid and in all, refused with OVERLOADED
// naming the budget, given back when a reservation dies; the config keys that set it.
#include "server/arena_budget.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "server/config.h"

namespace lam::server {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

TEST(ArenaBudgetTest, EachUidHasItsOwnShareAndAllShareTheTotal) {
  auto b = ArenaBudget::Create({/*per_uid=*/10 * kMiB, /*total=*/25 * kMiB});
  std::vector<ArenaBudget::Reservation> held;
  for (int i = 0; i < 2; ++i) {
    auto r = b->Reserve(1000, 4 * kMiB);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    held.push_back(std::move(r.value()));
  }
  auto third = b->Reserve(1000, 4 * kMiB);  // 12 MiB > 10 for uid 1000
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), LAM_STATUS_OVERLOADED);
  EXPECT_NE(third.status().message().find("arena_budget_per_uid"), std::string::npos) << third.status().message();
  EXPECT_NE(third.status().message().find("uid 1000"), std::string::npos);
  EXPECT_EQ(b->used_by(1000), 8 * kMiB);
  // Another uid still has its share, until the total runs out.
  for (int i = 0; i < 2; ++i) {
    auto r = b->Reserve(1001, 8 * kMiB);
    if (i == 0) {
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      held.push_back(std::move(r.value()));
    } else {
      ASSERT_FALSE(r.ok()) << "8 + 8 + 8 MiB > the 10 MiB share of uid 1001";
    }
  }
  auto r = b->Reserve(1002, 9 * kMiB);  // 8 + 8 + 9 = 25: fits exactly
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto over = b->Reserve(1003, 4096);
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.status().message().find("arena_budget_total"), std::string::npos) << over.status().message();
  EXPECT_EQ(b->total_used(), 25 * kMiB);
  // Giving back makes room again.
  { ArenaBudget::Reservation gone = std::move(r.value()); }
  EXPECT_EQ(b->total_used(), 16 * kMiB);
  EXPECT_TRUE(b->Reserve(1003, 4096).ok());
  held.clear();
  EXPECT_EQ(b->total_used(), 0u);
  EXPECT_EQ(b->used_by(1000), 0u);
}

TEST(ArenaBudgetTest, HugeRequestsCannotWrapTheArithmetic) {
  auto b = ArenaBudget::Create({10 * kMiB, 25 * kMiB});
  auto r = b->Reserve(0, 5 * kMiB);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(b->Reserve(0, UINT64_MAX).ok());
  EXPECT_FALSE(b->Reserve(0, UINT64_MAX - 5 * kMiB + 1).ok());
  EXPECT_EQ(b->total_used(), 5 * kMiB);
}

TEST(ArenaBudgetTest, AReservationOutlivingItsBudgetHandleStillGivesBack) {
  ArenaBudget::Reservation r;
  std::weak_ptr<ArenaBudget> weak;
  {
    auto b = ArenaBudget::Create({kMiB, kMiB});
    weak = b;
    auto got = b->Reserve(5, kMiB);
    ASSERT_TRUE(got.ok());
    r = std::move(got.value());
  }
  ASSERT_FALSE(weak.expired()) << "a session's reservation keeps the budget alive";
  r = ArenaBudget::Reservation();
  EXPECT_TRUE(weak.expired());
}

TEST(ArenaBudgetTest, ZeroTotalMeansAQuarterOfPhysicalMemory) {
  auto b = ArenaBudget::Create({kMiB, 0});
  EXPECT_EQ(b->total_limit(), ArenaBudget::PhysicalMemoryQuarter());
  EXPECT_GE(b->total_limit(), 256 * kMiB);
}

TEST(ArenaBudgetTest, ConfigKeysAndDefaults) {
  Config c;
  EXPECT_EQ(c.max_arena_bytes, 64 * kMiB) << "one session may make the daemon touch at most this much arena";
  EXPECT_EQ(c.arena_budget_per_uid, 2048 * kMiB);
  EXPECT_EQ(c.arena_budget_total, 0u);
  ASSERT_TRUE(ApplyConfigKey(&c, "arena-budget-per-uid", "256M").ok());
  ASSERT_TRUE(ApplyConfigKey(&c, "arena_budget_total", "1G").ok());
  EXPECT_EQ(c.arena_budget_per_uid, 256 * kMiB);
  EXPECT_EQ(c.arena_budget_total, 1024 * kMiB);
  EXPECT_EQ(ApplyConfigKey(&c, "arena_budget_total", "-1").code(), LAM_STATUS_INVALID_ARG);
  EXPECT_NE(UsageText().find("--arena-budget-per-uid"), std::string::npos);
  EXPECT_NE(UsageText().find("--arena-budget-total"), std::string::npos);
}

}  // namespace
}  // namespace lam::server
