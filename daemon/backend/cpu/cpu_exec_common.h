// SPDX-License-Identifier: MIT
// Execution pieces shared by the CPU backends (LAM in cpu_backend, BERT in cpu_bert): aligned
// scratch buffers, the inline-or-arena parallel loop, the first-error / tile-plan state of a run,
// and creation of the four per-layer GEMMs at both tile heights. Both backends run the same
// tiling and threading scheme, so it lives in one place.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_gemm.h"
#include "backend/cpu/cpu_layout.h"
#include "common/status.h"

namespace lam::cpu {

// 64-byte aligned, zero-initialised float buffer allocated once at compile time.
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t n);
  float* get() const { return p_.get(); }
  bool ok() const { return p_ != nullptr; }
  size_t bytes() const { return n_ * sizeof(float); }

 private:
  struct Free {
    void operator()(float* p) const;
  };
  std::unique_ptr<float, Free> p_;
  size_t n_ = 0;
};

// Runs f(begin, end) over [0, n): inline for small batches (no worker wake-ups), otherwise on
// the arena. The split never changes what is computed for an index.
template <typename F>
void ForRange(bool serial, size_t n, size_t grain, const F& f) {
  if (n == 0) return;
  if (serial || n <= grain) {
    f(size_t{0}, n);
    return;
  }
  tbb::parallel_for(tbb::blocked_range<size_t>(0, n, grain),
                    [&](const tbb::blocked_range<size_t>& r) { f(r.begin(), r.end()); });
}

// Batches with at most this many packed rows run on the calling thread only.
inline constexpr size_t kSerialRows = 64;

// Per-run state of an executable: the first error raised by any task, and the tile plan over
// the batch's packed rows.
struct TiledRun {
  size_t rows = 0;
  // Tiles: full kTileRows tiles, then (with tail tiles) kTailRows tiles over the remainder.
  size_t full_tiles = 0, ntiles = 0;
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  Status error;

  // Records st unless an earlier error was recorded; tasks stop at the next check of `failed`.
  void Fail(Status st);
  void PlanTiles(bool tail_tiles);
  // First row and kind (0: kTileRows, 1: kTailRows) of tile t.
  size_t TileStart(size_t t, int* kind) const;
};

// INVALID_ARG unless 1 <= max_sequences <= token_budget <= 2^20 (the buckets a CPU backend
// compiles).
Status CheckBucket(const backend::Bucket& bucket);

// Sequence owning packed row r, given nseq plans (each with `row0`) in ascending row order.
template <typename Plan>
size_t FindSeqOfRow(const std::vector<Plan>& seqs, size_t nseq, size_t r) {
  size_t lo = 0, hi = nseq;
  while (hi - lo > 1) {
    const size_t mid = (lo + hi) / 2;
    if (static_cast<size_t>(seqs[mid].row0) <= r) lo = mid; else hi = mid;
  }
  return lo;
}

// The four GEMMs of a layer (in the order given), each as a [kTileRows, kTailRows] pair.
using LayerGemmPrims = GemmPrimitive* const[4];
using LayerGemmConstPrims = const GemmPrimitive* const[4];
using LayerGemmSlots = GemmSlot* const[4];

// Creates dst[i][kind] for specs[i] at both tile heights. *tail_tiles is set to whether every
// pair reads the same packed weights (otherwise only full tiles may be used). Must run with
// OpenMP pinned to one thread (see GemmPrimitive::Create).
Status CreateLayerGemms(const dnnl::engine& eng, const GemmSpec (&specs)[4], LayerGemmPrims& dst,
                        bool* tail_tiles);

// Creates one thread slot's execution contexts: slots[i][kind] for prims[i][kind].
Status CreateLayerGemmSlots(const dnnl::engine& eng, LayerGemmConstPrims& prims, LayerGemmSlots& slots);

// Packs one layer's four row-major [n, k] weight matrices w[i] with prims[i][0]'s layout (both
// tile heights read it) into *dst[i].
Status PackLayerWeights(const dnnl::engine& eng, LayerGemmConstPrims& prims, const float* const (&w)[4],
                        dnnl::memory* const (&dst)[4]);

// Scratchpad bytes one thread slot holds for the four GEMMs at both tile heights.
size_t LayerGemmScratchBytes(LayerGemmConstPrims& prims);

}  // namespace lam::cpu
