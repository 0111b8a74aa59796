// SPDX-License-Identifier: MIT
// Fixed-shape oneDNN matmuls: dst[rows, N] = src[rows, K] x W (+ bias, + GELU post-ops), for the
// fixed tile heights of cpu_layout.h (kTileRows and the tail tiles).
// Weights are reordered once into the blocked layout oneDNN picks for that shape
// (format_tag::any). Primitives use a user scratchpad, so executing one allocates nothing.
// In bf16 precision (cpu_precision.h) the weights are packed as bf16 and each tile's source
// rows are rounded to bf16 into the slot's own buffer before the call; bias, post-ops,
// accumulation and dst stay fp32.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <cstddef>
#include <vector>

#include "backend/cpu/cpu_layout.h"
#include "backend/cpu/cpu_precision.h"
#include "common/status.h"

namespace lam::cpu {

struct GemmSpec {
  int k = 0;
  int n = 0;
  bool bias = false;
  int gelus = 0;  // exact-erf GELU post-ops applied after the bias (the FFN applies two)
  Precision precision = Precision::kFp32;  // of src and weights; bias, dst and accumulation are fp32
};

class GemmPrimitive {
 public:
  // A primitive for tiles of `rows` rows. Must be called with OpenMP pinned to one thread
  // (oneDNN sizes its partitioning from it).
  static Result<GemmPrimitive> Create(const dnnl::engine& eng, const GemmSpec& spec,
                                      int rows = kTileRows);

  const GemmSpec& spec() const { return spec_; }
  const dnnl::memory::desc& src_desc() const { return src_md_; }
  const dnnl::memory::desc& dst_desc() const { return dst_md_; }
  const dnnl::memory::desc& weights_desc() const { return wei_md_; }
  const dnnl::memory::desc& bias_desc() const { return bias_md_; }
  size_t scratchpad_bytes() const { return scratch_bytes_; }
  const dnnl::primitive& primitive() const { return prim_; }
  int rows() const { return rows_; }
  double flops_per_call() const { return 2.0 * rows_ * spec_.k * spec_.n; }

 private:
  GemmSpec spec_;
  int rows_ = kTileRows;
  dnnl::memory::desc src_md_, wei_md_, dst_md_, bias_md_;
  size_t scratch_bytes_ = 0;
  dnnl::primitive prim_;
};

// Reorders row-major PyTorch weights w[n, k] into prim.weights_desc(), owned by the result.
Result<dnnl::memory> PackWeights(const dnnl::engine& eng, const GemmPrimitive& prim,
                                 const float* w_nk);

// Per-thread execution context for one primitive: stream, scratchpad, reusable memory handles.
class GemmSlot {
 public:
  GemmSlot() = default;
  // Allocates the slot's scratchpad (at compile time, never during a run).
  static Result<GemmSlot> Create(const dnnl::engine& eng, const GemmPrimitive& prim);
  // One tile. weights/bias come from PackWeights / a bias memory; bias may be null. src holds
  // prim.rows() rows of spec().k floats (rounded to bf16 into the slot first in bf16 precision).
  Status Execute(const GemmPrimitive& prim, const float* src, const dnnl::memory& weights,
                 const dnnl::memory* bias, float* dst);

 private:
  dnnl::stream stream_;
  dnnl::memory src_, dst_, scratch_;
  // bf16 precision: src_'s own buffer (rows x k bf16, allocated by oneDNN), which every call
  // fills from the fp32 source; null in fp32, where src_ points at the caller's rows.
  uint16_t* src_bf16_ = nullptr;
};

}  // namespace lam::cpu
