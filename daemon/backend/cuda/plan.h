// SPDX-License-Identifier: MIT
// A bucket's forward pass as a plan: a list of ops over named buffers with fixed sizes and
// offsets in one float arena, built once per bucket (DESIGN.md "CUDA backend"). Two executors run
// the same plan: the CUDA executor (cuda_executor.h) captures it into one CUDA graph per bucket,
// the host executor (host_executor.h) runs it with the kernels' host bodies and a host GEMM, so
// CI checks the whole GPU forward against the CPU backend without a GPU.
//
// Sequences are packed, not padded (as on the CPU backend): sequence b owns `seg` consecutive
// rows, seg = L for F128 and BERT and the layer-padded L' for R32/R64T (their zero rows are
// materialised, lam-model.md 8b.3). What depends on the batch (row -> sequence, chunk layout,
// token ids) is in a per-run int table (lamk::PlanMeta, FillMeta) that the kernels read, so the
// ops, their buffers and their launch geometry are the same for every batch of the bucket.
//
// Includes lam_kernels.cuh (its LAM_* shape macros): keep this header out of widely included
// headers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/lam_kernels.cuh"
#include "common/status.h"
#include "engine/token_span.h"
#include "engine/weights.h"

namespace lam::cuda {

// A model tensor as the plan's ops read it: host fp32 data (the mapped checkpoint or a tensor
// PackedModel derived from it) and its element count (what the CUDA executor uploads).
struct PlanTensor {
  std::string name;
  const float* data = nullptr;
  size_t count = 0;
};

// Tensor ids (indices into PackedModel::tensors) of one LAM layer; -1 where the variant has none.
struct LamLayerIds {
  int w_in = -1;  // [kZCols, 384]: q, k, v, g, beta, fgate, sgate, fdecay, sdecay rows, zero pad
  int conv_w = -1, conv_b = -1;  // [1152, 4] and [1152]: q, k, v convs concatenated
  int fd_b = -1, fd_b2 = -1, sd_b = -1, sd_b2 = -1;
  int t1w = -1, t1b = -1, t2w = -1, t2b = -1;  // R64T token flux
  int flux_w = -1, flux_temp = -1, n1w = -1, n1b = -1, n2w = -1, n2b = -1;
  bool flux_per_head = true;
  int onorm = -1, w_o = -1;
  int ln1_w = -1, ln1_b = -1, ffn1_w = -1, ffn1_b = -1, ffn2_w = -1, ffn2_b = -1, ln2_w = -1, ln2_b = -1;
};

struct BertLayerIds {
  int w_qkv = -1, b_qkv = -1;  // [1152, 384] and [1152]: q, k, v concatenated
  int w_o = -1, b_o = -1;
  int ln1_w = -1, ln1_b = -1, ffn1_w = -1, ffn1_b = -1, ffn2_w = -1, ffn2_b = -1, ln2_w = -1, ln2_b = -1;
};

// UNSUPPORTED unless the model has the shape the plan and its kernels are specialised for
// (hidden 384, 12 heads of 32, FFN 1536). PackedModel::Create checks it; so does
// `lamd --precompile --model`.
Status CheckPlanShape(const engine::ModelConfig& config);

// The model's tensors in the form the plan's ops read them, built once per backend. Derived
// tensors (the fused projection matrices) are owned here; the rest point into `weights`, which
// must outlive this object.
class PackedModel {
 public:
  // Errors: UNSUPPORTED (a shape other than 384 / 12 x 32 / 1536, a BERT longer than 512
  // tokens), MODEL_INVALID (a tensor the family or variant needs is missing).
  static Result<std::unique_ptr<PackedModel>> Create(const engine::ModelWeights& weights);

  const engine::ModelConfig& config() const { return config_; }
  const std::vector<PlanTensor>& tensors() const { return tensors_; }
  const PlanTensor& tensor(int id) const { return tensors_[static_cast<size_t>(id)]; }
  // lamk::PlanVariant of a LAM model; -1 for BERT.
  int variant() const { return variant_; }

  int word = -1, pos = -1, type0 = -1, emb_ln_w = -1, emb_ln_b = -1;
  std::vector<LamLayerIds> lam;
  std::vector<BertLayerIds> bert;

 private:
  explicit PackedModel(const engine::ModelConfig& c) : config_(c) {}
  int Add(std::string name, const float* data, size_t count);
  int Own(std::string name, std::vector<float> data);

  engine::ModelConfig config_;
  int variant_ = -1;
  std::vector<PlanTensor> tensors_;
  std::vector<std::unique_ptr<std::vector<float>>> owned_;
};

// Named activation buffers of a plan (a buffer a family does not use has 0 floats).
enum class BufId { kX, kZ, kF, kS, kO, kTmp, kMid, kU, kWk, kPsi, kQkv, kCtx, kOut, kCount };
const char* BufName(BufId id);

struct BufferSpec {
  size_t offset = 0;  // floats from the arena start, a multiple of 64 (256 bytes)
  size_t floats = 0;
  int rows = 0;
  int cols = 0;  // row stride in floats
};

enum class OpKind {
  kEmbed,         // x <- LN(word + position + type)               row task
  kGemm,          // out[rows, n] = in[rows, k] W^T, then bias_act  (host GEMM / cuBLASLt)
  kLamFront,      // z -> f, s: conv + SiLU, norms, gates, tau       row task
  kF128Scan,      // f, s -> o                                      (chunk, head) task
  kR64TSingle,    // f, s -> o for single-chunk R64T sequences      (sequence, head) task
  kRecPrepare,    // f, s -> u, wk, psi                             (chunk, head) task
  kRecRun,        // f, s, u, wk, psi -> o                          (sequence, head) task
  kGatedRmsNorm,  // o <- rmsnorm(o) w sigmoid(g), g from z         row task
  kResidualLn,    // out <- LN(in + in2)                            row task
  kAttention,     // qkv -> ctx (BERT)                              (row, head) task
  kPool,          // x -> out: mean over real rows, L2 norm         sequence task
};
const char* OpKindName(OpKind k);

struct Op {
  OpKind kind = OpKind::kEmbed;
  int layer = -1;
  BufId in = BufId::kX, in2 = BufId::kX, out = BufId::kX;
  // kGemm: weight [n, k] row-major, optional bias [n], activation (lamk::PlanAct).
  int w = -1, bias = -1, n = 0, k = 0, act = lamk::kActNone;
  // kResidualLn: LayerNorm weights; zero_pad writes layer-padding rows as zero.
  int ln_w = -1, ln_b = -1;
  bool zero_pad = false;
  std::string Name() const;  // "L3.gemm ffn1(x -> mid)"
};

struct Plan {
  engine::Family family = engine::Family::kLam;
  int variant = -1;  // lamk::PlanVariant, -1 for BERT
  int c0 = 0;        // base chunk of the variant
  backend::Bucket bucket;
  int rows_cap = 0;    // packed rows the bucket can hold (token budget + layer padding)
  int max_seqs = 0;
  int max_chunks = 0;
  int max_len = 0;     // longest sequence the bucket can hold
  float eps = 1e-12f;  // LayerNorm epsilon
  std::array<BufferSpec, static_cast<size_t>(BufId::kCount)> buffers{};
  size_t arena_floats = 0;
  size_t meta_ints = 0;
  std::vector<Op> ops;

  const BufferSpec& buf(BufId id) const { return buffers[static_cast<size_t>(id)]; }
  lamk::PlanMeta Meta(const int* table) const {
    return lamk::PlanMeta{table, rows_cap, max_seqs, max_chunks};
  }
  // One line per op (for logs and tests).
  std::string Describe() const;
};

// What the plan's projections (kGemm ops) compute in. kFp32: fp32 inputs and accumulation, the
// exact mode. kTf32: the inputs rounded to TF32 (10-bit mantissa, cuBLASLt's
// CUBLAS_COMPUTE_32F_FAST_TF32 on tensor cores), fp32 accumulation; every other op stays fp32.
enum class GemmPrecision { kFp32, kTf32 };
const char* GemmPrecisionName(GemmPrecision p);  // "fp32" | "tf32"

// x rounded to TF32 as the tensor cores' conversion does it (cvt.rna.tf32.f32: to nearest, ties
// away from zero, 13 low mantissa bits cleared); infinities and NaNs unchanged.
inline float RoundToTf32(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof(u));
  if ((u & 0x7f800000u) == 0x7f800000u) return x;
  u = (u + 0x1000u) & 0xffffe000u;
  std::memcpy(&x, &u, sizeof(u));
  return x;
}

// Errors: INVALID_ARG (bucket out of range).
Result<Plan> BuildPlan(const PackedModel& model, const backend::Bucket& bucket);

// The per-run int table (plan.meta_ints ints) for a batch: packed rows from each sequence's own
// length, chunk layout per sequence (lam-model.md 4.1 step 7 and 8b). Errors: EMPTY_BATCH,
// INVALID_ARG (empty or too long sequence, null ids, batch larger than the bucket),
// TOKEN_OUT_OF_RANGE.
Status FillMeta(const Plan& plan, int vocab, std::span<const engine::TokenSpan> batch, int* table);

}  // namespace lam::cuda
