// SPDX-License-Identifier: MIT
// libFuzzer: the shared-memory structures a peer can scribble on (issue 10).
//  - SPSC rings (shm/ring.h), both slot types, as the daemon and the client use them: an honest
//    producer and consumer view over one ring while the fuzzer, playing the peer, rewrites head,
//    tail, wake, waiters and slot bytes between their calls. The ring memory is a heap block of
//    exactly RingCtl + entries slots, so ASan catches any slot access outside it. Invariants: a
//    view's own index only ever advances by one per successful call, whatever the segment says;
//    FreeSlots never exceeds the ring; a corrupt view stays stopped; with no scribbling the ring
//    is an exact FIFO that is full only at `entries` and empty only when nothing is left.
//  - The client's control-frame reader (shm/frame_io.h RecvFrame) on fuzzer bytes from a socket.
//  - The client's check of a received segment header (shm_abi.h HeaderIsConsistent): a header it
//    accepts must describe regions that lie inside the mapping.
// The first byte picks the part.
#include <fuzzer/FuzzedDataProvider.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <new>
#include <vector>

#include "shm/frame_io.h"
#include "shm/futex.h"
#include "shm/ring.h"
#include "shm/shm_abi.h"

namespace {

using namespace lam::shm;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

template <typename Slot>
void FuzzRing(FuzzedDataProvider& p) {
  const uint32_t entries = 1u << p.ConsumeIntegralInRange<uint32_t>(0, 6);
  const size_t bytes = kRingCtlSize + size_t{entries} * sizeof(Slot);
  void* mem = ::operator new(bytes, std::align_val_t{kCacheLine});
  auto* ctl = new (mem) RingCtl{};
  const uint32_t start = p.ConsumeIntegral<uint32_t>();  // indices are free-running: start anywhere
  ctl->head.store(start);
  ctl->tail.store(start);
  SpscRing<Slot> producer(ctl, entries), consumer(ctl, entries);
  std::deque<uint64_t> expected;
  uint64_t next_ticket = 1;
  uint32_t pops = 0, pushes = 0;
  bool scribbled = false;
  while (p.remaining_bytes() != 0) {
    switch (p.ConsumeIntegralInRange<int>(0, 7)) {
      case 0: {  // producer
        Slot s{};
        s.ticket = next_ticket;
        const bool was_corrupt = producer.Corrupt();
        const uint32_t index = producer.NextIndex();
        if (producer.Push(s)) {
          if (was_corrupt) Fail("a corrupt producer published");
          if (index != start + pushes) Fail("the producer published away from its own index");
          if (ctl->tail.load() != index + 1) Fail("the producer did not publish its index");
          ++pushes;
          expected.push_back(next_ticket++);
        } else if (!scribbled && expected.size() != entries) {
          Fail("an honest ring refused a push with room left");
        }
        break;
      }
      case 1: {  // consumer
        Slot out{};
        uint32_t index = 0;
        const bool was_corrupt = consumer.Corrupt();
        if (consumer.Pop(&out, &index)) {
          if (was_corrupt) Fail("a corrupt consumer read a slot");
          if (index != start + pops) Fail("the consumer read away from its own index");
          if (ctl->head.load() != index + 1) Fail("the consumer did not publish its index");
          ++pops;
          if (!scribbled) {
            if (expected.empty() || out.ticket != expected.front()) Fail("an honest ring is not FIFO");
            expected.pop_front();
          }
        } else if (!scribbled && !expected.empty()) {
          Fail("an honest ring lost a slot");
        }
        break;
      }
      case 2:  // the peer rewrites the tail
        ctl->tail.store(p.ConsumeIntegral<uint32_t>());
        scribbled = true;
        break;
      case 3:  // the peer rewrites the head
        ctl->head.store(p.ConsumeIntegral<uint32_t>());
        scribbled = true;
        break;
      case 4: {  // the peer rewrites a slot's bytes
        const uint32_t slot = p.ConsumeIntegral<uint32_t>() & (entries - 1);
        const std::vector<uint8_t> junk = p.ConsumeBytes<uint8_t>(sizeof(Slot));
        if (!junk.empty()) {
          std::memcpy(static_cast<char*>(mem) + kRingCtlSize + size_t{slot} * sizeof(Slot), junk.data(), junk.size());
        }
        scribbled = true;
        break;
      }
      case 5:
        if (producer.FreeSlots() > entries) Fail("more free slots than the ring has");
        (void)consumer.HasData();
        break;
      case 6:  // futex words: garbage costs at most a wake-up call
        ctl->wake.store(p.ConsumeIntegral<uint32_t>());
        ctl->waiters.store(p.ConsumeIntegral<uint32_t>());
        NotifyConsumer(ctl);
        break;
      case 7:
        if (producer.Corrupt() && producer.FreeSlots() != 0) Fail("a corrupt producer reports room");
        break;
    }
  }
  ctl->~RingCtl();
  ::operator delete(mem, std::align_val_t{kCacheLine});
}

void FuzzFrames(FuzzedDataProvider& p) {
  const uint32_t max_payload = p.ConsumeBool() ? kMaxDaemonFramePayload : p.ConsumeIntegralInRange<uint32_t>(0, 4096);
  const std::vector<uint8_t> bytes = p.ConsumeRemainingBytes<uint8_t>();
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return;
  size_t off = 0;
  while (off < bytes.size()) {  // fuzzer inputs are far smaller than a socket buffer
    const ssize_t n = ::send(sv[1], bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  ::shutdown(sv[1], SHUT_WR);
  for (int frames = 0; frames < 1024; ++frames) {
    FrameHeader h{};
    std::vector<char> payload;
    std::vector<int> fds;
    const RecvResult r = RecvFrame(sv[0], &h, &payload, MonotonicNs() + 1'000'000'000, &fds, max_payload);
    for (int f : fds) ::close(f);
    if (r != RecvResult::kOk) break;
    if (h.magic != kFrameMagic || h.payload_size > max_payload || payload.size() != h.payload_size) {
      Fail("RecvFrame returned a frame it should have refused");
    }
  }
  ::close(sv[0]);
  ::close(sv[1]);
}

void FuzzHeader(FuzzedDataProvider& p) {
  alignas(kCacheLine) unsigned char buf[sizeof(SegmentHeader)] = {};
  const std::vector<uint8_t> bytes = p.ConsumeBytes<uint8_t>(sizeof(buf));
  if (!bytes.empty()) std::memcpy(buf, bytes.data(), bytes.size());
  const auto* h = reinterpret_cast<const SegmentHeader*>(buf);
  // The client checks the memfd's size against segment_size first; test both that and others.
  const uint64_t mapped = p.ConsumeBool() ? h->segment_size : p.ConsumeIntegral<uint64_t>();
  if (!HeaderIsConsistent(*h, mapped)) return;
  const uint64_t sq_end = h->sq_offset + kRingCtlSize + uint64_t{h->sq_entries} * sizeof(SubmitDesc);
  const uint64_t cq_end = h->cq_offset + kRingCtlSize + uint64_t{h->cq_entries} * sizeof(CompletionDesc);
  if (h->sq_offset < sizeof(SegmentHeader) || sq_end < h->sq_offset || sq_end > h->cq_offset ||
      cq_end < h->cq_offset || cq_end > h->arena_offset || h->arena_offset > mapped ||
      h->arena_size > mapped - h->arena_offset || h->arena_offset + h->arena_size != mapped) {
    Fail("an accepted segment header describes regions outside the mapping");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider p(data, size);
  switch (p.ConsumeIntegralInRange<int>(0, 3)) {
    case 0: FuzzRing<SubmitDesc>(p); break;
    case 1: FuzzRing<CompletionDesc>(p); break;
    case 2: FuzzFrames(p); break;
    case 3: FuzzHeader(p); break;
  }
  return 0;
}
