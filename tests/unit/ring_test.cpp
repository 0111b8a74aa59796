// SPDX-License-Identifier: MIT
// SPSC rings and futex wake-ups over shared memory.
#include "shm/ring.h"

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "shm/frame_io.h"
#include "shm/futex.h"

namespace lam::shm {
namespace {

struct RingMemory {
  explicit RingMemory(uint32_t entries, size_t slot) : bytes(kRingCtlSize + entries * slot) {
    mem = static_cast<char*>(::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    ctl = new (mem) RingCtl{};
  }
  ~RingMemory() { ::munmap(mem, bytes); }
  size_t bytes;
  char* mem;
  RingCtl* ctl;
};

TEST(RingTest, PushesAndPopsInOrderUntilFull) {
  RingMemory m(4, sizeof(SubmitDesc));
  SpscRing<SubmitDesc> producer(m.ctl, 4), consumer(m.ctl, 4);
  SubmitDesc d{};
  for (uint64_t i = 0; i < 4; ++i) {
    d.ticket = i;
    ASSERT_TRUE(producer.Push(d));
  }
  d.ticket = 99;
  EXPECT_FALSE(producer.Push(d)) << "a full ring must refuse";
  EXPECT_EQ(producer.FreeSlots(), 0u);
  for (uint64_t i = 0; i < 4; ++i) {
    SubmitDesc out{};
    ASSERT_TRUE(consumer.Pop(&out));
    EXPECT_EQ(out.ticket, i);
  }
  SubmitDesc out{};
  EXPECT_FALSE(consumer.Pop(&out));
  EXPECT_FALSE(consumer.Corrupt());
}

TEST(RingTest, IndicesWrapAroundTheUint32Range) {
  RingMemory m(4, sizeof(CompletionDesc));
  m.ctl->tail.store(UINT32_MAX - 1);
  m.ctl->head.store(UINT32_MAX - 1);
  SpscRing<CompletionDesc> r(m.ctl, 4);
  for (uint64_t i = 0; i < 100; ++i) {
    CompletionDesc c{};
    c.ticket = i;
    ASSERT_TRUE(r.Push(c));
    CompletionDesc out{};
    ASSERT_TRUE(r.Pop(&out));
    EXPECT_EQ(out.ticket, i);
  }
}

TEST(RingTest, ConsumerReportsATailNoHonestProducerCanWrite) {
  RingMemory m(8, sizeof(SubmitDesc));
  SpscRing<SubmitDesc> consumer(m.ctl, 8);
  m.ctl->tail.store(1000);  // 1000 slots "ready" in an 8-slot ring
  SubmitDesc out{};
  EXPECT_FALSE(consumer.Pop(&out));
  EXPECT_TRUE(consumer.Corrupt());
}

TEST(RingTest, ProducerTreatsAnAbsurdHeadAsFull) {
  RingMemory m(8, sizeof(CompletionDesc));
  SpscRing<CompletionDesc> producer(m.ctl, 8);
  m.ctl->head.store(12345);  // consumer claims to have consumed what was never produced
  EXPECT_EQ(producer.FreeSlots(), 0u);
  EXPECT_FALSE(producer.Push(CompletionDesc{}));
}

TEST(RingTest, AProducerReportsAHeadThatJumpedAsCorruptForGood) {
  RingMemory m(8, sizeof(CompletionDesc));
  SpscRing<CompletionDesc> producer(m.ctl, 8);
  ASSERT_TRUE(producer.Push(CompletionDesc{}));
  m.ctl->head.store(5);  // ahead of the 1 slot ever published
  EXPECT_FALSE(producer.Push(CompletionDesc{}));
  EXPECT_TRUE(producer.Corrupt());
  m.ctl->head.store(1);  // an honest value afterwards does not make it trust the peer again
  EXPECT_EQ(producer.FreeSlots(), 0u);
  EXPECT_FALSE(producer.Push(CompletionDesc{}));
}

// Each side's own index lives in its own memory; what the peer writes over it in the segment is
// overwritten, never read back (a consumer that re-read its head would take a slot twice).
TEST(RingTest, AConsumerNeverReadsItsOwnHeadBackFromTheSegment) {
  RingMemory m(8, sizeof(SubmitDesc));
  SpscRing<SubmitDesc> producer(m.ctl, 8), consumer(m.ctl, 8);
  SubmitDesc d{};
  for (uint64_t i = 0; i < 3; ++i) {
    d.ticket = i;
    ASSERT_TRUE(producer.Push(d));
  }
  SubmitDesc out{};
  ASSERT_TRUE(consumer.Pop(&out));
  ASSERT_TRUE(consumer.Pop(&out));
  m.ctl->head.store(0);  // the peer moves our head back over two slots already taken
  uint32_t index = 0;
  ASSERT_TRUE(consumer.Pop(&out, &index));
  EXPECT_EQ(out.ticket, 2u);
  EXPECT_EQ(index, 2u);
  EXPECT_EQ(m.ctl->head.load(), 3u) << "our index is published again";
  EXPECT_FALSE(consumer.Pop(&out));
  EXPECT_FALSE(consumer.Corrupt());
}

TEST(RingTest, AProducerNeverReadsItsOwnTailBackFromTheSegment) {
  RingMemory m(8, sizeof(CompletionDesc));
  SpscRing<CompletionDesc> producer(m.ctl, 8), consumer(m.ctl, 8);
  CompletionDesc c{};
  c.ticket = 1;
  ASSERT_TRUE(producer.Push(c));
  m.ctl->tail.store(1000);  // the peer moves our tail far ahead
  c.ticket = 2;
  ASSERT_TRUE(producer.Push(c));
  EXPECT_EQ(producer.NextIndex(), 2u);
  EXPECT_EQ(m.ctl->tail.load(), 2u) << "published at our own index";
  CompletionDesc out{};
  ASSERT_TRUE(consumer.Pop(&out));
  EXPECT_EQ(out.ticket, 1u);
  ASSERT_TRUE(consumer.Pop(&out));
  EXPECT_EQ(out.ticket, 2u);
}

TEST(RingTest, ACorruptConsumerReadsNothingMoreEvenWhenTheTailLooksHonestAgain) {
  RingMemory m(8, sizeof(SubmitDesc));
  SpscRing<SubmitDesc> consumer(m.ctl, 8);
  m.ctl->tail.store(0x80000000u);
  SubmitDesc out{};
  EXPECT_FALSE(consumer.Pop(&out));
  ASSERT_TRUE(consumer.Corrupt());
  m.ctl->tail.store(1);
  EXPECT_FALSE(consumer.Pop(&out));
}

TEST(RingTest, TwoThreadsPassAMillionSlotsInOrder) {
  RingMemory m(64, sizeof(SubmitDesc));
  SpscRing<SubmitDesc> producer(m.ctl, 64), consumer(m.ctl, 64);
  constexpr uint64_t kN = 1'000'000;
  std::thread t([&] {
    SubmitDesc d{};
    for (uint64_t i = 0; i < kN;) {
      d.ticket = i;
      d.total_tokens = i * 3;
      if (producer.Push(d)) ++i;
    }
  });
  uint64_t next = 0;
  while (next < kN) {
    SubmitDesc out;
    if (!consumer.Pop(&out)) continue;
    ASSERT_EQ(out.ticket, next);
    ASSERT_EQ(out.total_tokens, next * 3);
    ++next;
  }
  t.join();
}

TEST(RingTest, FutexWakesAConsumerInAnotherProcess) {
  RingMemory m(8, sizeof(CompletionDesc));
  const pid_t pid = ::fork();
  if (pid == 0) {
    SpscRing<CompletionDesc> consumer(m.ctl, 8);
    const int64_t deadline = MonotonicNs() + 5'000'000'000;
    while (MonotonicNs() < deadline) {
      CompletionDesc c;
      if (consumer.Pop(&c)) _exit(c.ticket == 42 ? 0 : 2);
      const uint32_t w = m.ctl->wake.load();
      m.ctl->waiters.fetch_add(1);
      if (!consumer.HasData()) FutexWait(&m.ctl->wake, w, 1'000'000'000);
      m.ctl->waiters.fetch_sub(1);
    }
    _exit(3);
  }
  // Wait until the child sleeps on the futex word, then publish and wake it.
  const int64_t deadline = MonotonicNs() + 5'000'000'000;
  while (m.ctl->waiters.load() == 0 && MonotonicNs() < deadline) std::this_thread::yield();
  SpscRing<CompletionDesc> producer(m.ctl, 8);
  CompletionDesc c{};
  c.ticket = 42;
  ASSERT_TRUE(producer.Push(c));
  NotifyConsumer(m.ctl);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(RingTest, FutexWaitReturnsAtOnceWhenTheWordAlreadyMoved) {
  std::atomic<uint32_t> word{5};
  const int64_t t0 = MonotonicNs();
  FutexWait(&word, 4, 2'000'000'000);
  EXPECT_LT(MonotonicNs() - t0, 500'000'000);
}

}  // namespace
}  // namespace lam::shm
