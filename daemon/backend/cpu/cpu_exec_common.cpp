// SPDX-License-Identifier: MIT
#include "backend/cpu/cpu_exec_common.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
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

Status CreateLayerGemms(const dnnl::engine& eng, const GemmSpec (&specs)[4], LayerGemmPrims& dst,
                        bool* tail_tiles) {
  *tail_tiles = true;
  for (int i = 0; i < 4; ++i) {
    for (int kind = 0; kind < 2; ++kind) {
      auto r = GemmPrimitive::Create(eng, specs[i], kind == 0 ? kTileRows : kTailRows);
      if (!r.ok()) return r.status();
      dst[i][kind] = std::move(r).value();
    }
    // Both tile heights must read the same packed weights; otherwise use full tiles only.
    if (!(dst[i][0].weights_desc() == dst[i][1].weights_desc())) *tail_tiles = false;
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

}  // namespace lam::cpu
