// SPDX-License-Identifier: MIT
// Streamed results (shm/stream.h): the progress word's rules, and a producer thread streaming
// rows while a consumer thread copies behind it.
#include "shm/stream.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace lam::shm {
namespace {

TEST(ShmStreamTest, AFreshWordMarksNothingAsStreaming) {
  const std::atomic<uint64_t> progress{kStreamInitial};
  EXPECT_EQ(FloatsReady(&progress, 0, 24576), 24576u) << "ring index 0 must not wait on a fresh segment";
  EXPECT_EQ(FloatsReady(&progress, 1, 24576), 24576u);
  EXPECT_EQ(FloatsReady(&progress, 0xffffffffu, 24576), 24576u);
}

TEST(ShmStreamTest, OnlyTheLabelledCompletionWaitsAndOnlyUntilItsRowsAreWritten) {
  std::atomic<uint64_t> progress{kStreamInitial};
  BeginStream(&progress, 7);
  EXPECT_EQ(FloatsReady(&progress, 7, 24576), 0u);
  EXPECT_EQ(FloatsReady(&progress, 6, 384), 384u) << "an earlier completion was complete when pushed";
  EXPECT_EQ(FloatsReady(&progress, 8, 384), 384u) << "a later unstreamed completion was written before its push";
  progress.store(PackProgress(7, 4096));
  EXPECT_EQ(FloatsReady(&progress, 7, 24576), 4096u);
  EXPECT_EQ(FloatsReady(&progress, 7, 1000), 1000u) << "never more than the caller's rows";
  progress.store(PackProgress(7, kStreamDone));
  EXPECT_EQ(FloatsReady(&progress, 7, 24576), 24576u);
  BeginStream(&progress, 9);
  EXPECT_EQ(FloatsReady(&progress, 7, 24576), 24576u) << "the daemon moved on: 7 is complete";
}

TEST(ShmStreamTest, OnlyLargeOutputsAreStreamed) {
  EXPECT_FALSE(ShouldStream(384));                          // one row
  EXPECT_FALSE(ShouldStream(kStreamMinBytes / 4 - 1));
  EXPECT_TRUE(ShouldStream(kStreamMinBytes / 4));
  EXPECT_TRUE(ShouldStream(64 * 384));                     // 96 KiB
  EXPECT_FALSE(ShouldStream(size_t{kStreamDone}));         // would not fit the 32-bit count
}

TEST(ShmStreamTest, AConsumerCopyingBehindTheProducerGetsEveryRow) {
  const size_t n = 64 * 384 + 123;  // not a multiple of the chunk
  std::vector<float> src(n), arena(n, -1.0f), dst(n, -2.0f);
  for (size_t i = 0; i < n; ++i) src[i] = static_cast<float>(i) * 0.5f;
  std::atomic<uint64_t> progress{kStreamInitial};
  for (uint32_t index : {0u, 1u, 0xfffffffeu}) {
    std::fill(arena.begin(), arena.end(), -1.0f);
    std::fill(dst.begin(), dst.end(), -2.0f);
    BeginStream(&progress, index);
    std::thread producer([&] { StreamRows(&progress, index, arena.data(), src.data(), n); });
    const size_t copied = CopyStreamed(&progress, index, dst.data(), arena.data(), n, [] { return true; });
    producer.join();
    EXPECT_EQ(copied, n);
    EXPECT_EQ(dst, src) << "index " << index;
    EXPECT_TRUE(WaitStreamed(&progress, index, n, [] { return true; }));
  }
}

TEST(ShmStreamTest, AStalledStreamEndsWhenTheCallerStopsWaiting) {
  std::vector<float> arena(8192, 1.0f), dst(8192, 0.0f);
  std::atomic<uint64_t> progress{kStreamInitial};
  BeginStream(&progress, 3);
  progress.store(PackProgress(3, 2048));  // a quarter written, then the daemon stalls
  int asked = 0;
  auto give_up_on_third = [&] { return ++asked < 3; };
  EXPECT_EQ(CopyStreamed(&progress, 3, dst.data(), arena.data(), 8192, give_up_on_third), 2048u);
  EXPECT_EQ(asked, 3);
  EXPECT_EQ(dst[2047], 1.0f);
  EXPECT_EQ(dst[2048], 0.0f) << "nothing past the published progress is read";
  asked = 0;
  EXPECT_FALSE(WaitStreamed(&progress, 3, 8192, give_up_on_third));
}

}  // namespace
}  // namespace lam::shm
