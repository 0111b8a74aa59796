// SPDX-License-Identifier: MIT
// Lock-free single-producer/single-consumer ring over shared memory (see shm_abi.h).
// Header-only; used by the daemon and by liblamclient.
//
// Each side holds a SpscRing view; the indices live in the segment (RingCtl), the slots follow
// it. The consumer copies a slot out before releasing it, so the producer may reuse it at once.
//
// The peer may write anything into the segment at any time, including the index that belongs
// to us. So each side keeps its own index in its own memory (`head_` for a consumer, `tail_`
// for a producer, taken from the segment once, when the view is made) and only ever *stores* it
// to the segment for the peer; it never reads it back. The peer's index is read once per call
// and checked against ours: a consumer that sees a tail more than `entries` ahead of its head,
// or a producer that sees a head behind its tail by more than `entries` (or ahead of it), has
// seen indices no honest peer produces; the view then reports `Corrupt()` and refuses to move
// for good. Slots are addressed with our own index masked by our own `entries`, so no value in
// the segment can make either side read or write outside the ring. Nothing here waits.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "shm/shm_abi.h"

namespace lam::shm {

template <typename Slot>
class SpscRing {
  static_assert(std::is_trivially_copyable_v<Slot>);

 public:
  SpscRing() = default;
  // `ctl` points at the RingCtl; the slots start right after it. `entries` is a power of two.
  // The view starts from the indices in the segment at this moment (0 in a fresh segment).
  SpscRing(RingCtl* ctl, uint32_t entries)
      : ctl_(ctl), slots_(reinterpret_cast<Slot*>(reinterpret_cast<char*>(ctl) + kRingCtlSize)),
        mask_(entries - 1), entries_(entries), head_(ctl->head.load(std::memory_order_relaxed)),
        tail_(ctl->tail.load(std::memory_order_relaxed)) {}

  bool valid() const { return ctl_ != nullptr; }
  uint32_t entries() const { return entries_; }
  RingCtl* ctl() const { return ctl_; }

  // Producer: number of slots the producer may still fill. 0, and Corrupt() from then on, if
  // the consumer's head is one no honest consumer writes.
  uint32_t FreeSlots() const {
    if (corrupt_) return 0;
    const uint32_t head = ctl_->head.load(std::memory_order_acquire);
    const uint32_t used = tail_ - head;
    if (used > entries_) {
      corrupt_ = true;
      return 0;
    }
    return entries_ - used;
  }

  // Producer: the free-running index the next Push will publish at.
  uint32_t NextIndex() const { return tail_; }

  // Producer: copies `s` into the next slot and publishes it. False if the ring is full (or
  // corrupt).
  bool Push(const Slot& s) {
    if (FreeSlots() == 0) return false;
    std::memcpy(static_cast<void*>(&slots_[tail_ & mask_]), &s, sizeof(Slot));
    ++tail_;
    ctl_->tail.store(tail_, std::memory_order_seq_cst);
    return true;
  }

  // Consumer: copies the oldest slot into `*out` and frees it; `index` (optional) gets the slot's
  // free-running index. False if the ring is empty. A tail more than `entries` ahead of our head
  // is reported through Corrupt() and reads nothing, now and later.
  bool Pop(Slot* out, uint32_t* index = nullptr) {
    if (corrupt_) return false;
    const uint32_t tail = ctl_->tail.load(std::memory_order_acquire);
    const uint32_t avail = tail - head_;
    if (avail == 0) return false;
    if (avail > entries_) {
      corrupt_ = true;
      return false;
    }
    std::memcpy(out, static_cast<const void*>(&slots_[head_ & mask_]), sizeof(Slot));
    if (index != nullptr) *index = head_;
    ++head_;
    ctl_->head.store(head_, std::memory_order_release);
    return true;
  }

  // Consumer: true if a slot may be ready (cheap; for spinning; Pop decides).
  bool HasData() const { return ctl_->tail.load(std::memory_order_acquire) != head_; }

  // True once this view saw indices no honest peer can produce.
  bool Corrupt() const { return corrupt_; }

 private:
  RingCtl* ctl_ = nullptr;
  Slot* slots_ = nullptr;
  uint32_t mask_ = 0;
  uint32_t entries_ = 0;
  uint32_t head_ = 0;  // consumer: our index, never read back from the segment
  uint32_t tail_ = 0;  // producer: our index, never read back from the segment
  mutable bool corrupt_ = false;
};

}  // namespace lam::shm
