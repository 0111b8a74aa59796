// SPDX-License-Identifier: MIT
// The CPU backend for the BERT family (all-MiniLM-L6-v2): post-LN encoder layers with softmax
// self-attention, one exact GELU in the FFN, masked mean pooling and L2 normalisation
// (sentence-transformers' Pooling + Normalize). It shares the LAM backend's machinery: packed
// ragged batches (no padding), oneDNN GEMMs on fixed-height row tiles (cpu_layout.h), per-row
// ops and one oneTBB arena with OpenMP pinned to one thread. Attention runs per (sequence, head)
// over the sequence's own rows, so results are bitwise independent of batch mates, batch
// position and bucket, as on the LAM path.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_exec_common.h"
#include "backend/cpu/cpu_gemm.h"
#include "backend/cpu/cpu_precision.h"
#include "backend/cpu/cpu_threading.h"
#include "engine/weights.h"

namespace lam::cpu {

class CpuBertBackend final : public backend::Backend {
 public:
  // Packs the weights once; `weights` must outlive the backend. threads <= 0: all cores.
  // precision bf16: the QKV, output and FFN GEMMs in bf16 (cpu_precision.h); attention, norms
  // and pooling stay fp32.
  // Errors: UNSUPPORTED (not family bert, not the 384/12x32/1536 shape, or bf16 on a CPU without
  // native bf16), MODEL_INVALID (a tensor is missing, layer count or max_tokens inconsistent),
  // BACKEND_FAILED.
  static Result<std::unique_ptr<CpuBertBackend>> Create(const engine::ModelWeights& weights,
                                                        int threads,
                                                        Precision precision = Precision::kFp32);
  ~CpuBertBackend() override;

  const char* name() const override { return "cpu"; }
  Result<std::unique_ptr<backend::Executable>> Compile(const backend::Bucket& bucket) override;
  Status Run(backend::Executable& exe, std::span<const engine::TokenSpan> batch,
             float* out) override;
  int embedding_dim() const override;

  int concurrency() const { return threads_->concurrency(); }
  Precision precision() const { return precision_; }
  // How a batch's last partial block is covered: by tail tiles of the kinds whose rows carry the
  // full tiles' bits (cpu_layout.h, checked at Create).
  const TilePlan& tile_plan() const { return tile_plan_; }
  // Whether batches of at most kSerialRows rows split each GEMM's columns over two threads
  // (needs two threads and oneDNN giving the full GEMM's bits for the halves; checked at Create).
  bool column_split() const { return split_ready_; }
  // Non-empty when the split is off because the halves' weights could not be set up (neither
  // sliced from the full packed matrix nor packed on their own): not a failed bitwise check.
  const std::string& split_layout_error() const { return split_layout_error_; }
  size_t packed_weight_bytes() const { return packed_bytes_; }

 private:
  struct LayerPack;
  class Exe;
  CpuBertBackend(const engine::ModelWeights& weights, int threads, Precision precision);
  Status Init();
  // team: the two-thread team of a small batch whose GEMMs run as column halves, else null.
  void RunLayer(Exe& exe, size_t layer, PairTeam* team);

  const engine::ModelWeights& w_;
  Precision precision_;
  std::unique_ptr<CpuThreads> threads_;
  dnnl::engine eng_;
  // Per tile kind (cpu_layout.h): [0] kTileRows-row tiles, [j] 4j-row tail tiles (the usable
  // kinds only, tile_kinds_).
  GemmPrimitive g_qkv_[kTileKinds], g_out_[kTileKinds], g_ffn1_[kTileKinds], g_ffn2_[kTileKinds];
  TileKinds tile_kinds_ = 1;
  TilePlan tile_plan_;
  // Column halves of g_qkv_, g_out_, g_ffn1_, g_ffn2_ (cpu_exec_common.h), used when split_ready_.
  SplitGemm split_[4];
  bool split_ready_ = false;
  std::string split_layout_error_;
  std::vector<LayerPack> layers_;
  size_t packed_bytes_ = 0;
};

}  // namespace lam::cpu
