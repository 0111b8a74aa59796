// SPDX-License-Identifier: MIT
// First-fit allocator over the client's shared-memory arena (offsets, 64-byte granules).
// Not thread-safe: the owning Client holds its mutex.
#pragma once

#include <cstdint>
#include <iterator>
#include <map>

namespace lam::client {

class ArenaAllocator {
 public:
  static constexpr uint64_t kAlign = 64;

  explicit ArenaAllocator(uint64_t size = 0) { Reset(size); }

  void Reset(uint64_t size) {
    free_.clear();
    size_ = size / kAlign * kAlign;
    used_ = 0;
    if (size_ != 0) free_[0] = size_;
  }

  // Offset of `bytes` (rounded up to kAlign) or UINT64_MAX if no free block fits.
  uint64_t Allocate(uint64_t bytes) {
    bytes = (bytes + kAlign - 1) / kAlign * kAlign;
    if (bytes == 0) bytes = kAlign;
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (it->second < bytes) continue;
      const uint64_t off = it->first;
      const uint64_t left = it->second - bytes;
      free_.erase(it);
      if (left != 0) free_[off + bytes] = left;
      used_ += bytes;
      return off;
    }
    return UINT64_MAX;
  }

  // Returns a block from Allocate (same byte count), merging it with its free neighbours.
  void Free(uint64_t off, uint64_t bytes) {
    bytes = (bytes + kAlign - 1) / kAlign * kAlign;
    if (bytes == 0) bytes = kAlign;
    used_ -= bytes;
    auto next = free_.lower_bound(off);
    if (next != free_.end() && off + bytes == next->first) {
      bytes += next->second;
      next = free_.erase(next);
    }
    if (next != free_.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second == off) {
        prev->second += bytes;
        return;
      }
    }
    free_[off] = bytes;
  }

  uint64_t size() const { return size_; }
  uint64_t used() const { return used_; }

 private:
  std::map<uint64_t, uint64_t> free_;  // offset -> length
  uint64_t size_ = 0;
  uint64_t used_ = 0;
};

}  // namespace lam::client
