// SPDX-License-Identifier: MIT
// Futex wait/wake on 32-bit words in a shared mapping (no FUTEX_PRIVATE_FLAG: the word is
// shared between processes). Header-only; used by the daemon and by liblamclient.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdint>

#include "shm/shm_abi.h"

namespace lam::shm {

// Sleeps while *word == expected, at most timeout_ns (< 0: no limit). Returns when woken,
// on timeout, on a signal, or at once if the word already differs; callers re-check state.
inline void FutexWait(std::atomic<uint32_t>* word, uint32_t expected, int64_t timeout_ns) {
  struct timespec ts;
  struct timespec* tsp = nullptr;
  if (timeout_ns >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout_ns / 1000000000);
    ts.tv_nsec = static_cast<long>(timeout_ns % 1000000000);
    tsp = &ts;
  }
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected, tsp, nullptr, 0);
}

inline void FutexWakeAll(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

// Busy-wait hint for spinning loops.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Producer side of the eventcount in RingCtl: call after publishing one or more slots.
inline void NotifyConsumer(RingCtl* ctl) {
  ctl->wake.fetch_add(1, std::memory_order_seq_cst);
  if (ctl->waiters.load(std::memory_order_seq_cst) != 0) FutexWakeAll(&ctl->wake);
}

}  // namespace lam::shm
