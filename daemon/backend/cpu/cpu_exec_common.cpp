// SPDX-License-Identifier: MIT
#include "backend/cpu/cpu_exec_common.h"

#include <spdlog/spdlog.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LAM_CPU_RELAX() _mm_pause()
#else
#define LAM_CPU_RELAX() std::this_thread::yield()
#endif

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <map>
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

TilePlan::TilePlan(TileKinds usable) : usable_(usable | 1u) {
  // best[r]: the least cost of covering r rows; first[r]: the kind of a tile that starts such a
  // cover. Kind 0 covers any r, so best[r] <= kTileRows + kTileCostRows and no plan that
  // reaches past its block (more than kTileRows rows in all) is ever chosen.
  int best[kTileRows] = {0};
  int first[kTileRows] = {0};
  for (int r = 1; r < kTileRows; ++r) {
    best[r] = -1;
    for (int kind = 0; kind < kTileKinds; ++kind) {
      if (!HasKind(usable_, kind)) continue;
      const int h = TileRowsOf(kind);
      const int cost = h + kTileCostRows + (h >= r ? 0 : best[r - h]);
      if (best[r] < 0 || cost < best[r]) {
        best[r] = cost;
        first[r] = kind;
      }
    }
    int kinds[kMaxTail];
    int n = 0;
    for (int left = r; left > 0; left -= TileRowsOf(first[left])) {
      kinds[n++] = first[left];
      if (TileRowsOf(first[left]) >= left) break;
    }
    // Larger tiles first; the order changes no row's bits.
    std::sort(kinds, kinds + n, [](int a, int b) { return TileRowsOf(a) > TileRowsOf(b); });
    int start = 0;
    count_[r] = static_cast<uint8_t>(n);
    for (int i = 0; i < n; ++i) {
      kind_[r][i] = static_cast<uint8_t>(kinds[i]);
      start_[r][i] = static_cast<uint8_t>(start);
      start += TileRowsOf(kinds[i]);
    }
  }
  // Exact covers: ebest[r] the least cost of tail tiles summing to r, -1 where none does.
  int ebest[kTileRows];
  int efirst[kTileRows] = {0};
  ebest[0] = 0;
  exact_count_[0] = 0;
  for (int r = 1; r < kTileRows; ++r) {
    ebest[r] = -1;
    for (int kind = 1; kind < kTileKinds; ++kind) {
      const int h = TileRowsOf(kind);
      if (!HasKind(usable_, kind) || h > r || ebest[r - h] < 0) continue;
      const int cost = h + kTileCostRows + ebest[r - h];
      if (ebest[r] < 0 || cost < ebest[r]) {
        ebest[r] = cost;
        efirst[r] = kind;
      }
    }
    if (ebest[r] < 0) {
      exact_count_[r] = -1;
      continue;
    }
    int kinds[kMaxTail];
    int n = 0;
    for (int left = r; left > 0; left -= TileRowsOf(efirst[left])) kinds[n++] = efirst[left];
    std::sort(kinds, kinds + n, [](int a, int b) { return TileRowsOf(a) > TileRowsOf(b); });
    exact_count_[r] = static_cast<int8_t>(n);
    for (int i = 0; i < n; ++i) exact_kind_[r][i] = static_cast<uint8_t>(kinds[i]);
  }
}

std::string TilePlan::Describe(size_t r) const {
  std::string out;
  for (int i = 0; i < TailTiles(r); ++i) {
    if (i > 0) out += '+';
    out += std::to_string(TileRowsOf(TailKind(r, i)));
  }
  return out;
}

void LogTileKinds(const char* backend, const TilePlan& plan, bool column_split) {
  std::string heights;
  for (int kind = 0; kind < kTileKinds; ++kind) {
    if (!HasKind(plan.usable(), kind)) continue;
    if (!heights.empty()) heights += ',';
    heights += std::to_string(TileRowsOf(kind));
  }
  spdlog::debug("{}: GEMM tiles of {} rows (a 21-row remainder runs as {}); column halves {}", backend, heights,
                plan.Describe(21), column_split ? "on" : "off");
}

void TiledRun::ReserveTiles(size_t max_rows, int threads) {
  // Full tiles, plus per part at most one tail of kTileRows / 4 tiles.
  tiles.reserve(max_rows / kTileRows + static_cast<size_t>(std::max(threads, 1) + 1) * (kTileRows / 4));
}

void TiledRun::AddRange(const TilePlan& plan, size_t start, size_t n, bool exact) {
  for (size_t r0 = start; r0 + kTileRows <= start + n; r0 += kTileRows) tiles.push_back({static_cast<uint32_t>(r0), 0});
  const size_t r = n % kTileRows;
  const size_t base = start + n - r;
  if (r == 0) return;
  if (exact) {
    size_t at = base;
    for (int i = 0; i < plan.ExactTiles(r); ++i) {
      const int kind = plan.ExactKind(r, i);
      tiles.push_back({static_cast<uint32_t>(at), kind});
      at += static_cast<size_t>(TileRowsOf(kind));
    }
    return;
  }
  for (int i = 0; i < plan.TailTiles(r); ++i) {
    tiles.push_back({static_cast<uint32_t>(base + static_cast<size_t>(plan.TailStart(r, i))), plan.TailKind(r, i)});
  }
}

void TiledRun::PlanTiles(const TilePlan& plan, int threads) {
  tiles.clear();
  const size_t parts =
      rows <= kSerialRows ? 1 : std::min(static_cast<size_t>(std::max(threads, 1)), rows / kMinPartRows);
  bool balanced = parts > 1;
  size_t start = 0;
  for (size_t k = 0; balanced && k + 1 < parts; ++k) {
    // The part's end: near its share (within 16 rows), at a multiple of 4 whose remainder has an
    // exact cover, the cheapest by rows off the share plus the cover's per-tile costs.
    const size_t want = rows * (k + 1) / parts;
    size_t end = 0;
    int best = 0;
    for (size_t e = want > 16 ? (want - 16) / 4 * 4 : 4; e <= want + 16 && e < rows; e += 4) {
      if (e <= start) continue;
      const size_t r = (e - start) % kTileRows;
      const int tiles_in_cover = plan.ExactTiles(r);
      if (tiles_in_cover < 0) continue;
      const int score = static_cast<int>(e > want ? e - want : want - e) + tiles_in_cover * TilePlan::kTileCostRows;
      if (end == 0 || score < best) {
        end = e;
        best = score;
      }
    }
    if (end == 0) {
      balanced = false;
      break;
    }
    AddRange(plan, start, end - start, true);
    start = end;
  }
  if (balanced) {
    AddRange(plan, start, rows - start, false);
    const size_t cap = (rows + kTileRows - 1) / kTileRows * kTileRows;
    const Tile& last = tiles.back();
    if (last.start + static_cast<size_t>(TileRowsOf(last.kind)) > cap) balanced = false;
  }
  if (!balanced) {
    tiles.clear();
    AddRange(plan, 0, rows, false);
  }
  // Largest first (ties by row): claimed in this order, the last tiles to start are the smallest.
  // (std::sort: stable_sort takes a temporary buffer from the heap, and a run allocates nothing.)
  std::sort(tiles.begin(), tiles.end(), [](const Tile& a, const Tile& b) {
    const int ha = TileRowsOf(a.kind), hb = TileRowsOf(b.kind);
    return ha != hb ? ha > hb : a.start < b.start;
  });
  ntiles = tiles.size();
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

// Clears from *kinds the tail kinds whose primitives prims[kind] do not give the rows that
// prims[0] (a full tile) gives, on random data for one packed weight matrix (kernels are picked by
// shape, never by value). A full tile's rows do not depend on their position (cpu_gemm_test), so
// each tail tile's rows are compared with the same rows of one full tile.
Status CheckTailRows(const dnnl::engine& eng, const GemmPrimitive* prims, uint32_t seed, TileKinds* kinds) {
  const GemmPrimitive& full = prims[0];
  const GemmSpec& spec = full.spec();
  const size_t k = static_cast<size_t>(spec.k), n = static_cast<size_t>(spec.n);
  std::minstd_rand rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> w(n * k), bias(n), src(kTileRows * k), ref(kTileRows * n), got(kTileRows * n);
  for (auto& x : w) x = 0.05f * u(rng);
  for (auto& x : bias) x = 0.1f * u(rng);
  for (auto& x : src) x = u(rng);
  LAM_ASSIGN_OR_RETURN(dnnl::memory packed, PackWeights(eng, full, w.data()));
  dnnl::memory bmem;
  try {
    if (spec.bias) bmem = dnnl::memory(full.bias_desc(), eng, bias.data());
  } catch (const dnnl::error& e) {
    return Status(LAM_STATUS_BACKEND_FAILED, std::string("oneDNN bias memory: ") + e.what());
  }
  const dnnl::memory* b = spec.bias ? &bmem : nullptr;
  LAM_ASSIGN_OR_RETURN(GemmSlot full_slot, GemmSlot::Create(eng, full));
  LAM_RETURN_IF_ERROR(full_slot.Execute(full, src.data(), packed, b, ref.data()));
  for (int kind = 1; kind < kTileKinds; ++kind) {
    if (!HasKind(*kinds, kind)) continue;
    const GemmPrimitive& tail = prims[kind];
    LAM_ASSIGN_OR_RETURN(GemmSlot tail_slot, GemmSlot::Create(eng, tail));
    LAM_RETURN_IF_ERROR(tail_slot.Execute(tail, src.data(), packed, b, got.data()));
    const size_t floats = static_cast<size_t>(tail.rows()) * n;
    if (std::memcmp(got.data(), ref.data(), floats * sizeof(float)) != 0) *kinds &= ~(TileKinds{1} << kind);
  }
  return Status::Ok();
}

}  // namespace

namespace {

// The usable tile kinds found for a set of four GEMM shapes, per process.
using SpecsKey = std::array<int, 20>;
std::mutex g_kinds_mu;
std::map<SpecsKey, TileKinds>& KnownKinds() {
  static std::map<SpecsKey, TileKinds> known;
  return known;
}

SpecsKey KeyOf(const GemmSpec (&specs)[4]) {
  SpecsKey key{};
  for (int i = 0; i < 4; ++i) {
    const GemmSpec& s = specs[i];
    const int fields[5] = {s.k, s.n, s.bias ? 1 : 0, s.gelus, static_cast<int>(s.precision)};
    std::copy(fields, fields + 5, key.begin() + 5 * i);
  }
  return key;
}

}  // namespace

Status CreateLayerGemms(const dnnl::engine& eng, const GemmSpec (&specs)[4], LayerGemmPrims& dst,
                        TileKinds* kinds) {
  const SpecsKey key = KeyOf(specs);
  TileKinds known = 0;
  {
    std::lock_guard<std::mutex> lock(g_kinds_mu);
    auto it = KnownKinds().find(key);
    if (it != KnownKinds().end()) known = it->second;
  }
  TileKinds usable = known != 0 ? known : ~TileKinds{0} >> (32 - kTileKinds);
  for (int i = 0; i < 4; ++i) {
    for (int kind = 0; kind < kTileKinds; ++kind) {
      if (!HasKind(usable, kind)) continue;
      auto r = GemmPrimitive::Create(eng, specs[i], TileRowsOf(kind));
      if (!r.ok()) return r.status();
      dst[i][kind] = std::move(r).value();
      // Every kind must read the full tiles' packed weights.
      if (!(dst[i][kind].weights_desc() == dst[i][0].weights_desc())) usable &= ~(TileKinds{1} << kind);
    }
    // ... and give their bits.
    if (known == 0) LAM_RETURN_IF_ERROR(CheckTailRows(eng, dst[i], 20261123u + static_cast<uint32_t>(i), &usable));
  }
  for (int kind = 1; kind < kTileKinds; ++kind) {
    if (HasKind(usable, kind)) continue;
    for (int i = 0; i < 4; ++i) dst[i][kind] = GemmPrimitive();
  }
  if (known == 0) {
    std::lock_guard<std::mutex> lock(g_kinds_mu);
    KnownKinds().emplace(key, usable);
  }
  *kinds = usable;
  return Status::Ok();
}

Status CreateLayerGemmSlots(const dnnl::engine& eng, LayerGemmConstPrims& prims, TileKinds kinds,
                            LayerGemmSlots& slots) {
  for (int kind = 0; kind < kTileKinds; ++kind) {
    if (!HasKind(kinds, kind)) continue;
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

size_t LayerGemmScratchBytes(LayerGemmConstPrims& prims, TileKinds kinds) {
  size_t bytes = 0;
  for (int kind = 0; kind < kTileKinds; ++kind) {
    if (!HasKind(kinds, kind)) continue;
    for (int i = 0; i < 4; ++i) bytes += prims[i][kind].scratchpad_bytes();
  }
  return bytes;
}

Status CreateSplitGemms(const dnnl::engine& eng, const GemmSpec (&specs)[4], SplitGemm (&dst)[4],
                        TileKinds* kinds, bool* usable) {
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
    for (int kind = 0; kind < kTileKinds; ++kind) {
      if (!HasKind(*kinds, kind)) continue;
      for (int h = 0; h < 2; ++h) {
        GemmSpec hs = specs[i];
        hs.n = s.cols(h);
        auto r = GemmPrimitive::Create(eng, hs, TileRowsOf(kind));
        if (!r.ok()) return r.status();
        s.half[kind][h] = std::move(r).value();
      }
      // Every tile kind must read the same slices, as for the full GEMMs.
      if (kind > 0 && !(s.half[kind][0].weights_desc() == s.half[0][0].weights_desc() &&
                        s.half[kind][1].weights_desc() == s.half[0][1].weights_desc())) {
        *kinds &= ~(TileKinds{1} << kind);
      }
    }
  }
  // Drop the halves of kinds that a later GEMM ruled out.
  for (auto& s : dst) {
    for (int kind = 1; kind < kTileKinds; ++kind) {
      if (!HasKind(*kinds, kind)) s.half[kind][0] = s.half[kind][1] = GemmPrimitive();
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
                        TileKinds* kinds, bool* match) {
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
    // 2. Both halves give the full GEMM's bits, at every tile kind in use.
    std::vector<float> src(static_cast<size_t>(kTileRows) * k);
    for (auto& x : src) x = nd(rng);
    std::vector<float> ref(static_cast<size_t>(kTileRows) * s.n), got(ref.size(), 0.0f),
        part(static_cast<size_t>(kTileRows) * s.n0);
    for (int kind = 0; kind < kTileKinds && *match; ++kind) {
      if (!HasKind(*kinds, kind)) continue;
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
      if (std::memcmp(ref.data(), got.data(), rows * s.n * sizeof(float)) != 0) {
        // Full tiles' halves must match; a tail kind whose halves do not is not used.
        if (kind == 0) *match = false; else *kinds &= ~(TileKinds{1} << kind);
      }
    }
  }
  return Status::Ok();
}

Status CreateSplitGemmSlots(const dnnl::engine& eng, const SplitGemm (&split)[4], TileKinds kinds,
                            SplitGemmSlots& slots) {
  for (int i = 0; i < 4; ++i) {
    for (int kind = 0; kind < kTileKinds; ++kind) {
      if (!HasKind(kinds, kind)) continue;
      for (int h = 0; h < 2; ++h) {
        auto r = GemmSlot::Create(eng, split[i].half[kind][h]);
        if (!r.ok()) return r.status();
        slots[i][kind][h] = std::move(r).value();
      }
    }
  }
  return Status::Ok();
}

size_t SplitGemmScratchBytes(const SplitGemm (&split)[4], TileKinds kinds) {
  size_t bytes = 0;
  for (const auto& s : split) {
    for (int kind = 0; kind < kTileKinds; ++kind) {
      if (!HasKind(kinds, kind)) continue;
      for (int h = 0; h < 2; ++h) bytes += s.half[kind][h].scratchpad_bytes();
    }
  }
  return bytes;
}

Status CreateTileScratch(const dnnl::engine& eng, const SplitGemm (&halves)[4], bool split, TileKinds kinds,
                         SplitGemmSlots& half, Buffer* part, Buffer* tmp, Buffer* mid) {
  if (split) {
    LAM_RETURN_IF_ERROR(CreateSplitGemmSlots(eng, halves, kinds, half));
    *part = Buffer(SplitPartFloats(halves));
  }
  *tmp = Buffer(static_cast<size_t>(kTileRows) * kDm);
  *mid = Buffer(static_cast<size_t>(kTileRows) * kFfn);
  if ((split && !part->ok()) || !tmp->ok() || !mid->ok()) {
    return Status(LAM_STATUS_BACKEND_FAILED, "out of memory for tile scratch");
  }
  return Status::Ok();
}

size_t TileScratchBytes(const SplitGemm (&halves)[4], bool split, TileKinds kinds) {
  size_t bytes = static_cast<size_t>(kTileRows) * (kDm + kFfn) * sizeof(float);
  if (split) bytes += SplitGemmScratchBytes(halves, kinds) + SplitPartFloats(halves) * sizeof(float);
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

// Spin-waiting within a time budget: Spin() pauses once and says whether the budget still lasts
// (the clock is read every 64 pauses).
class SpinBudget {
 public:
  explicit SpinBudget(std::chrono::microseconds budget) : budget_(budget) {}
  bool Spin() {
    LAM_CPU_RELAX();
    if ((++spins_ & 63u) != 0) return true;
    const auto now = std::chrono::steady_clock::now();
    if (spins_ == 64) start_ = now;
    return now - start_ < budget_;
  }
  void Reset() { spins_ = 0; }

 private:
  std::chrono::microseconds budget_;
  uint32_t spins_ = 0;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

void PairTeam::WakeHelper() {
  epoch_.fetch_add(1, std::memory_order_seq_cst);
  if (helper_asleep_.load(std::memory_order_seq_cst)) epoch_.notify_one();
}

void PairTeam::Stop() {
  stop_.store(true, std::memory_order_seq_cst);
  WakeHelper();
}

void PairTeam::Publish(int n, Call call, const void* ctx) {
  if (n <= 0) return;
  // The previous phase is complete (every claimed item done), so nobody runs its items now.
  call_.store(call, std::memory_order_relaxed);
  ctx_.store(ctx, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  const uint64_t word = Word(PhaseOf(word_.load(std::memory_order_relaxed)) + 1, static_cast<uint64_t>(n), 0);
  word_.store(word, std::memory_order_seq_cst);
  WakeHelper();
  Work(word);
  SpinBudget spin(kSpinFor);
  while (done_.load(std::memory_order_acquire) < n) {
    if (spin.Spin()) continue;
    // The helper runs an item of this phase: sleep until it has finished one.
    caller_asleep_.store(true, std::memory_order_seq_cst);
    const int done = done_.load(std::memory_order_seq_cst);
    if (done < n) done_.wait(done, std::memory_order_seq_cst);
    caller_asleep_.store(false, std::memory_order_relaxed);
    spin.Reset();
  }
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
      done_.fetch_add(1, std::memory_order_seq_cst);
      if (caller_asleep_.load(std::memory_order_seq_cst)) done_.notify_one();
      word += 1;
    }
    // On failure `word` holds the current value, possibly of a later phase: claim from that.
  }
}

void PairTeam::Help() {
  // Run on the caller's own thread (no worker took it): nothing to help with.
  if (std::this_thread::get_id() == caller_) return;
  SpinBudget spin(kSpinFor);
  while (!stop_.load(std::memory_order_acquire)) {
    const uint64_t word = word_.load(std::memory_order_acquire);
    if (NextOf(word) < CountOf(word)) {
      Work(word);
      spin.Reset();
      continue;
    }
    if (spin.Spin()) continue;
    // Nothing to claim for a while: sleep until the next phase or the stop. The epoch is read
    // before the re-check, so a Publish after it changes the epoch and wait() returns at once.
    const uint32_t epoch = epoch_.load(std::memory_order_seq_cst);
    helper_asleep_.store(true, std::memory_order_seq_cst);
    const uint64_t now = word_.load(std::memory_order_seq_cst);
    if (!stop_.load(std::memory_order_seq_cst) && NextOf(now) >= CountOf(now)) {
      epoch_.wait(epoch, std::memory_order_seq_cst);
    }
    helper_asleep_.store(false, std::memory_order_relaxed);
    spin.Reset();
  }
}

}  // namespace lam::cpu
