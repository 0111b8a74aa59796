// SPDX-License-Identifier: MIT
// The CPU backend: oneDNN matmuls on fixed 64-row tiles, hand-written per-row ops and delta-rule
// scans, all scheduled on one oneTBB arena. Sequences are packed back to back (no padding to a
// common length); every per-sequence quantity (L', chunk size, conv window, cross coupling,
// position interpolation) comes from the sequence's own length, so results are bitwise
// independent of batch mates, batch position and bucket (lam-model.md section 8).
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_exec_common.h"
#include "backend/cpu/cpu_gemm.h"
#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/cpu_precision.h"
#include "backend/cpu/cpu_threading.h"
#include "engine/weights.h"

namespace lam::cpu {

struct CpuBackendOptions {
  int threads = 0;  // 0 = all cores
  // bf16: the projection and FFN GEMMs in bf16 (cpu_precision.h); UNSUPPORTED without native bf16.
  Precision precision = Precision::kFp32;
};

// Time and work of the GEMM part, summed over threads since the last reset.
struct GemmProfile {
  double thread_seconds = 0.0;
  double flops = 0.0;
  uint64_t calls = 0;
};

class CpuBackend final : public backend::Backend {
 public:
  // Packs the weights (oneDNN blocked layouts) once; `weights` must outlive the backend.
  // Errors: UNSUPPORTED (family/shape the kernels do not implement, or bf16 on a CPU without
  // native bf16), MODEL_INVALID (a tensor the variant needs is missing), BACKEND_FAILED.
  static Result<std::unique_ptr<CpuBackend>> Create(const engine::ModelWeights& weights,
                                                    const CpuBackendOptions& options);
  ~CpuBackend() override;

  const char* name() const override { return "cpu"; }
  Result<std::unique_ptr<backend::Executable>> Compile(const backend::Bucket& bucket) override;
  Status Run(backend::Executable& exe, std::span<const engine::TokenSpan> batch,
             float* out) override;
  int embedding_dim() const override { return kDm; }

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
  // Bytes of pre-packed weights and per-layer constants shared by all executables.
  size_t packed_weight_bytes() const { return packed_bytes_; }

  // GEMM timing for benchmarks (two clock reads per 64-row GEMM call when enabled).
  void set_profiling(bool on) { profiling_.store(on, std::memory_order_relaxed); }
  GemmProfile TakeGemmProfile(backend::Executable& exe);

  // Largest OpenMP team size seen by any thread of the arena while running a parallel probe.
  int ProbeWorkerOmpThreads();

 private:
  struct LayerPack;
  class Exe;
  CpuBackend(const engine::ModelWeights& weights, const CpuBackendOptions& options);
  Status Init();
  // team: the two-thread team of a small batch whose GEMMs run as column halves, else null.
  Status RunLayer(Exe& exe, int layer, PairTeam* team);

  const engine::ModelWeights& w_;
  Precision precision_;
  std::unique_ptr<CpuThreads> threads_;
  dnnl::engine eng_;
  // Per tile kind (cpu_layout.h): [0] kTileRows-row tiles, [j] 4j-row tail tiles (the usable
  // kinds only, tile_kinds_).
  GemmPrimitive g_in_[kTileKinds], g_out_[kTileKinds], g_ffn1_[kTileKinds], g_ffn2_[kTileKinds];
  TileKinds tile_kinds_ = 1;
  TilePlan tile_plan_;
  // Column halves of g_in_, g_out_, g_ffn1_, g_ffn2_ (cpu_exec_common.h), used when split_ready_.
  SplitGemm split_[4];
  bool split_ready_ = false;
  std::string split_layout_error_;
  std::vector<LayerPack> layers_;
  size_t packed_bytes_ = 0;
  std::atomic<bool> profiling_{false};
};

}  // namespace lam::cpu
