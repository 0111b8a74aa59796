// SPDX-License-Identifier: MIT
// liblamclient's arena allocator (first fit, coalescing, 64-byte granules).
#include "../../client/arena_allocator.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace lam::client {
namespace {

TEST(ClientArenaTest, AllocatesAlignedBlocksUntilFull) {
  ArenaAllocator a(1024);
  const uint64_t x = a.Allocate(100);
  const uint64_t y = a.Allocate(1);
  EXPECT_EQ(x % 64, 0u);
  EXPECT_EQ(y % 64, 0u);
  EXPECT_NE(x, y);
  EXPECT_EQ(a.used(), 128u + 64u);
  EXPECT_EQ(a.Allocate(2048), UINT64_MAX);
}

TEST(ClientArenaTest, FreedNeighboursCoalesce) {
  ArenaAllocator a(64 * 4);
  const uint64_t b0 = a.Allocate(64), b1 = a.Allocate(64), b2 = a.Allocate(64), b3 = a.Allocate(64);
  EXPECT_EQ(a.Allocate(64), UINT64_MAX);
  a.Free(b1, 64);
  a.Free(b2, 64);
  EXPECT_EQ(a.Allocate(128), b1) << "two freed neighbours form one block";
  a.Free(b0, 64);
  a.Free(b3, 64);
  a.Free(b1, 128);
  EXPECT_EQ(a.used(), 0u);
  EXPECT_EQ(a.Allocate(256), 0u);
}

TEST(ClientArenaTest, RandomAllocationsNeverOverlap) {
  ArenaAllocator a(1 << 16);
  std::mt19937 rng(1);
  std::vector<std::pair<uint64_t, uint64_t>> live;
  for (int i = 0; i < 20000; ++i) {
    if (!live.empty() && (rng() % 2 || live.size() > 100)) {
      const size_t k = rng() % live.size();
      a.Free(live[k].first, live[k].second);
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
      continue;
    }
    const uint64_t n = 1 + rng() % 3000;
    const uint64_t off = a.Allocate(n);
    if (off == UINT64_MAX) continue;
    ASSERT_LE(off + n, a.size());
    for (const auto& [o, len] : live) ASSERT_TRUE(off + n <= o || o + len <= off) << "overlap";
    live.emplace_back(off, n);
  }
  for (const auto& [o, len] : live) a.Free(o, len);
  EXPECT_EQ(a.used(), 0u);
  EXPECT_EQ(a.Allocate(a.size()), 0u);
}

}  // namespace
}  // namespace lam::client
