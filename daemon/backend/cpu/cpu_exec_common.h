// SPDX-License-Identifier: MIT
// Execution pieces shared by the CPU backends (LAM in cpu_backend, BERT in cpu_bert): aligned
// scratch buffers, the inline-or-arena parallel loop, the first-error / tile-plan state of a run,
// and creation of the four per-layer GEMMs at every tile height. Both backends run the same
// tiling and threading scheme, so it lives in one place.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_gemm.h"
#include "backend/cpu/cpu_layout.h"
#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/cpu_threading.h"
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

// How ForRange shares its chunks out. kRanges: oneTBB's range splitting (each thread takes long
// runs of neighbouring chunks: the cheapest for many small items). kInOrder: every thread claims
// the next chunk in index order until none is left (list scheduling: the last chunks to start are
// the last in the list, so work listed largest first, as row tiles are, ends on all threads
// together; one atomic per chunk, for items of tens of microseconds and up). Either way a worker
// that wakes late finds the work done, and the split never changes what is computed for an index.
enum class Share { kRanges, kInOrder };

// Runs f(begin, end) over [0, n) in chunks of `grain` indices: inline for small batches (no
// worker wake-ups), otherwise on the arena, shared out as `share` says.
template <typename F>
void ForRange(bool serial, size_t n, size_t grain, const F& f, Share share = Share::kRanges) {
  if (n == 0) return;
  if (serial || n <= grain) {
    f(size_t{0}, n);
    return;
  }
  if (share == Share::kRanges) {
    tbb::parallel_for(tbb::blocked_range<size_t>(0, n, grain),
                      [&](const tbb::blocked_range<size_t>& r) { f(r.begin(), r.end()); });
    return;
  }
  const size_t chunks = (n + grain - 1) / grain;
  const size_t workers = std::min(chunks, static_cast<size_t>(std::max(1, tbb::this_task_arena::max_concurrency())));
  std::atomic<size_t> next{0};
  tbb::parallel_for(
      tbb::blocked_range<size_t>(0, workers, 1),
      [&](const tbb::blocked_range<size_t>&) {
        for (size_t c = next.fetch_add(1, std::memory_order_relaxed); c < chunks;
             c = next.fetch_add(1, std::memory_order_relaxed)) {
          f(c * grain, std::min(n, (c + 1) * grain));
        }
      },
      tbb::simple_partitioner());
}

// Batches with at most this many packed rows are not shared out by row tiles: they run on the
// calling thread only, or, where the backend splits GEMM columns (see "Column halves" below),
// with each GEMM's column halves and the per-row / per-head work on two threads.
inline constexpr size_t kSerialRows = 64;

// Bit j set: tiles of kind j (cpu_layout.h) may be used. Bit 0 (full tiles) is always set.
using TileKinds = uint32_t;
static_assert(kTileKinds <= 32, "TileKinds holds one bit per tile kind");
inline bool HasKind(TileKinds kinds, int kind) { return (kinds >> kind & 1u) != 0; }

// How a batch's last partial block of r rows (0 < r < kTileRows) is covered by tail tiles of the
// usable kinds: the fewest padded rows, counting each tile as kTileCostRows rows more (a GEMM
// call's fixed cost), a full tile if nothing cheaper covers r. A plan never reaches past the
// kTileRows-row block the remainder starts (buffers are sized in whole blocks).
class TilePlan {
 public:
  static constexpr int kTileCostRows = 2;
  // Only full tiles.
  TilePlan() : TilePlan(1u) {}
  explicit TilePlan(TileKinds usable);

  TileKinds usable() const { return usable_; }
  // Number of tail tiles covering r rows, and the kind and first row (relative to the block) of
  // the i-th; i < TailTiles(r).
  int TailTiles(size_t r) const { return count_[r]; }
  int TailKind(size_t r, int i) const { return kind_[r][i]; }
  int TailStart(size_t r, int i) const { return start_[r][i]; }
  // The tail tiles' heights for r rows, as text ("24", "16+4"): for logs and tests.
  std::string Describe(size_t r) const;
  // Exact covers (no padded row), for a row range that another range follows: the cheapest
  // usable tail tiles whose heights sum to r, largest first. ExactTiles(r) is 0 for r = 0 and -1
  // where the usable kinds have none (r not a multiple of 4, or, say, only full tiles usable).
  int ExactTiles(size_t r) const { return exact_count_[r]; }
  int ExactKind(size_t r, int i) const { return exact_kind_[r][i]; }

 private:
  // A plan has at most kTileRows / 4 tiles (4-row kinds cannot beat one full tile beyond that).
  static constexpr int kMaxTail = kTileRows / 4;
  TileKinds usable_;
  uint8_t count_[kTileRows] = {};
  uint8_t kind_[kTileRows][kMaxTail] = {};
  uint8_t start_[kTileRows][kMaxTail] = {};
  int8_t exact_count_[kTileRows] = {};
  uint8_t exact_kind_[kTileRows][kMaxTail] = {};
};

// Logs (debug) which tile heights `backend` uses and whether it splits columns.
void LogTileKinds(const char* backend, const TilePlan& plan, bool column_split);

// Per-run state of an executable: the first error raised by any task, and the tile plan over
// the batch's packed rows.
//
// Balanced parts: with T threads, a batch tiled as full tiles plus a tail leaves threads idle at
// the end of every GEMM phase (7 full tiles on 2 threads: one thread runs 4, the other 3 and
// waits; a 6-tile batch with a 60-row tail: 252 rows against 192). So a batch of more than
// kSerialRows rows is cut into T parts of about rows / T rows each (at least kMinPartRows), every
// part but the last covered exactly (full tiles, then an exact tail cover: no padded row may
// reach into the next part) and the last as before (full tiles, then the tail plan). The tiles
// are listed largest first and claimed in that order (ForEachTile, Share::kInOrder), so the
// threads run matching tiles side by side and end together. A row's bits do not depend on its
// tile (every usable kind gives the full tiles' bits), so the parts change no result.
struct TiledRun {
  static constexpr size_t kMinPartRows = 32;
  struct Tile {
    uint32_t start;
    int kind;
  };
  size_t rows = 0;
  size_t ntiles = 0;
  std::vector<Tile> tiles;  // ntiles entries; capacity kept across runs
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  Status error;

  // Records st unless an earlier error was recorded; tasks stop at the next check of `failed`.
  void Fail(Status st);
  // Reserves the tile list for batches of up to max_rows rows on `threads` threads (Compile: a
  // run allocates nothing).
  void ReserveTiles(size_t max_rows, int threads);
  // Plans the tiles of `rows` rows for `threads` threads (balanced parts, above). The tiles stay
  // within rows rounded up to whole kTileRows blocks (what the buffers hold).
  void PlanTiles(const TilePlan& plan, int threads = 1);
  // First row and kind (cpu_layout.h) of tile t.
  size_t TileStart(size_t t, int* kind) const {
    *kind = tiles[t].kind;
    return tiles[t].start;
  }
  // One past the last row of the tile of `kind` starting at r0.
  size_t TileEnd(size_t r0, int kind) const {
    return std::min(rows, r0 + static_cast<size_t>(TileRowsOf(kind)));
  }

 private:
  // Appends the tiles of [start, start + n): full tiles, then the tail plan (exact: its exact
  // cover, which must exist).
  void AddRange(const TilePlan& plan, size_t start, size_t n, bool exact);
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

// The four GEMMs of a layer (in the order given), each as an array of kTileKinds primitives,
// one per tile kind (the unusable kinds' left empty).
using LayerGemmPrims = GemmPrimitive* const[4];
using LayerGemmConstPrims = const GemmPrimitive* const[4];
using LayerGemmSlots = GemmSlot* const[4];

// Creates dst[i][kind] for specs[i] at every tile kind and sets *kinds to those whose four
// primitives read the full tiles' packed weights and give their bits (checked on random data:
// oneDNN picks kernels by shape, never by value); the others are left empty. The check's result
// is remembered for the process (it depends on the shapes and the CPU only). Must run with
// OpenMP pinned to one thread (see GemmPrimitive::Create).
Status CreateLayerGemms(const dnnl::engine& eng, const GemmSpec (&specs)[4], LayerGemmPrims& dst,
                        TileKinds* kinds);

// Creates one thread slot's execution contexts: slots[i][kind] for prims[i][kind], every kind in
// `kinds`.
Status CreateLayerGemmSlots(const dnnl::engine& eng, LayerGemmConstPrims& prims, TileKinds kinds,
                            LayerGemmSlots& slots);

// Packs one layer's four row-major [n, k] weight matrices w[i] with prims[i][0]'s layout (every
// usable tile kind reads it) into *dst[i].
Status PackLayerWeights(const dnnl::engine& eng, LayerGemmConstPrims& prims, const float* const (&w)[4],
                        dnnl::memory* const (&dst)[4]);

// Scratchpad bytes one thread slot holds for the four GEMMs at every tile kind in `kinds`.
size_t LayerGemmScratchBytes(LayerGemmConstPrims& prims, TileKinds kinds);

// ---- Column halves: small batches on two threads -------------------------------------------
// A batch of at most kSerialRows rows has at most 64 rows per GEMM, too few to share out by row
// tiles, and its GEMMs stream the whole weight matrices. Instead each GEMM's output columns are
// split in two at n0 (a multiple of kSplitAlign) and the halves run on two threads, each
// streaming half the weights. The halves write dense [rows, cols] tiles (oneDNN's brgemm kernel,
// the one the full GEMMs use, needs a dense dst) that are then copied into the full-width
// matrix. oneDNN's blocked weight layout (brgemm, AVX-512 and up) keeps whole kSplitAlign-column
// blocks contiguous, so a half's packed weights are a slice of the full packed matrix (no second
// copy). Where oneDNN keeps the weights plain and row-major (its gemm:jit matmul on AVX2), no
// half is a slice: each half is then packed on its own, a second copy of the layer's GEMM
// weights (~42 MiB for all-MiniLM-L6-v2), which makes batch-1 requests use both cores (column
// major weights would slice, but gemm:jit runs them 10-27% slower at 16-64 rows).
//
// A row's bits must not depend on which path computed it (batch invariance). oneDNN does not
// promise that a half-width GEMM reduces K in the same order as the full one, so the backends
// use the halves only after VerifySplitGemms has checked, at start-up, that the slices are the
// halves' own packed layout and that both halves give the full GEMM's bits at every tile kind.
inline constexpr int kSplitAlign = 64;

struct SplitGemm {
  int n = 0, n0 = 0;         // all columns; columns of half 0 ([0, n0)); half 1 is [n0, n)
  GemmPrimitive half[kTileKinds][2];  // [tile kind][half]; kinds not in use left empty
  int col0(int h) const { return h == 0 ? 0 : n0; }
  int cols(int h) const { return h == 0 ? n0 : n - n0; }
};

// One layer's half weights: views into the full packed matrix (or, where that layout is not
// sliceable, each half packed on its own) and into the bias vector.
struct SplitWeights {
  dnnl::memory w[2], b[2];  // b[h] is empty when the GEMM has no bias
  size_t owned_bytes = 0;   // bytes of the halves packed on their own (0 for views)
  const dnnl::memory* bias(int h) const { return b[h] ? &b[h] : nullptr; }
};

// Creates dst[i] for specs[i] at every tile kind in *kinds (the full GEMMs' usable kinds) and
// clears the tail kinds whose halves do not read the full tiles' half layouts; *usable is false
// when a GEMM cannot be split (fewer than two kSplitAlign blocks, or the layouts of full tiles'
// halves differ). Must run with OpenMP pinned to one thread.
Status CreateSplitGemms(const dnnl::engine& eng, const GemmSpec (&specs)[4], SplitGemm (&dst)[4],
                        TileKinds* kinds, bool* usable);

// The halves of `packed` (the full GEMM's packed weights, made from the row-major [n, k] w_nk):
// views of it where its layout keeps column blocks whole, otherwise each half packed from w_nk;
// and views of `bias` (may be null).
Status MakeSplitWeights(const dnnl::engine& eng, const SplitGemm& split, const dnnl::memory& packed,
                        const float* w_nk, const float* bias, SplitWeights* out);

// The start-up check described above, for one layer's four GEMMs: w_nk[i] are the row-major
// [n, k] weights that full[i] / packed[i] / halves[i] were made from. *match is false when a
// slice is not the half's own packing or the full tiles' halves miss the full GEMM's bits; tail
// kinds whose halves miss them are cleared from *kinds. Must run with OpenMP pinned to one thread.
Status VerifySplitGemms(const dnnl::engine& eng, LayerGemmConstPrims& full, const SplitGemm (&split)[4],
                        const float* const (&w_nk)[4], const dnnl::memory* const (&packed)[4],
                        const dnnl::memory* const (&bias)[4], const SplitWeights* const (&halves)[4],
                        TileKinds* kinds, bool* match);

// Execution contexts of one thread slot for every half: slots[i][kind][h], kinds in `kinds`.
using SplitGemmSlots = GemmSlot[4][kTileKinds][2];
Status CreateSplitGemmSlots(const dnnl::engine& eng, const SplitGemm (&split)[4], TileKinds kinds,
                            SplitGemmSlots& slots);
size_t SplitGemmScratchBytes(const SplitGemm (&split)[4], TileKinds kinds);
// Floats of the dense half tile a thread slot needs: kTileRows x the widest half.
size_t SplitPartFloats(const SplitGemm (&split)[4]);

// The per-thread tile scratch both backends hold besides their GEMM contexts: the out-proj and
// FFN tiles (*tmp, *mid) and, when `split` (the backend splits columns), the half contexts and
// the dense half tile (*part). TileScratchBytes is what one slot's scratch weighs.
Status CreateTileScratch(const dnnl::engine& eng, const SplitGemm (&halves)[4], bool split, TileKinds kinds,
                         SplitGemmSlots& half, Buffer* part, Buffer* tmp, Buffer* mid);
size_t TileScratchBytes(const SplitGemm (&halves)[4], bool split, TileKinds kinds);

// Copies the first `rows` rows of a dense [*, cols] half tile into columns [col0, col0 + cols)
// of a row-major matrix with `ld` columns.
void ScatterColumns(const float* part, int cols, size_t rows, float* dst, size_t ld, int col0);

// The calling thread plus (when one is free) one arena worker, working through the phases of a
// small-batch run together. A oneTBB fork-join per phase is too slow here: a phase lasts tens to
// hundreds of microseconds, about what a sleeping worker needs to wake up, so the caller would
// mostly run both halves itself. Instead one worker joins for the whole run and spins between
// phases.
//
// A waiting thread spins (pause) for up to kSpinFor, then sleeps on a futex until its partner
// wakes it; it never yields the core: sched_yield hands the core to whatever else is runnable
// there, a nice-19 batch job included, until the next scheduler tick, and batch-1 latency
// doubled beside one niced CPU hog when it did.
//
// Never blocks on the worker: items are claimed atomically, the caller claims whatever is left
// and waits only for items a running thread has claimed. If no worker joins, or it joins late,
// the caller does the work alone. Which thread runs an item never changes what it computes.
class PairTeam {
 public:
  // Runs body() on the calling thread, which must be inside the arena; ForEach calls made by
  // body share their items with the helper.
  template <typename Body>
  void Run(const Body& body) {
    caller_ = std::this_thread::get_id();
    stop_.store(false, std::memory_order_relaxed);
    tbb::parallel_for(
        tbb::blocked_range<int>(0, 2, 1),
        [&](const tbb::blocked_range<int>& r) {
          for (int i = r.begin(); i < r.end(); ++i) {
            if (i == 0) {
              body();
              Stop();
            } else {
              Help();
            }
          }
        },
        tbb::simple_partitioner());
  }

  // f(i) for every i in [0, n), items spread over the team; returns when all are done.
  // n < 2^20; a run holds fewer than 2^24 phases.
  template <typename F>
  void ForEach(int n, const F& f) {
    Publish(n, [](const void* ctx, int i) { (*static_cast<const F*>(ctx))(i); }, &f);
  }

 private:
  using Call = void (*)(const void*, int);
  // The shared word: phase (24 bits) | item count (20 bits) | next unclaimed item (20 bits).
  static constexpr uint64_t Word(uint64_t phase, uint64_t count, uint64_t next) {
    return phase << 40 | count << 20 | next;
  }
  static constexpr uint64_t PhaseOf(uint64_t w) { return w >> 40; }
  static constexpr uint64_t CountOf(uint64_t w) { return (w >> 20) & 0xfffff; }
  static constexpr uint64_t NextOf(uint64_t w) { return w & 0xfffff; }

  static constexpr std::chrono::microseconds kSpinFor{500};

  void Publish(int n, Call call, const void* ctx);
  // Ends Help: sets stop_ and wakes the helper.
  void Stop();
  // Bumps epoch_ and wakes the helper if it sleeps (after word_ or stop_ changed).
  void WakeHelper();
  // Claims and runs items of the phase in `word` until none is left.
  void Work(uint64_t word);
  // The worker's side: follows the phases until the caller's body returns.
  void Help();

  std::thread::id caller_;
  std::atomic<uint64_t> word_{0};
  std::atomic<int> done_{0};
  std::atomic<Call> call_{nullptr};
  std::atomic<const void*> ctx_{nullptr};
  std::atomic<bool> stop_{false};
  // Sleeping: the helper waits on epoch_ (bumped by each Publish and by Stop), the caller on
  // done_; each announces it in *_asleep_ and re-checks before it sleeps, and the other side
  // checks the flag after its change, all sequentially consistent, so no wake-up is lost.
  std::atomic<uint32_t> epoch_{0};
  std::atomic<bool> helper_asleep_{false};
  std::atomic<bool> caller_asleep_{false};
};

// A run's body(team) inside `threads`' arena: on a two-thread PairTeam when `pair` (a small batch
// whose column split was verified), otherwise with team == nullptr (row tiles over the arena).
template <typename Body>
void RunInArena(CpuThreads& threads, bool pair, const Body& body) {
  threads.Execute([&] {
    if (pair) {
      PairTeam team;
      team.Run([&] { body(&team); });
    } else {
      body(nullptr);
    }
  });
}

// f(begin, end) over [0, n) in chunks of `grain` indices: shared out as the team's items when a
// pair team runs the batch, otherwise ForRange (inline when `serial`).
template <typename F>
void ForItems(PairTeam* team, bool serial, size_t n, size_t grain, const F& f, Share share = Share::kRanges) {
  if (team != nullptr) {
    team->ForEach(static_cast<int>((n + grain - 1) / grain), [&](int item) {
      const size_t b = static_cast<size_t>(item) * grain;
      f(b, std::min(n, b + grain));
    });
  } else {
    ForRange(serial, n, grain, f, share);
  }
}

// f(slot, kind, r0, r1) for every row tile [r0, r1) of `run` (kind as TileStart), the tiles shared
// out in list order (largest first) by par(n, grain, body, Share::kInOrder) (the backends'
// ForItems wrapper), each with its thread's slot.
template <typename Par, typename Slots, typename F>
void ForEachTile(const Par& par, const TiledRun& run, Slots& slots, const F& f) {
  par(run.ntiles, 1, [&](size_t begin, size_t end) {
    auto& slot = slots[static_cast<size_t>(CpuThreads::SlotIndex())];
    for (size_t tile = begin; tile < end; ++tile) {
      int kind;
      const size_t r0 = run.TileStart(tile, &kind);
      f(slot, kind, r0, run.TileEnd(r0, kind));
    }
  }, Share::kInOrder);
}

// One GEMM of a layer as column halves over every row tile of `run`, half h on team item h:
// half_gemm(slot, kind, h, src_tile, part) computes the dense [tile rows, sg.cols(h)] result
// into `part` (the slot's scratch), which is then scattered into dst's columns.
template <typename Slots, typename HalfGemm>
void SplitGemmOverTiles(PairTeam& team, const TiledRun& run, Slots& slots, const SplitGemm& sg,
                        const float* src, size_t src_ld, float* dst, size_t ld, const HalfGemm& half_gemm) {
  team.ForEach(2, [&](int h) {
    auto& slot = slots[static_cast<size_t>(CpuThreads::SlotIndex())];
    for (size_t tile = 0; tile < run.ntiles; ++tile) {
      int kind;
      const size_t r0 = run.TileStart(tile, &kind);
      half_gemm(slot, kind, h, src + r0 * src_ld, slot.part.get());
      ScatterColumns(slot.part.get(), sg.cols(h), run.TileEnd(r0, kind) - r0, dst + r0 * ld, ld, sg.col0(h));
    }
  });
}

// Masked mean pooling and L2 normalisation of every sequence's own rows of x into out[b * kDm].
template <typename Plan>
void PoolSequences(bool serial, const std::vector<Plan>& seqs, size_t nseq, const float* x, float* out) {
  ForRange(serial, nseq, 1, [&](size_t begin, size_t end) {
    for (size_t b = begin; b < end; ++b) {
      PoolRows(x + static_cast<size_t>(seqs[b].row0) * kDm, seqs[b].len, out + b * kDm);
    }
  });
}

}  // namespace lam::cpu
