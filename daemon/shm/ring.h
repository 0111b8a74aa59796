// SPDX-License-Identifier: MIT
// Lock-free single-producer/single-consumer ring over shared memory (see shm_abi.h).
// Header-only; used by the daemon and by liblamclient.
//
// Each side holds a SpscRing view; the indices live in the segment (RingCtl), the slots follow
// it. The consumer copies a slot out before releasing it, so the producer may reuse it at once.
// Neither side trusts the other's index: a consumer clamps a tail that claims more than
// `entries` slots are full (`Corrupt()`), a producer does the same with the head.
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
  SpscRing(RingCtl* ctl, uint32_t entries)
      : ctl_(ctl), slots_(reinterpret_cast<Slot*>(reinterpret_cast<char*>(ctl) + kRingCtlSize)),
        mask_(entries - 1), entries_(entries) {}

  bool valid() const { return ctl_ != nullptr; }
  uint32_t entries() const { return entries_; }
  RingCtl* ctl() const { return ctl_; }

  // Producer: number of slots the producer may still fill (0 if the peer's head is absurd).
  uint32_t FreeSlots() const {
    const uint32_t tail = ctl_->tail.load(std::memory_order_relaxed);
    const uint32_t head = ctl_->head.load(std::memory_order_acquire);
    const uint32_t used = tail - head;
    return used > entries_ ? 0 : entries_ - used;
  }

  // Producer: the free-running index the next Push will publish at.
  uint32_t NextIndex() const { return ctl_->tail.load(std::memory_order_relaxed); }

  // Producer: copies `s` into the next slot and publishes it. False if the ring is full.
  bool Push(const Slot& s) {
    if (FreeSlots() == 0) return false;
    const uint32_t tail = ctl_->tail.load(std::memory_order_relaxed);
    std::memcpy(static_cast<void*>(&slots_[tail & mask_]), &s, sizeof(Slot));
    ctl_->tail.store(tail + 1, std::memory_order_seq_cst);
    return true;
  }

  // Consumer: copies the oldest slot into `*out` and frees it; `index` (optional) gets the slot's
  // free-running index. False if the ring is empty. A tail more than `entries` ahead of head is
  // reported through Corrupt() and reads nothing.
  bool Pop(Slot* out, uint32_t* index = nullptr) {
    const uint32_t head = ctl_->head.load(std::memory_order_relaxed);
    const uint32_t tail = ctl_->tail.load(std::memory_order_acquire);
    const uint32_t avail = tail - head;
    if (avail == 0) return false;
    if (avail > entries_) {
      corrupt_ = true;
      return false;
    }
    std::memcpy(out, static_cast<const void*>(&slots_[head & mask_]), sizeof(Slot));
    if (index != nullptr) *index = head;
    ctl_->head.store(head + 1, std::memory_order_release);
    return true;
  }

  // Consumer: true if a slot is ready (cheap; for spinning).
  bool HasData() const {
    return ctl_->tail.load(std::memory_order_acquire) != ctl_->head.load(std::memory_order_relaxed);
  }

  // True once the consumer saw indices no honest producer can produce.
  bool Corrupt() const { return corrupt_; }

 private:
  RingCtl* ctl_ = nullptr;
  Slot* slots_ = nullptr;
  uint32_t mask_ = 0;
  uint32_t entries_ = 0;
  bool corrupt_ = false;
};

}  // namespace lam::shm
