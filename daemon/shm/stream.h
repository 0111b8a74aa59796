// SPDX-License-Identifier: MIT
// Streamed results (shm protocol minor 2; see shm_abi.h): the daemon publishes a large output's
// completion first and writes the rows into the arena after it, so that the client's wake-up
// (several microseconds of futex/IPI latency) overlaps the daemon's writing and the client's copy
// trails the daemon's by one chunk instead of starting after it. Header-only, libc/C++-std only:
// the daemon (ClientSession::Complete), liblamclient and lam-bench all use these functions.
//
// SegmentHeader::out_progress is one 64-bit word written only by the daemon:
//   high 32 bits: the completion-ring index of the completion being streamed (its position in
//                 the ring, a free-running counter both sides see: the daemon's tail when it
//                 pushed it, the client's head when it popped it);
//   low 32 bits:  floats of that completion's output already written, or kStreamDone.
// Rules: the daemon stores (index, 0) before it pushes a streamed completion and (index,
// kStreamDone) when its rows are all written; it streams one completion at a time per client.
// A completion whose index is not the word's label is complete when popped: either it was not
// streamed (its rows were written before the push) or the daemon has moved on to a later one.
// The daemon never reads the word, so a client writing it can only confuse itself.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "shm/futex.h"

namespace lam::shm {

inline constexpr uint32_t kStreamDone = 0xffffffffu;
// Outputs of at least this many bytes are streamed; smaller ones are written before the push
// (their copy is shorter than the wake-up it would overlap).
inline constexpr uint64_t kStreamMinBytes = 32 * 1024;
// Floats written between two progress stores: 8 KiB, measured best on the 2-core VM for 96 KiB
// (smaller chunks bounce the progress line more often, larger ones make the client wait longer).
inline constexpr size_t kStreamChunkFloats = 2048;
// The value of out_progress in a fresh segment: label 0, done (index 0 is then not streaming).
inline constexpr uint64_t kStreamInitial = kStreamDone;

inline constexpr uint64_t PackProgress(uint32_t index, uint32_t floats) {
  return (uint64_t{index} << 32) | floats;
}

// Whether a result of `n_floats` floats goes out streamed.
inline constexpr bool ShouldStream(size_t n_floats) {
  return n_floats * sizeof(float) >= kStreamMinBytes && n_floats < kStreamDone;
}

// Daemon: announces that the completion at ring index `index` will be streamed. Call before
// pushing it (the push's release orders this store before the client's pop).
inline void BeginStream(std::atomic<uint64_t>* progress, uint32_t index) {
  progress->store(PackProgress(index, 0), std::memory_order_release);
}

// Daemon: writes the rows after the completion was pushed and the client notified, publishing
// progress after every chunk, then kStreamDone.
inline void StreamRows(std::atomic<uint64_t>* progress, uint32_t index, float* dst, const float* src,
                       size_t n_floats) {
  for (size_t off = 0; off < n_floats; off += kStreamChunkFloats) {
    const size_t n = std::min(kStreamChunkFloats, n_floats - off);
    std::memcpy(dst + off, src + off, n * sizeof(float));
    progress->store(PackProgress(index, static_cast<uint32_t>(off + n)), std::memory_order_release);
  }
  progress->store(PackProgress(index, kStreamDone), std::memory_order_release);
}

// Client: how many of the `n_floats` output floats of the completion popped at ring index
// `index` are already written (n_floats when the output is complete).
inline size_t FloatsReady(const std::atomic<uint64_t>* progress, uint32_t index, size_t n_floats) {
  const uint64_t p = progress->load(std::memory_order_acquire);
  const uint32_t label = static_cast<uint32_t>(p >> 32);
  const uint32_t floats = static_cast<uint32_t>(p);
  if (label != index || floats == kStreamDone) return n_floats;
  return std::min<size_t>(floats, n_floats);
}

// Client: copies the output of completion `index` from `src` (in the arena) to `dst` as the
// daemon writes it. `keep_waiting()` is called about every 256 spins without progress (it may
// sleep to back off); when it returns false the copy stops. Returns the floats copied (n_floats on success).
template <typename KeepWaiting>
size_t CopyStreamed(const std::atomic<uint64_t>* progress, uint32_t index, float* dst, const float* src,
                    size_t n_floats, KeepWaiting&& keep_waiting) {
  size_t done = 0;
  uint32_t idle = 0;
  while (done < n_floats) {
    const size_t ready = FloatsReady(progress, index, n_floats);
    if (ready > done) {
      std::memcpy(dst + done, src + done, (ready - done) * sizeof(float));
      done = ready;
      idle = 0;
    } else if ((++idle & 255) == 0 && !keep_waiting()) {
      break;
    } else {
      CpuRelax();
    }
  }
  return done;
}

// Client: waits until the output of completion `index` is complete (the zero-copy API hands out
// a pointer only then). False if keep_waiting() gave up first.
template <typename KeepWaiting>
bool WaitStreamed(const std::atomic<uint64_t>* progress, uint32_t index, size_t n_floats,
                  KeepWaiting&& keep_waiting) {
  uint32_t idle = 0;
  while (FloatsReady(progress, index, n_floats) < n_floats) {
    if ((++idle & 255) == 0 && !keep_waiting()) return false;
    CpuRelax();
  }
  return true;
}

}  // namespace lam::shm
