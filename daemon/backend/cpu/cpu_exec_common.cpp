// SPDX-License-Identifier: MIT
#include "backend/cpu/cpu_exec_common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LAM_CPU_RELAX() _mm_pause()
#else
#define LAM_CPU_RELAX() std::this_thread::yield()
#endif

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <utility>

namespace lam::cpu {

Buffer::Buffer(size_t n) : n_(n) {
  const size_t bytes = std::max<size_t>((n * sizeof(float) + 63) / 64 * 64, 64);
  p_.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
  if (p_) std::memset(p_.get(), 0, bytes);
}

void Buffer::Free::operator()(float* p) const { std::free(p); }

void TiledRun::Fail(Status st) {
  std::lock_guard<std::mutex> lock(error_mu);
  if (!failed.exchange(true)) error = std::move(st);
}

void TiledRun::PlanTiles(bool tail_tiles) {
  if (tail_tiles) {
    full_tiles = rows / kTileRows;
    ntiles = full_tiles + (rows % kTileRows + kTailRows - 1) / kTailRows;
  } else {
    full_tiles = ntiles = (rows + kTileRows - 1) / kTileRows;
  }
}

size_t TiledRun::TileStart(size_t t, int* kind) const {
  *kind = t < full_tiles ? 0 : 1;
  return t < full_tiles ? t * kTileRows : full_tiles * kTileRows + (t - full_tiles) * kTailRows;
}

Status CheckBucket(const backend::Bucket& bucket) {
  constexpr int kMaxBudget = 1 << 20;
  if (bucket.max_sequences < 1 || bucket.token_budget < 1 || bucket.token_budget > kMaxBudget ||
      bucket.max_sequences > bucket.token_budget) {
    return Status(LAM_STATUS_INVALID_ARG, "bucket " + bucket.ToString() +
                                              " is invalid (need 1 <= sequences <= tokens <= " +
                                              std::to_string(kMaxBudget) + ")");
  }
  return Status::Ok();
}

namespace {

// Whether each kTailRows-row block of a kTileRows tile comes out of the tail primitive with the
// bits the full primitive gives it, on random data (layouts and bits do not depend on values).
Status TailTilesMatchFullTiles(const dnnl::engine& eng, const GemmPrimitive& full, const GemmPrimitive& tail,
                               uint32_t seed, bool* match) {
  const GemmSpec& spec = full.spec();
  const size_t k = static_cast<size_t>(spec.k), n = static_cast<size_t>(spec.n);
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<float> w(n * k), bias(n), src(kTileRows * k), ref(kTileRows * n), got(kTailRows * n);
  for (auto& x : w) x = 0.05f * nd(rng);
  for (auto& x : bias) x = 0.1f * nd(rng);
  for (auto& x : src) x = nd(rng);
  LAM_ASSIGN_OR_RETURN(dnnl::memory packed, PackWeights(eng, full, w.data()));
  dnnl::memory bmem;
  try {
    if (spec.bias) bmem = dnnl::memory(full.bias_desc(), eng, bias.data());
  } catch (const dnnl::error& e) {
    return Status(LAM_STATUS_BACKEND_FAILED, std::string("oneDNN bias memory: ") + e.what());
  }
  const dnnl::memory* b = spec.bias ? &bmem : nullptr;
  LAM_ASSIGN_OR_RETURN(GemmSlot full_slot, GemmSlot::Create(eng, full));
  LAM_ASSIGN_OR_RETURN(GemmSlot tail_slot, GemmSlot::Create(eng, tail));
  LAM_RETURN_IF_ERROR(full_slot.Execute(full, src.data(), packed, b, ref.data()));
  *match = true;
  for (size_t r0 = 0; r0 < static_cast<size_t>(kTileRows) && *match; r0 += kTailRows) {
    LAM_RETURN_IF_ERROR(tail_slot.Execute(tail, src.data() + r0 * k, packed, b, got.data()));
    *match = std::memcmp(got.data(), ref.data() + r0 * n, got.size() * sizeof(float)) == 0;
  }
  return Status::Ok();
}

}  // namespace

Status CreateLayerGemms(const dnnl::engine& eng, const GemmSpec (&specs)[4], LayerGemmPrims& dst,
                        bool* tail_tiles) {
  *tail_tiles = true;
  for (int i = 0; i < 4; ++i) {
    for (int kind = 0; kind < 2; ++kind) {
      auto r = GemmPrimitive::Create(eng, specs[i], TileRowsOf(kind));
      if (!r.ok()) return r.status();
      dst[i][kind] = std::move(r).value();
    }
    // Both tile heights must read the same packed weights; otherwise use full tiles only.
    if (!(dst[i][0].weights_desc() == dst[i][1].weights_desc())) *tail_tiles = false;
    // fp32's tail tiles are pinned bitwise by cpu_gemm_test on every machine CI runs. The bf16
    // kernels (AVX512_BF16, AMX) do not run there, so their bits are checked here, at start-up.
    if (*tail_tiles && specs[i].precision == Precision::kBf16) {
      LAM_RETURN_IF_ERROR(TailTilesMatchFullTiles(eng, dst[i][0], dst[i][1], 20261123u + static_cast<uint32_t>(i),
                                                  tail_tiles));
    }
  }
  return Status::Ok();
}

Status CreateLayerGemmSlots(const dnnl::engine& eng, LayerGemmConstPrims& prims, LayerGemmSlots& slots) {
  for (int kind = 0; kind < 2; ++kind) {
    for (int i = 0; i < 4; ++i) {
      auto r = GemmSlot::Create(eng, prims[i][kind]);
      if (!r.ok()) return r.status();
      slots[i][kind] = std::move(r).value();
    }
  }
  return Status::Ok();
}

Status PackLayerWeights(const dnnl::engine& eng, LayerGemmConstPrims& prims, const float* const (&w)[4],
                        dnnl::memory* const (&dst)[4]) {
  for (int i = 0; i < 4; ++i) {
    auto r = PackWeights(eng, prims[i][0], w[i]);
    if (!r.ok()) return r.status();
    *dst[i] = std::move(r).value();
  }
  return Status::Ok();
}

size_t LayerGemmScratchBytes(LayerGemmConstPrims& prims) {
  size_t bytes = 0;
  for (int kind = 0; kind < 2; ++kind) {
    for (int i = 0; i < 4; ++i) bytes += prims[i][kind].scratchpad_bytes();
  }
  return bytes;
}

Status CreateSplitGemms(const dnnl::engine& eng, const GemmSpec (&specs)[4], SplitGemm (&dst)[4],
                        bool* usable) {
  *usable = true;
  for (int i = 0; i < 4; ++i) {
    SplitGemm& s = dst[i];
    s.n = specs[i].n;
    // Half 0 gets the larger share of whole blocks.
    const int blocks = (s.n + kSplitAlign - 1) / kSplitAlign;
    s.n0 = (blocks + 1) / 2 * kSplitAlign;
    if (blocks < 2 || s.n0 >= s.n) {
      *usable = false;
      continue;
    }
    for (int kind = 0; kind < 2; ++kind) {
      for (int h = 0; h < 2; ++h) {
        GemmSpec hs = specs[i];
        hs.n = s.cols(h);
        auto r = GemmPrimitive::Create(eng, hs, TileRowsOf(kind));
        if (!r.ok()) return r.status();
        s.half[kind][h] = std::move(r).value();
      }
    }
    if (!(s.half[0][0].weights_desc() == s.half[1][0].weights_desc()) ||
        !(s.half[0][1].weights_desc() == s.half[1][1].weights_desc())) {
      *usable = false;  // both tile heights must read the same slices, as for the full GEMMs
    }
  }
  return Status::Ok();
}

namespace {

// Byte offset of column `col` in a blocked [k, n] weight layout whose column blocks are outer
// to everything else, or -1 when the layout is not of that kind.
int64_t ColumnBlockOffset(const dnnl::memory::desc& md, int col) {
  const dnnl_memory_desc_t& d = md.data;
  if (d.format_kind != dnnl_blocked || d.ndims != 2 || d.offset0 != 0) return -1;
  const auto& b = d.format_desc.blocking;
  int64_t kblk = 1, nblk = 1;
  for (int j = 0; j < b.inner_nblks; ++j) {
    (b.inner_idxs[j] == 0 ? kblk : nblk) *= b.inner_blks[j];
  }
  if (col % nblk != 0) return -1;
  // Column blocks must be outer to the row blocks: one column block spans all k rows.
  if (b.strides[1] < (d.padded_dims[0] / kblk) * b.strides[0]) return -1;
  return (col / nblk) * b.strides[1] * static_cast<int64_t>(dnnl_data_type_size(d.data_type));
}

}  // namespace

Status MakeSplitWeights(const dnnl::engine& eng, const SplitGemm& split, const dnnl::memory& packed,
                        const float* w_nk, const float* bias, SplitWeights* out) {
  out->owned_bytes = 0;
  try {
    const dnnl::memory::desc full_md = packed.get_desc();
    auto* base = static_cast<char*>(packed.get_data_handle());
    for (int h = 0; h < 2; ++h) {
      const dnnl::memory::desc& md = split.half[0][h].weights_desc();
      const int64_t off = ColumnBlockOffset(full_md, split.col0(h));
      if (off < 0 || static_cast<size_t>(off) + md.get_size() > full_md.get_size()) {
        // Rows [col0, col0 + cols) of the [n, k] weights are the half's own [cols, k] matrix.
        const size_t k = static_cast<size_t>(split.half[0][h].spec().k);
        LAM_ASSIGN_OR_RETURN(out->w[h], PackWeights(eng, split.half[0][h], w_nk + static_cast<size_t>(split.col0(h)) * k));
        out->owned_bytes += md.get_size();
      } else {
        out->w[h] = dnnl::memory(md, eng, base + off);
      }
      out->b[h] = bias == nullptr ? dnnl::memory()
                                  : dnnl::memory(split.half[0][h].bias_desc(), eng,
                                                 const_cast<float*>(bias) + split.col0(h));
    }
  } catch (const dnnl::error& e) {
    return Status(LAM_STATUS_BACKEND_FAILED, std::string("oneDNN split weight view: ") + e.what());
  }
  return Status::Ok();
}

Status VerifySplitGemms(const dnnl::engine& eng, LayerGemmConstPrims& full, const SplitGemm (&split)[4],
                        const float* const (&w_nk)[4], const dnnl::memory* const (&packed)[4],
                        const dnnl::memory* const (&bias)[4], const SplitWeights* const (&halves)[4],
                        bool* match) {
  *match = true;
  std::mt19937 rng(20261122);
  std::normal_distribution<float> nd;
  for (int i = 0; i < 4 && *match; ++i) {
    const SplitGemm& s = split[i];
    const int k = full[i][0].spec().k;
    // 1. Each slice is exactly what packing that half on its own gives.
    for (int h = 0; h < 2 && *match; ++h) {
      auto own = PackWeights(eng, s.half[0][h], w_nk[i] + static_cast<size_t>(s.col0(h)) * k);
      if (!own.ok()) return own.status();
      const size_t bytes = s.half[0][h].weights_desc().get_size();
      *match = std::memcmp(own->get_data_handle(), halves[i]->w[h].get_data_handle(), bytes) == 0;
    }
    // 2. Both halves give the full GEMM's bits, at both tile heights.
    std::vector<float> src(static_cast<size_t>(kTileRows) * k);
    for (auto& x : src) x = nd(rng);
    std::vector<float> ref(static_cast<size_t>(kTileRows) * s.n), got(ref.size(), 0.0f),
        part(static_cast<size_t>(kTileRows) * s.n0);
    for (int kind = 0; kind < 2 && *match; ++kind) {
      const size_t rows = TileRowsOf(kind);
      auto slot = GemmSlot::Create(eng, full[i][kind]);
      if (!slot.ok()) return slot.status();
      LAM_RETURN_IF_ERROR(slot->Execute(full[i][kind], src.data(), *packed[i], bias[i], ref.data()));
      for (int h = 0; h < 2; ++h) {
        auto hslot = GemmSlot::Create(eng, s.half[kind][h]);
        if (!hslot.ok()) return hslot.status();
        LAM_RETURN_IF_ERROR(hslot->Execute(s.half[kind][h], src.data(), halves[i]->w[h],
                                           halves[i]->bias(h), part.data()));
        ScatterColumns(part.data(), s.cols(h), rows, got.data(), static_cast<size_t>(s.n), s.col0(h));
      }
      *match = std::memcmp(ref.data(), got.data(), rows * s.n * sizeof(float)) == 0;
    }
  }
  return Status::Ok();
}

Status CreateSplitGemmSlots(const dnnl::engine& eng, const SplitGemm (&split)[4], SplitGemmSlots& slots) {
  for (int i = 0; i < 4; ++i) {
    for (int kind = 0; kind < 2; ++kind) {
      for (int h = 0; h < 2; ++h) {
        auto r = GemmSlot::Create(eng, split[i].half[kind][h]);
        if (!r.ok()) return r.status();
        slots[i][kind][h] = std::move(r).value();
      }
    }
  }
  return Status::Ok();
}

size_t SplitGemmScratchBytes(const SplitGemm (&split)[4]) {
  size_t bytes = 0;
  for (const auto& s : split) {
    for (int kind = 0; kind < 2; ++kind) {
      for (int h = 0; h < 2; ++h) bytes += s.half[kind][h].scratchpad_bytes();
    }
  }
  return bytes;
}

Status CreateTileScratch(const dnnl::engine& eng, const SplitGemm (&halves)[4], bool split, SplitGemmSlots& half,
                         Buffer* part, Buffer* tmp, Buffer* mid) {
  if (split) {
    LAM_RETURN_IF_ERROR(CreateSplitGemmSlots(eng, halves, half));
    *part = Buffer(SplitPartFloats(halves));
  }
  *tmp = Buffer(static_cast<size_t>(kTileRows) * kDm);
  *mid = Buffer(static_cast<size_t>(kTileRows) * kFfn);
  if ((split && !part->ok()) || !tmp->ok() || !mid->ok()) {
    return Status(LAM_STATUS_BACKEND_FAILED, "out of memory for tile scratch");
  }
  return Status::Ok();
}

size_t TileScratchBytes(const SplitGemm (&halves)[4], bool split) {
  size_t bytes = static_cast<size_t>(kTileRows) * (kDm + kFfn) * sizeof(float);
  if (split) bytes += SplitGemmScratchBytes(halves) + SplitPartFloats(halves) * sizeof(float);
  return bytes;
}

size_t SplitPartFloats(const SplitGemm (&split)[4]) {
  int widest = 0;
  for (const auto& s : split) widest = std::max({widest, s.cols(0), s.cols(1)});
  return static_cast<size_t>(kTileRows) * static_cast<size_t>(widest);
}

void ScatterColumns(const float* part, int cols, size_t rows, float* dst, size_t ld, int col0) {
  for (size_t r = 0; r < rows; ++r) {
    std::memcpy(dst + r * ld + col0, part + r * static_cast<size_t>(cols), static_cast<size_t>(cols) * sizeof(float));
  }
}

namespace {

// Spin briefly, then give the core away: another process may need it to run our partner.
void Backoff(int* spins) {
  if (++*spins < 64) {
    LAM_CPU_RELAX();
  } else {
    std::this_thread::yield();
  }
}

}  // namespace

void PairTeam::Publish(int n, Call call, const void* ctx) {
  if (n <= 0) return;
  // The previous phase is complete (every claimed item done), so nobody runs its items now.
  call_.store(call, std::memory_order_relaxed);
  ctx_.store(ctx, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  const uint64_t word = Word(PhaseOf(word_.load(std::memory_order_relaxed)) + 1, static_cast<uint64_t>(n), 0);
  word_.store(word, std::memory_order_release);
  Work(word);
  int spins = 0;
  while (done_.load(std::memory_order_acquire) < n) Backoff(&spins);
}

void PairTeam::Work(uint64_t word) {
  // A claim is a CAS on the whole word, which carries the phase and its item count: it fails
  // once the caller has published a later phase, and the caller publishes only after every item
  // of this phase is done, so call/ctx read after a successful claim belong to this phase.
  while (NextOf(word) < CountOf(word)) {
    if (word_.compare_exchange_weak(word, word + 1, std::memory_order_acquire, std::memory_order_acquire)) {
      const Call call = call_.load(std::memory_order_relaxed);
      const void* ctx = ctx_.load(std::memory_order_relaxed);
      call(ctx, static_cast<int>(NextOf(word)));
      done_.fetch_add(1, std::memory_order_release);
      word += 1;
    }
    // On failure `word` holds the current value, possibly of a later phase: claim from that.
  }
}

void PairTeam::Help() {
  // Run on the caller's own thread (no worker took it): nothing to help with.
  if (std::this_thread::get_id() == caller_) return;
  int spins = 0;
  while (!stop_.load(std::memory_order_acquire)) {
    const uint64_t word = word_.load(std::memory_order_acquire);
    if (NextOf(word) < CountOf(word)) {
      Work(word);
      spins = 0;
    } else {
      Backoff(&spins);
    }
  }
}

}  // namespace lam::cpu
