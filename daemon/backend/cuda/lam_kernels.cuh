// SPDX-License-Identifier: MIT
// lam_kernels.cuh: the LAM forward's small fused ops (lam-model.md §3, §4, §5), fp32.
//
// One source, two compilers:
//  * NVRTC compiles it per bucket into a cubin (nvrtc_compiler.cpp), with the shape constants
//    below passed as -D options, so loops over the hidden size, head width, FFN width and chunk
//    size are fully unrolled and per-lane rows live in registers;
//  * host C++ includes it (kernels_host.h, the tests): then only the LAMK_HD functions exist,
//    and the same bodies run on the CPU with one "lane" and an identity reduction.
// Everything between the LAMK_DEVICE_COMPILE guards is device-only. Kernels are extern "C" so
// their symbol names in the cubin are the plain names listed in kernel_names.h.
// Must stay self-contained: NVRTC sees no system headers.
#ifndef LAM_BACKEND_CUDA_LAM_KERNELS_CUH_
#define LAM_BACKEND_CUDA_LAM_KERNELS_CUH_

#if defined(__CUDACC_RTC__) || defined(__CUDACC__)
#define LAMK_DEVICE_COMPILE 1
#define LAMK_HD __host__ __device__ __forceinline__
#define LAMK_UNROLL _Pragma("unroll")
#else
#include <math.h>
#define LAMK_HD inline
#define LAMK_UNROLL
#endif

// ---- shape constants (per bucket; defaults are LAM-base-v1) -------------------------------
#ifndef LAM_HIDDEN
#define LAM_HIDDEN 384
#endif
#ifndef LAM_HEADS
#define LAM_HEADS 12
#endif
#ifndef LAM_HEAD_DIM
#define LAM_HEAD_DIM 32
#endif
#ifndef LAM_FFN
#define LAM_FFN 1536
#endif
#ifndef LAM_VOCAB
#define LAM_VOCAB 30522
#endif
#ifndef LAM_POS_ROWS
#define LAM_POS_ROWS 512
#endif
#ifndef LAM_CHUNK
#define LAM_CHUNK 128  // C0 of the delta-rule variant (F128)
#endif
#ifndef LAM_MAX_LEN
#define LAM_MAX_LEN 8192  // longest sequence in the bucket
#endif
#ifndef LAM_MAX_TOKENS
#define LAM_MAX_TOKENS 8192  // packed token capacity of the bucket
#endif
#ifndef LAM_MAX_SEQS
#define LAM_MAX_SEQS 256  // sequences per batch in the bucket
#endif

#define LAM_LN_EPS 1e-12f
#define LAM_RMS_EPS 1e-5f
#define LAM_L2_EPS 1e-12f
#define LAM_POOL_EPS 1e-9f
// Per-token scalar columns of the "gates" rows: [beta | fast gate | slow gate], HEADS each.
#define LAM_GATES (3 * LAM_HEADS)
#define LAM_QKV (3 * LAM_HIDDEN)
// Rows (tokens) handled by one block of the row kernels: one warp per row.
#define LAM_ROWS_PER_BLOCK 8

static_assert(LAM_HEADS * LAM_HEAD_DIM == LAM_HIDDEN, "heads x head_dim must equal hidden");
static_assert(LAM_HEAD_DIM == 32, "one warp lane per head channel");
static_assert(LAM_HIDDEN % 32 == 0 && LAM_FFN % 32 == 0, "rows are split across 32 lanes");
static_assert(LAM_CHUNK >= 32 && LAM_CHUNK % 32 == 0, "chunk size must be a multiple of 32");
static_assert(LAM_MAX_LEN >= 1 && LAM_MAX_TOKENS >= LAM_MAX_LEN, "bucket shape");

namespace lamk {

LAMK_HD float quiet_nan() {
#ifdef __CUDA_ARCH__
  return __int_as_float(0x7fc00000);
#else
  return NAN;
#endif
}

// ---- scalar maths (lam-model.md §1) --------------------------------------------------------
LAMK_HD float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
LAMK_HD float silu(float x) { return x * sigmoid(x); }
// Exact erf GELU.
LAMK_HD float gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.7071067811865475f)); }
// FFN activation: bias, then GELU applied twice (lam-model.md §4).
LAMK_HD float bias_gelu2(float x, float bias) { return gelu(gelu(x + bias)); }

// §3: position row(s) for token t of a sequence of length L. Above LAM_POS_ROWS rows the
// table is interpolated in float32 exactly as the package does: s = (float)(511.0 / (L-1)),
// p = t*s in float, lo = trunc(p), hi = min(lo+1, 511), w = p - lo.
LAMK_HD void pos_interp(int t, int L, int* lo, int* hi, float* w) {
  if (L <= LAM_POS_ROWS) {
    *lo = t;
    *hi = t;
    *w = 0.0f;
    return;
  }
  const float s = static_cast<float>(static_cast<double>(LAM_POS_ROWS - 1) / (L - 1));
  const float p = static_cast<float>(t) * s;
  int l = static_cast<int>(p);
  if (l > LAM_POS_ROWS - 1) l = LAM_POS_ROWS - 1;
  *lo = l;
  *hi = l + 1 < LAM_POS_ROWS - 1 ? l + 1 : LAM_POS_ROWS - 1;
  *w = p - static_cast<float>(l);
}

// §4.1 steps 1 and 7: the chunk size of a sequence of true length L with base chunk C0:
// C0 if it divides the layer-padded length L', else the whole sequence is one chunk of L'.
LAMK_HD int chunk_size(int L, int c0) {
  const int lp = (L >= 64 && L % 32 != 0) ? L + 32 - L % 32 : L;
  return (lp >= c0 && lp % c0 == 0) ? c0 : lp;
}

// ---- reductions across the lanes that share a row ----------------------------------------
// Host: one lane holds the whole row, nothing to combine.
struct SingleLane {
  LAMK_HD float operator()(float v) const { return v; }
};
#ifdef LAMK_DEVICE_COMPILE
// Device: butterfly all-reduce over a full warp; every lane gets the total.
struct WarpSum {
  __device__ __forceinline__ float operator()(float v) const {
LAMK_UNROLL
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
  }
};
#endif

// LayerNorm of a row held as kPer values per lane (lane owns columns lane + i*kLanes),
// biased variance, eps inside the square root (torch.nn.LayerNorm).
template <int kLanes, class Reduce>
LAMK_HD void layernorm_finish(const float* v, int lane, const float* w, const float* b,
                              float* out, float eps, Reduce reduce) {
  constexpr int kPer = LAM_HIDDEN / kLanes;
  float sum = 0.0f;
LAMK_UNROLL
  for (int i = 0; i < kPer; ++i) sum += v[i];
  const float mean = reduce(sum) / LAM_HIDDEN;
  float sq = 0.0f;
LAMK_UNROLL
  for (int i = 0; i < kPer; ++i) sq += (v[i] - mean) * (v[i] - mean);
  const float inv = 1.0f / sqrtf(reduce(sq) / LAM_HIDDEN + eps);
LAMK_UNROLL
  for (int i = 0; i < kPer; ++i) {
    const int c = lane + i * kLanes;
    out[c] = (v[i] - mean) * inv * w[c] + b[c];
  }
}

// (a) §3: e_t = LN(word[id] + type[0] + P_t), eps 1e-12. `out` is the token's row.
template <int kLanes, class Reduce>
LAMK_HD void embed_ln_row(int lane, int id, int t, int L, const float* word, const float* pos,
                          const float* type0, const float* ln_w, const float* ln_b, float* out,
                          Reduce reduce) {
  constexpr int kPer = LAM_HIDDEN / kLanes;
  if (id < 0 || id >= LAM_VOCAB) {  // the host validates ids; make a bad one visible, not UB
    for (int i = 0; i < kPer; ++i) out[lane + i * kLanes] = quiet_nan();
    return;
  }
  int lo = 0, hi = 0;
  float wt = 0.0f;
  pos_interp(t, L, &lo, &hi, &wt);
  float v[kPer];
LAMK_UNROLL
  for (int i = 0; i < kPer; ++i) {
    const int c = lane + i * kLanes;
    const float p = L <= LAM_POS_ROWS
                        ? pos[static_cast<long>(t) * LAM_HIDDEN + c]
                        : (1.0f - wt) * pos[lo * LAM_HIDDEN + c] + wt * pos[hi * LAM_HIDDEN + c];
    // HF BertEmbeddings order: (word + token type) + position.
    v[i] = (word[static_cast<long>(id) * LAM_HIDDEN + c] + type0[c]) + p;
  }
  layernorm_finish<kLanes>(v, lane, ln_w, ln_b, out, LAM_LN_EPS, reduce);
}

// (f) §4: out = LN(x + (delta + bias)), eps 1e-12; bias may be null (LN1 has none).
template <int kLanes, class Reduce>
LAMK_HD void residual_ln_row(int lane, const float* x, const float* delta, const float* bias,
                             const float* ln_w, const float* ln_b, float* out, Reduce reduce) {
  constexpr int kPer = LAM_HIDDEN / kLanes;
  float v[kPer];
LAMK_UNROLL
  for (int i = 0; i < kPer; ++i) {
    const int c = lane + i * kLanes;
    v[i] = x[c] + (bias != nullptr ? delta[c] + bias[c] : delta[c]);
  }
  layernorm_finish<kLanes>(v, lane, ln_w, ln_b, out, LAM_LN_EPS, reduce);
}

// (b) §4.1 steps 3-6 for token t (of L) and head h. `proj` points at the sequence's first row
// of the fused q|k|v projections ([L, 3*HIDDEN]); conv_w is [3*HIDDEN, 4] (PyTorch depthwise
// layout), conv_b [3*HIDDEN]; gate_logits is this token's [beta|fg|sg] logit row.
// Writes q/||q||, k/||k||, beta*v for the head's 32 channels, and (lane 0) the sigmoided gates.
// Rows outside [0, L) are zero (canonical: no pad token leaks into the conv's look-ahead).
template <int kLanes, class Reduce>
LAMK_HD void qkv_head(int lane, int t, int L, int h, const float* proj, const float* conv_w,
                      const float* conv_b, const float* gate_logits, float* q_out, float* k_out,
                      float* v_out, float* gates_out, Reduce reduce) {
  constexpr int kPer = LAM_HEAD_DIM / kLanes;
  float r[3][kPer];
  float sq[2] = {0.0f, 0.0f};
LAMK_UNROLL
  for (int m = 0; m < 3; ++m) {
LAMK_UNROLL
    for (int i = 0; i < kPer; ++i) {
      const int c = m * LAM_HIDDEN + h * LAM_HEAD_DIM + lane + i * kLanes;
      float acc = conv_b[c];
LAMK_UNROLL
      for (int j = 0; j < 4; ++j) {
        const int tau = t + j - 2;  // taps t-2, t-1, t, t+1
        if (tau >= 0 && tau < L) acc += conv_w[c * 4 + j] * proj[static_cast<long>(tau) * LAM_QKV + c];
      }
      r[m][i] = silu(acc);
      if (m < 2) sq[m] += r[m][i] * r[m][i];
    }
  }
  const float qn = fmaxf(sqrtf(reduce(sq[0])), LAM_L2_EPS);
  const float kn = fmaxf(sqrtf(reduce(sq[1])), LAM_L2_EPS);
  const float beta = sigmoid(gate_logits[h]);
LAMK_UNROLL
  for (int i = 0; i < kPer; ++i) {
    const int c = h * LAM_HEAD_DIM + lane + i * kLanes;
    q_out[c] = r[0][i] / qn;
    k_out[c] = r[1][i] / kn;
    v_out[c] = beta * r[2][i];
  }
  if (lane == 0) {
    gates_out[h] = beta;
    gates_out[LAM_HEADS + h] = sigmoid(gate_logits[LAM_HEADS + h]);
    gates_out[2 * LAM_HEADS + h] = sigmoid(gate_logits[2 * LAM_HEADS + h]);
  }
}

// (c) §4.6: the F128 chunk in scan form. Lane j owns column j of the four 32x32 prefix states
// G, M1, M2, M3 (G is symmetric, so G k can be formed from columns too). Per token:
//   phase 1 (all lanes, states before the update): u_j and z_j;
//   phase 2 (after z has been shared): update the states, return o_j.
struct ScanLane {
  float g[LAM_HEAD_DIM];
  float m1[LAM_HEAD_DIM];
  float m2[LAM_HEAD_DIM];
  float m3[LAM_HEAD_DIM];
};

LAMK_HD void scan_reset(ScanLane* s) {
LAMK_UNROLL
  for (int i = 0; i < LAM_HEAD_DIM; ++i) s->g[i] = s->m1[i] = s->m2[i] = s->m3[i] = 0.0f;
}

// u_j = vhat_j - beta (k^T M1)_j + beta (k^T M2)_j,  z_j = beta (G k)_j.
LAMK_HD void scan_phase1(const ScanLane& s, const float* k, float beta, float vhat_j, float* u_j,
                         float* z_j) {
  float km1 = 0.0f, km2 = 0.0f, gk = 0.0f;
LAMK_UNROLL
  for (int i = 0; i < LAM_HEAD_DIM; ++i) {
    km1 += k[i] * s.m1[i];
    km2 += k[i] * s.m2[i];
    gk += k[i] * s.g[i];
  }
  *u_j = vhat_j - beta * km1 + beta * km2;
  *z_j = beta * gk;
}

// M1 += k vhat^T; M2 += z vhat^T; G += k k^T; M3 += k u^T (column j), then
// o_j = 0.1 fg (q^T M1)_j + 0.9 sg (q^T M3)_j with the updated states.
// The state update of scan_phase2 alone; *qm1 = (q^T M1)_j and *qm3 = (q^T M3)_j afterwards.
LAMK_HD void scan_update(ScanLane* s, const float* k, const float* z, const float* q, float k_j,
                         float vhat_j, float u_j, float* qm1_out, float* qm3_out) {
  float qm1 = 0.0f, qm3 = 0.0f;
LAMK_UNROLL
  for (int i = 0; i < LAM_HEAD_DIM; ++i) {
    s->m1[i] += k[i] * vhat_j;
    s->m2[i] += z[i] * vhat_j;
    s->g[i] += k[i] * k_j;
    s->m3[i] += k[i] * u_j;
    qm1 += q[i] * s->m1[i];
    qm3 += q[i] * s->m3[i];
  }
  *qm1_out = qm1;
  *qm3_out = qm3;
}

LAMK_HD float scan_phase2(ScanLane* s, const float* k, const float* z, const float* q, float k_j,
                          float vhat_j, float u_j, float fg, float sg) {
  float qm1 = 0.0f, qm3 = 0.0f;
  scan_update(s, k, z, q, k_j, vhat_j, u_j, &qm1, &qm3);
  return 0.1f * fg * qm1 + 0.9f * sg * qm3;
}

// (d) §4.5: y = o * (mean o^2 + 1e-5)^-1/2 * w * sigmoid(g) over one head's 32 channels.
template <int kLanes, class Reduce>
LAMK_HD void gated_rmsnorm_head(int lane, const float* o, const float* g, const float* w,
                                float* out, Reduce reduce) {
  constexpr int kPer = LAM_HEAD_DIM / kLanes;
  float sq = 0.0f;
LAMK_UNROLL
  for (int i = 0; i < kPer; ++i) sq += o[lane + i * kLanes] * o[lane + i * kLanes];
  const float inv = 1.0f / sqrtf(reduce(sq) / LAM_HEAD_DIM + LAM_RMS_EPS);
LAMK_UNROLL
  for (int i = 0; i < kPer; ++i) {
    const int c = lane + i * kLanes;
    out[c] = o[c] * inv * w[c] * sigmoid(g[c]);
  }
}

// (g) §5: mean over the sequence's L rows of channel c (the mask is all ones on real rows).
LAMK_HD float mean_pool_channel(const float* y, int L, int c) {
  float acc = 0.0f;
  for (int t = 0; t < L; ++t) acc += y[static_cast<long>(t) * LAM_HIDDEN + c];
  const float denom = static_cast<float>(L) > LAM_POOL_EPS ? static_cast<float>(L) : LAM_POOL_EPS;
  return acc / denom;
}
// The factor that L2-normalises a vector whose squared norm is sumsq.
LAMK_HD float l2_scale(float sumsq) { return 1.0f / fmaxf(sqrtf(sumsq), LAM_L2_EPS); }

// ==== plan bodies: one task of a plan op (plan.h), shared by the host and CUDA executors ====
// A task is one row, one (chunk, head), one (sequence, head) or one sequence. A Team of kLanes
// lanes runs it: the host executor uses HostTeam (one lane does everything, sync is a no-op),
// the CUDA kernels a warp (WarpTeam). Each lane owns fixed columns (c = lane + i * kLanes), so a
// column's sums run in the same order on both; only the cross-lane reductions differ in order.
// Every bound comes from the run's PlanMeta table: rows, sequences and chunks past the batch are
// skipped, so one launch geometry (the bucket's capacity) serves every batch of the bucket.

// Column layouts of the LAM plan buffers (the same as the CPU backend's cpu_layout.h).
// Z: fused input projection [q | k | v | g | beta fg sg fd sd logits], padded to 1600 columns.
// q, k and v are written by the plan (plan.cpp) and read through F by the kernels.
[[maybe_unused]] constexpr int kZq = 0, kZk = 384, kZv = 768;
constexpr int kZg = 1152;
constexpr int kZbeta = 1536, kZfg = 1548, kZsg = 1560, kZfd = 1572, kZsd = 1584;
constexpr int kZCols = 1600;
// F: q/||q||, k/||k||, beta * v after the conv and SiLU.
constexpr int kFq = 0, kFk = 384, kFv = 768, kFCols = 1152;
// S: per-head scalars after their sigmoid; tau is R64T's token flux.
constexpr int kSbeta = 0, kSfg = 12, kSsg = 24, kSfd = 36, kSsd = 48, kStau = 60, kSCols = 80;
// The dense (C x C) recurrent chunk forms take chunks of at most this many rows: multi-chunk
// R32/R64T sequences have C = 32 or 64, a single R32 chunk is at most 63 rows.
constexpr int kMaxDense = 64;
// Longest BERT sequence (the position table; the BERT backend refuses longer max_tokens).
constexpr int kMaxAttnLen = 512;
// Shared scratch (floats) of the recurrent tasks and the attention task.
constexpr int kPrepareScratch = 2 * kMaxDense * kMaxDense + 2 * LAM_HEAD_DIM;
constexpr int kRunScratch = kMaxDense * kMaxDense + 2 * kMaxDense * LAM_HEAD_DIM;

enum PlanVariant { kPlanF128 = 0, kPlanR64T = 1, kPlanR32 = 2 };
enum PlanAct { kActNone = 0, kActGelu = 1, kActGelu2 = 2 };

// The per-run int table (filled by the host, plan.cpp FillMeta), read through fixed offsets:
//   [0] sequences, [1] packed rows, [2] chunks, [3] unused;
//   row_seq[rows_cap] (-1 = row unused), row_t[rows_cap], ids[rows_cap];
//   seq_row0, seq_len, seq_seg, seq_chunk, seq_nchunks, seq_chunk0 [max_seqs each];
//   chunk_seq, chunk_n [max_chunks each].
struct PlanMeta {
  const int* m;
  int rows_cap;
  int max_seqs;
  int max_chunks;

  static LAMK_HD long Ints(int rows_cap, int max_seqs, int max_chunks) {
    return 4L + 3L * rows_cap + 6L * max_seqs + 2L * max_chunks;
  }
  LAMK_HD int nseq() const { return m[0]; }
  LAMK_HD int nrows() const { return m[1]; }
  LAMK_HD int nchunks() const { return m[2]; }
  LAMK_HD int row_seq(int r) const { return m[4 + r]; }
  LAMK_HD int row_t(int r) const { return m[4 + rows_cap + r]; }
  LAMK_HD int id(int r) const { return m[4 + 2 * rows_cap + r]; }
  LAMK_HD int seq(int field, int b) const { return m[4 + 3 * rows_cap + field * max_seqs + b]; }
  LAMK_HD int seq_row0(int b) const { return seq(0, b); }
  LAMK_HD int seq_len(int b) const { return seq(1, b); }
  LAMK_HD int seq_seg(int b) const { return seq(2, b); }
  LAMK_HD int seq_chunk(int b) const { return seq(3, b); }
  LAMK_HD int seq_nchunks(int b) const { return seq(4, b); }
  LAMK_HD int seq_chunk0(int b) const { return seq(5, b); }
  LAMK_HD int chunk_seq(int c) const { return m[4 + 3 * rows_cap + 6 * max_seqs + c]; }
  LAMK_HD int chunk_n(int c) const { return m[4 + 3 * rows_cap + 6 * max_seqs + max_chunks + c]; }
};

// One lane that is the whole team (host executor).
struct HostTeam {
  static constexpr int kLanes = 1;
  int lane = 0;
  LAMK_HD float sum(float v) const { return v; }
  LAMK_HD double sum(double v) const { return v; }
  LAMK_HD float max(float v) const { return v; }
  LAMK_HD void sync() const {}
};

#ifdef LAMK_DEVICE_COMPILE
// A full warp (CUDA executor): butterfly reductions, every lane gets the result.
struct WarpTeam {
  static constexpr int kLanes = 32;
  int lane;
  __device__ __forceinline__ float sum(float v) const {
LAMK_UNROLL
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
  }
  __device__ __forceinline__ double sum(double v) const {
LAMK_UNROLL
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
  }
  __device__ __forceinline__ float max(float v) const {
LAMK_UNROLL
    for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
    return v;
  }
  __device__ __forceinline__ void sync() const { __syncwarp(); }
};
#endif

LAMK_HD float clamp01(float x) { return fminf(fmaxf(x, 0.01f), 0.99f); }

// GEMM epilogue: bias, then the activation (BERT FFN: one GELU; LAM FFN: GELU twice).
LAMK_HD float bias_act(float x, float bias, int act) {
  const float y = x + bias;
  if (act == kActGelu) return gelu(y);
  if (act == kActGelu2) return gelu(gelu(y));
  return y;
}

// LayerNorm of the row whose columns lane + i * kLanes the lane holds in v (changed in place):
// sums in double, then out = (v - mean) * inv * w + b.
template <class Team>
LAMK_HD void plan_ln_finish(const Team& tm, float* v, const float* w, const float* b, float eps,
                            float* out) {
  constexpr int kPer = LAM_HIDDEN / Team::kLanes;
  double s = 0.0;
  for (int i = 0; i < kPer; ++i) s += v[i];
  const float mean = static_cast<float>(tm.sum(s) / LAM_HIDDEN);
  double sq = 0.0;
  for (int i = 0; i < kPer; ++i) {
    v[i] -= mean;
    sq += static_cast<double>(v[i]) * v[i];
  }
  const float inv = static_cast<float>(1.0 / sqrt(tm.sum(sq) / LAM_HIDDEN + static_cast<double>(eps)));
  for (int i = 0; i < kPer; ++i) {
    const int c = tm.lane + i * Team::kLanes;
    out[c] = v[i] * inv * w[c] + b[c];
  }
}

// §3 embedding of packed row r: LN(word[id] + P_t + type[0]); P_t interpolated in float32 when
// the sequence is longer than the table. Layer-padding rows (t >= L) are zero.
template <class Team>
LAMK_HD void plan_embed_row(const Team& tm, const PlanMeta& m, int r, const float* word,
                            const float* pos, int pos_rows, const float* type0, const float* ln_w,
                            const float* ln_b, float eps, int vocab, float* x) {
  constexpr int kPer = LAM_HIDDEN / Team::kLanes;
  const int b = m.row_seq(r);
  if (b < 0) return;
  const int t = m.row_t(r);
  const int L = m.seq_len(b);
  float* out = x + static_cast<long>(r) * LAM_HIDDEN;
  const int id = m.id(r);
  if (t >= L || id < 0 || id >= vocab) {  // ids are validated on the host: NaN marks a bad one
    for (int i = 0; i < kPer; ++i) out[tm.lane + i * Team::kLanes] = t >= L ? 0.0f : quiet_nan();
    return;
  }
  int lo = t, hi = t;
  float wt = 0.0f;
  if (L > pos_rows) {
    const float sc = static_cast<float>(pos_rows - 1) / static_cast<float>(L - 1);
    const float p = static_cast<float>(t) * sc;
    lo = static_cast<int>(p);
    if (lo > pos_rows - 1) lo = pos_rows - 1;
    hi = lo + 1 < pos_rows - 1 ? lo + 1 : pos_rows - 1;
    wt = p - static_cast<float>(lo);
  }
  float v[kPer];
  for (int i = 0; i < kPer; ++i) {
    const int c = tm.lane + i * Team::kLanes;
    const float pe = L > pos_rows ? (1.0f - wt) * pos[static_cast<long>(lo) * LAM_HIDDEN + c] +
                                        wt * pos[static_cast<long>(hi) * LAM_HIDDEN + c]
                                  : pos[static_cast<long>(t) * LAM_HIDDEN + c];
    v[i] = word[static_cast<long>(id) * LAM_HIDDEN + c] + pe + type0[c];
  }
  plan_ln_finish(tm, v, ln_w, ln_b, eps, out);
}

// §4.1 steps 3-6 for packed row r: conv taps t-2..t+1 inside the sequence's own rows [0, seg)
// (+ bias, SiLU), q and k L2-normalised per head, v <- beta v, the sigmoid scalars, and R64T's
// token flux tau. conv_w is [3 * HIDDEN][4] (PyTorch depthwise layout), conv_b [3 * HIDDEN].
template <class Team>
LAMK_HD void plan_front_row(const Team& tm, const PlanMeta& m, int r, int variant, const float* z,
                            const float* conv_w, const float* conv_b, const float* fd_b,
                            const float* fd_b2, const float* sd_b, const float* sd_b2,
                            const float* t1w, const float* t1b, const float* t2w,
                            const float* t2b, float* f, float* s) {
  constexpr int kPer = LAM_HEAD_DIM / Team::kLanes;
  const int b = m.row_seq(r);
  if (b < 0) return;
  const int t = m.row_t(r);
  const int seg = m.seq_seg(b);
  const long row0 = m.seq_row0(b);
  const float* zr = z + static_cast<long>(r) * kZCols;
  float* fr = f + static_cast<long>(r) * kFCols;
  float* sr = s + static_cast<long>(r) * kSCols;
  for (int h = 0; h < LAM_HEADS; ++h) {
    float act[3][kPer];
    double sq[2] = {0.0, 0.0};
    for (int part = 0; part < 3; ++part) {
      for (int i = 0; i < kPer; ++i) {
        const int ch = part * LAM_HIDDEN + h * LAM_HEAD_DIM + tm.lane + i * Team::kLanes;
        float acc = conv_b[ch];
        for (int j = 0; j < 4; ++j) {
          const int tau = t + j - 2;
          if (tau >= 0 && tau < seg) acc += conv_w[ch * 4 + j] * z[(row0 + tau) * kZCols + ch];
        }
        act[part][i] = silu(acc);
        if (part < 2) sq[part] += static_cast<double>(act[part][i]) * act[part][i];
      }
    }
    const float qn = fmaxf(static_cast<float>(sqrt(tm.sum(sq[0]))), LAM_L2_EPS);
    const float kn = fmaxf(static_cast<float>(sqrt(tm.sum(sq[1]))), LAM_L2_EPS);
    const float beta = sigmoid(zr[kZbeta + h]);
    float kb[kPer], vh[kPer];
    for (int i = 0; i < kPer; ++i) {
      const int c = h * LAM_HEAD_DIM + tm.lane + i * Team::kLanes;
      const float k = act[1][i] / kn;
      fr[kFq + c] = act[0][i] / qn;
      fr[kFk + c] = k;
      vh[i] = beta * act[2][i];
      fr[kFv + c] = vh[i];
      kb[i] = k * beta;
    }
    if (tm.lane == 0) {
      sr[kSbeta + h] = beta;
      sr[kSfg + h] = sigmoid(zr[kZfg + h]);
      sr[kSsg + h] = sigmoid(zr[kZsg + h]);
      if (variant != kPlanF128) {
        sr[kSfd + h] = sigmoid(zr[kZfd + h] + fd_b[h] + fd_b2[h]);
        sr[kSsd + h] = sigmoid(zr[kZsd + h] + sd_b[h] + sd_b2[h]);
      }
    }
    if (variant == kPlanR64T) {
      // tau = clamp(sigmoid(w2 . silu(W1 [k^beta; vhat] + b1) + b2)), W1 [16][64].
      float out = t2b[0];
      for (int o = 0; o < 16; ++o) {
        float pk = 0.0f, pv = 0.0f;
        for (int i = 0; i < kPer; ++i) {
          const int d = tm.lane + i * Team::kLanes;
          pk += t1w[o * 64 + d] * kb[i];
          pv += t1w[o * 64 + LAM_HEAD_DIM + d] * vh[i];
        }
        const float hs = t1b[o] + tm.sum(pk) + tm.sum(pv);
        out += t2w[o] * silu(hs);
      }
      if (tm.lane == 0) sr[kStau + h] = clamp01(sigmoid(out));
    }
  }
}

// §4.5 gated RMSNorm of packed row r, in place on o; g is the row's Z (gate logits at kZg).
template <class Team>
LAMK_HD void plan_gated_rmsnorm_row(const Team& tm, const PlanMeta& m, int r, const float* z,
                                    const float* norm_w, float* o) {
  constexpr int kPer = LAM_HEAD_DIM / Team::kLanes;
  if (m.row_seq(r) < 0) return;
  float* orow = o + static_cast<long>(r) * LAM_HIDDEN;
  const float* g = z + static_cast<long>(r) * kZCols + kZg;
  for (int h = 0; h < LAM_HEADS; ++h) {
    double sq = 0.0;
    for (int i = 0; i < kPer; ++i) {
      const float v = orow[h * LAM_HEAD_DIM + tm.lane + i * Team::kLanes];
      sq += static_cast<double>(v) * v;
    }
    const float rr = static_cast<float>(1.0 / sqrt(tm.sum(sq) / LAM_HEAD_DIM + 1e-5));
    for (int i = 0; i < kPer; ++i) {
      const int d = tm.lane + i * Team::kLanes;
      const int c = h * LAM_HEAD_DIM + d;
      orow[c] = orow[c] * rr * norm_w[d] * sigmoid(g[c]);
    }
  }
}

// out = LN(x + delta) for packed row r (out may be x). zero_pad: layer-padding rows (t >= L)
// are written as zero instead (§8b.3: they enter the next layer as x = 0).
template <class Team>
LAMK_HD void plan_residual_ln_row(const Team& tm, const PlanMeta& m, int r, const float* x,
                                  const float* delta, const float* ln_w, const float* ln_b,
                                  float eps, int zero_pad, float* out) {
  constexpr int kPer = LAM_HIDDEN / Team::kLanes;
  const int b = m.row_seq(r);
  if (b < 0) return;
  const long at = static_cast<long>(r) * LAM_HIDDEN;
  if (zero_pad && m.row_t(r) >= m.seq_len(b)) {
    for (int i = 0; i < kPer; ++i) out[at + tm.lane + i * Team::kLanes] = 0.0f;
    return;
  }
  float v[kPer];
  for (int i = 0; i < kPer; ++i) {
    const int c = tm.lane + i * Team::kLanes;
    v[i] = x[at + c] + delta[at + c];
  }
  plan_ln_finish(tm, v, ln_w, ln_b, eps, out + at);
}

// The §4.6 scan over rows [row_begin, row_begin + len) for head h (states reset at the start).
// mode kPlanF128: o = 0.1 fg (q^T M1) + 0.9 sg (q^T M3); mode kPlanR64T (a single R64T chunk,
// no state, psi unused): o = alpha_t fg (P u) + (1 - alpha_t) sg (P u), alpha_t = 0.5 + 0.3 tau.
// sh: 3 * HEAD_DIM floats shared by the team.
template <class Team>
LAMK_HD void plan_scan(const Team& tm, int mode, const float* f, const float* s, long row_begin,
                       int len, int h, float* sh, float* o) {
  constexpr int kPer = LAM_HEAD_DIM / Team::kLanes;
  float* sk = sh;
  float* sq = sh + LAM_HEAD_DIM;
  float* sz = sh + 2 * LAM_HEAD_DIM;
  ScanLane st[kPer];
  for (int i = 0; i < kPer; ++i) scan_reset(&st[i]);
  for (int t = 0; t < len; ++t) {
    const long row = row_begin + t;
    const float* fr = f + row * kFCols + h * LAM_HEAD_DIM;
    const float* sr = s + row * kSCols;
    for (int i = 0; i < kPer; ++i) {
      const int j = tm.lane + i * Team::kLanes;
      sk[j] = fr[kFk + j];
      sq[j] = fr[kFq + j];
    }
    tm.sync();
    const float beta = sr[kSbeta + h], fg = sr[kSfg + h], sg = sr[kSsg + h];
    float u[kPer], zz[kPer];
    for (int i = 0; i < kPer; ++i) {
      const int j = tm.lane + i * Team::kLanes;
      scan_phase1(st[i], sk, beta, fr[kFv + j], &u[i], &zz[i]);
      sz[j] = zz[i];
    }
    tm.sync();
    for (int i = 0; i < kPer; ++i) {
      const int j = tm.lane + i * Team::kLanes;
      float qm1 = 0.0f, qm3 = 0.0f;
      scan_update(&st[i], sk, sz, sq, sk[j], fr[kFv + j], u[i], &qm1, &qm3);
      float out;
      if (mode == kPlanF128) {
        out = 0.1f * fg * qm1 + 0.9f * sg * qm3;
      } else {
        const float alpha = 0.5f + 0.3f * sr[kStau + h];
        out = alpha * (fg * qm3) + (1.0f - alpha) * (sg * qm3);
      }
      o[row * LAM_HIDDEN + h * LAM_HEAD_DIM + j] = out;
    }
    tm.sync();  // sk, sq, sz are rewritten by the next token
  }
}

// F128 chunk c (batch-wide chunk index), head h.
template <class Team>
LAMK_HD void plan_f128_chunk(const Team& tm, const PlanMeta& m, int c, int h, const float* f,
                             const float* s, float* sh, float* o) {
  if (c >= m.nchunks()) return;
  const int b = m.chunk_seq(c), n = m.chunk_n(c);
  const int C = m.seq_chunk(b), seg = m.seq_seg(b);
  const int begin = n * C;
  const int len = C < seg - begin ? C : seg - begin;
  plan_scan(tm, kPlanF128, f, s, static_cast<long>(m.seq_row0(b)) + begin, len, h, sh, o);
}

// R64T sequence b whose layer-padded length is one chunk: the scan form, head h.
template <class Team>
LAMK_HD void plan_r64t_single(const Team& tm, const PlanMeta& m, int b, int h, const float* f,
                              const float* s, float* sh, float* o) {
  if (b >= m.nseq() || m.seq_nchunks(b) != 1) return;
  plan_scan(tm, kPlanR64T, f, s, m.seq_row0(b), m.seq_seg(b), h, sh, o);
}

// §4.3/§4.4 per (chunk c, head h) of R32/R64T: T = I + A + SL(A A^T) as written, u = T vhat,
// w = T k^beta into u/wk, and psi (flux net of the chunk means and the bilinear term) into
// psi[c * HEADS + h]. Single-chunk R64T sequences are left to plan_r64t_single.
// sh: kPrepareScratch floats shared by the team.
template <class Team>
LAMK_HD void plan_recurrent_prepare(const Team& tm, const PlanMeta& m, int c, int h, int variant,
                                    const float* f, const float* s, const float* flux_w,
                                    int flux_per_head, const float* temp, const float* n1w,
                                    const float* n1b, const float* n2w, const float* n2b,
                                    float* sh, float* u, float* wk, float* psi) {
  constexpr int kPer = LAM_HEAD_DIM / Team::kLanes;
  constexpr int D = LAM_HEAD_DIM;
  if (c >= m.nchunks()) return;
  const int b = m.chunk_seq(c), n = m.chunk_n(c);
  const int nch = m.seq_nchunks(b);
  if (variant == kPlanR64T && nch == 1) return;
  const int C = m.seq_chunk(b);
  if (C > kMaxDense) return;  // never: the plan's chunk rule bounds C (checked on the host)
  const long r0 = static_cast<long>(m.seq_row0(b)) + static_cast<long>(n) * C;
  float* A = sh;
  float* T = sh + kMaxDense * kMaxDense;
  float* means = sh + 2 * kMaxDense * kMaxDense;  // mk [D], mu [D]
  auto K = [&](int i) { return f + (r0 + i) * kFCols + kFk + h * D; };
  auto V = [&](int i) { return f + (r0 + i) * kFCols + kFv + h * D; };
  auto Beta = [&](int i) { return s[(r0 + i) * kSCols + kSbeta + h]; };
  // A[i][j] = -(k^beta_i . k_j), j < i.
  for (int x = tm.lane; x < C * C; x += Team::kLanes) {
    const int i = x / C, j = x % C;
    if (j >= i) continue;
    const float bi = Beta(i);
    const float* ki = K(i);
    const float* kj = K(j);
    float acc = 0.0f;
    for (int d = 0; d < D; ++d) acc += (ki[d] * bi) * kj[d];
    A[i * kMaxDense + j] = -acc;
  }
  tm.sync();
  // T[i][j] = A[i][j] + sum_{m < j} A[i][m] A[j][m] (j < i), T[i][i] = 1.
  for (int x = tm.lane; x < C * C; x += Team::kLanes) {
    const int i = x / C, j = x % C;
    if (j > i) continue;
    if (j == i) {
      T[i * kMaxDense + j] = 1.0f;
      continue;
    }
    float acc = 0.0f;
    for (int mm = 0; mm < j; ++mm) acc += A[i * kMaxDense + mm] * A[j * kMaxDense + mm];
    T[i * kMaxDense + j] = A[i * kMaxDense + j] + acc;
  }
  tm.sync();
  const float* wh = flux_w + (flux_per_head ? h * D * D : 0);
  float mk[kPer], mu[kPer];
  for (int i = 0; i < kPer; ++i) mk[i] = mu[i] = 0.0f;
  double a_sum = 0.0;  // R64T: sum over tokens of k_i^T W_h u_i
  for (int i = 0; i < C; ++i) {
    float tok = 0.0f;
    for (int e = 0; e < kPer; ++e) {
      const int d = tm.lane + e * Team::kLanes;
      float ui = 0.0f, wi = 0.0f;
      for (int j = 0; j <= i; ++j) {
        const float tij = T[i * kMaxDense + j];
        ui += tij * V(j)[d];
        wi += tij * (K(j)[d] * Beta(j));
      }
      u[(r0 + i) * LAM_HIDDEN + h * D + d] = ui;
      wk[(r0 + i) * LAM_HIDDEN + h * D + d] = wi;
      mk[e] += K(i)[d];
      mu[e] += ui;
      if (variant == kPlanR64T) {
        float kw = 0.0f;
        for (int a = 0; a < D; ++a) kw += K(i)[a] * wh[a * D + d];
        tok += kw * ui;
      }
    }
    if (variant == kPlanR64T) a_sum += static_cast<double>(tm.sum(tok));
  }
  const float inv_c = 1.0f / static_cast<float>(C);
  for (int e = 0; e < kPer; ++e) {
    const int d = tm.lane + e * Team::kLanes;
    means[d] = mk[e] * inv_c;
    means[D + d] = mu[e] * inv_c;
  }
  tm.sync();
  if (tm.lane == 0) {
    float a;
    if (variant == kPlanR64T) {
      a = static_cast<float>(a_sum / C) / temp[h];
    } else {
      // R32: bilinear form of the means with the shared W; temperature index quirk (§4.3).
      float acc = 0.0f;
      for (int d = 0; d < D; ++d) {
        float kw = 0.0f;
        for (int x = 0; x < D; ++x) kw += means[x] * wh[x * D + d];
        acc += kw * means[D + d];
      }
      a = acc / temp[(h * nch + n) % LAM_HEADS];
    }
    float out = n2b[0];
    for (int o = 0; o < 16; ++o) {
      float hsum = n1b[o];
      for (int i = 0; i < 2 * D; ++i) hsum += n1w[o * 65 + i] * means[i];
      hsum += n1w[o * 65 + 64] * a;
      out += n2w[o] * silu(hsum);
    }
    psi[static_cast<long>(c) * LAM_HEADS + h] = clamp01(sigmoid(out));
  }
  tm.sync();  // the team's scratch is reused by its next task
}

// §4.3 steps 1-7 for sequence b, head h: the chunk recurrence over the fast and slow states.
// Lane owns columns d of S_f and S_s. Cross coupling c from this sequence's own heads (§8a).
// sh: kRunScratch floats shared by the team.
template <class Team>
LAMK_HD void plan_recurrent_run(const Team& tm, const PlanMeta& m, int b, int h, int variant,
                                const float* f, const float* s, const float* u, const float* wk,
                                const float* psi, float* sh, float* o) {
  constexpr int kPer = LAM_HEAD_DIM / Team::kLanes;
  constexpr int D = LAM_HEAD_DIM;
  if (b >= m.nseq()) return;
  const int nch = m.seq_nchunks(b);
  if (variant == kPlanR64T && nch == 1) return;
  const int C = m.seq_chunk(b);
  if (C > kMaxDense) return;
  const long row0 = m.seq_row0(b);
  const int chunk0 = m.seq_chunk0(b);
  float* P = sh;
  float* UF = sh + kMaxDense * kMaxDense;
  float* US = UF + kMaxDense * D;
  float sf[kPer][D], ss[kPer][D];  // sf[e][a] = S_f[a][lane + e * kLanes]
  for (int e = 0; e < kPer; ++e) {
    for (int a = 0; a < D; ++a) sf[e][a] = ss[e][a] = 0.0f;
  }
  auto frob = [&](float (*mat)[D]) {
    double acc = 0.0;
    for (int e = 0; e < kPer; ++e) {
      for (int a = 0; a < D; ++a) acc += static_cast<double>(mat[e][a]) * mat[e][a];
    }
    return static_cast<float>(sqrt(tm.sum(acc)));
  };
  for (int n = 0; n < nch; ++n) {
    const long r0 = row0 + static_cast<long>(n) * C;
    const int ci = chunk0 + n;
    const float ps = psi[static_cast<long>(ci) * LAM_HEADS + h];
    double psum = 0.0;
    for (int hh = 0; hh < LAM_HEADS; ++hh) psum += psi[static_cast<long>(ci) * LAM_HEADS + hh];
    const float cr = static_cast<float>(0.05 + 0.1 * (psum / LAM_HEADS));
    float sum_fd = 0.0f, sum_sd = 0.0f;
    for (int i = 0; i < C; ++i) {
      sum_fd += s[(r0 + i) * kSCols + kSfd + h];
      sum_sd += s[(r0 + i) * kSCols + kSsd + h];
    }
    const float gf = (sum_fd / static_cast<float>(C)) * (1.0f - 0.1f * ps);
    const float gs = (sum_sd / static_cast<float>(C)) * (1.0f - 0.05f * ps);
    for (int e = 0; e < kPer; ++e) {
      for (int a = 0; a < D; ++a) {
        sf[e][a] *= gf;
        ss[e][a] *= gs;
      }
    }
    const float nf = frob(sf) + 1e-8f, ns = frob(ss) + 1e-8f;
    // P[i][j] = q_i . k_j (j <= i).
    for (int x = tm.lane; x < C * C; x += Team::kLanes) {
      const int i = x / C, j = x % C;
      if (j > i) continue;
      const float* q = f + (r0 + i) * kFCols + kFq + h * D;
      const float* k = f + (r0 + j) * kFCols + kFk + h * D;
      float acc = 0.0f;
      for (int d = 0; d < D; ++d) acc += q[d] * k[d];
      P[i * kMaxDense + j] = acc;
    }
    // U = u - w R, R = S / (||S|| + 1e-8).
    for (int i = 0; i < C; ++i) {
      const float* wi = wk + (r0 + i) * LAM_HIDDEN + h * D;
      for (int e = 0; e < kPer; ++e) {
        const int d = tm.lane + e * Team::kLanes;
        float wf = 0.0f, ws = 0.0f;
        for (int a = 0; a < D; ++a) {
          wf += wi[a] * (sf[e][a] / nf);
          ws += wi[a] * (ss[e][a] / ns);
        }
        const float ui = u[(r0 + i) * LAM_HIDDEN + h * D + d];
        UF[i * D + d] = ui - wf;
        US[i * D + d] = ui - ws;
      }
    }
    tm.sync();
    // O = gate (q R + P U), blended with alpha.
    for (int i = 0; i < C; ++i) {
      const float* q = f + (r0 + i) * kFCols + kFq + h * D;
      const float* sr = s + (r0 + i) * kSCols;
      const float fg = sr[kSfg + h], sg = sr[kSsg + h];
      const float alpha = 0.5f + 0.3f * (variant == kPlanR64T ? sr[kStau + h] : ps);
      for (int e = 0; e < kPer; ++e) {
        const int d = tm.lane + e * Team::kLanes;
        float of = 0.0f, os = 0.0f, pf = 0.0f, pss = 0.0f;
        for (int a = 0; a < D; ++a) {
          of += q[a] * (sf[e][a] / nf);
          os += q[a] * (ss[e][a] / ns);
        }
        for (int j = 0; j <= i; ++j) {
          const float p = P[i * kMaxDense + j];
          pf += p * UF[j * D + d];
          pss += p * US[j * D + d];
        }
        const float vf = fg * (of + pf);
        const float vs = sg * (os + pss);
        o[(r0 + i) * LAM_HIDDEN + h * D + d] = alpha * vf + (1.0f - alpha) * vs;
      }
    }
    // S += k^T U (decayed, unnormalised S), cross coupling, renormalisation.
    for (int i = 0; i < C; ++i) {
      const float* k = f + (r0 + i) * kFCols + kFk + h * D;
      for (int e = 0; e < kPer; ++e) {
        const int d = tm.lane + e * Team::kLanes;
        const float uf = UF[i * D + d], us = US[i * D + d];
        for (int a = 0; a < D; ++a) {
          sf[e][a] += k[a] * uf;
          ss[e][a] += k[a] * us;
        }
      }
    }
    const float cf = cr * ps, cs = cr * (1.0f - ps);
    for (int e = 0; e < kPer; ++e) {
      for (int a = 0; a < D; ++a) {
        const float xf = sf[e][a] + cf * ss[e][a];
        const float xs = ss[e][a] + cs * sf[e][a];
        sf[e][a] = xf;
        ss[e][a] = xs;
      }
    }
    const float mf = frob(sf) + 1e-8f, ms = frob(ss) + 1e-8f;
    for (int e = 0; e < kPer; ++e) {
      for (int a = 0; a < D; ++a) {
        sf[e][a] /= mf;
        ss[e][a] /= ms;
      }
    }
    tm.sync();  // P, UF, US are rewritten by the next chunk
  }
}

// BERT softmax attention for query row r, head h over its sequence's own rows (the padding
// mask without padding). qkv rows: [q | k | v] with biases; scores: >= L floats of team scratch.
template <class Team>
LAMK_HD void plan_attention_row(const Team& tm, const PlanMeta& m, int r, int h, const float* qkv,
                                float* scores, float* ctx) {
  constexpr int kPer = LAM_HEAD_DIM / Team::kLanes;
  constexpr int D = LAM_HEAD_DIM;
  const int b = m.row_seq(r);
  if (b < 0) return;
  const int L = m.seq_len(b);
  if (L > kMaxAttnLen) return;  // refused on the host
  const long row0 = m.seq_row0(b);
  const float* q = qkv + static_cast<long>(r) * LAM_QKV + h * D;
  const float kScale = 0.17677669529663688f;  // 1 / sqrt(32), folded into the query
  float mx = -3.402823466e38f;
  for (int j = tm.lane; j < L; j += Team::kLanes) {
    const float* k = qkv + (row0 + j) * LAM_QKV + LAM_HIDDEN + h * D;
    float acc = 0.0f;
    for (int d = 0; d < D; ++d) acc += (q[d] * kScale) * k[d];
    scores[j] = acc;
    mx = fmaxf(mx, acc);
  }
  mx = tm.max(mx);
  double part = 0.0;
  for (int j = tm.lane; j < L; j += Team::kLanes) {
    const float e = expf(scores[j] - mx);
    scores[j] = e;
    part += e;
  }
  const float inv = static_cast<float>(1.0 / tm.sum(part));
  tm.sync();
  for (int e = 0; e < kPer; ++e) {
    const int d = tm.lane + e * Team::kLanes;
    float acc = 0.0f;
    for (int j = 0; j < L; ++j) acc += scores[j] * qkv[(row0 + j) * LAM_QKV + 2 * LAM_HIDDEN + h * D + d];
    ctx[static_cast<long>(r) * LAM_HIDDEN + h * D + d] = acc * inv;
  }
  tm.sync();  // scores are rewritten by the team's next task
}

// §5 for sequence b: mean of its L real rows (double sums), then L2 normalisation.
template <class Team>
LAMK_HD void plan_pool_seq(const Team& tm, const PlanMeta& m, int b, const float* x, float* out) {
  constexpr int kPer = LAM_HIDDEN / Team::kLanes;
  if (b >= m.nseq()) return;
  const int L = m.seq_len(b);
  const long row0 = m.seq_row0(b);
  double acc[kPer];
  for (int i = 0; i < kPer; ++i) acc[i] = 0.0;
  for (int t = 0; t < L; ++t) {
    for (int i = 0; i < kPer; ++i) acc[i] += x[(row0 + t) * LAM_HIDDEN + tm.lane + i * Team::kLanes];
  }
  const double denom = static_cast<double>(L) > 1e-9 ? static_cast<double>(L) : 1e-9;
  double n2 = 0.0;
  for (int i = 0; i < kPer; ++i) {
    acc[i] /= denom;
    n2 += acc[i] * acc[i];
  }
  const double nrm = sqrt(tm.sum(n2));
  const double inv = 1.0 / (nrm > 1e-12 ? nrm : 1e-12);
  for (int i = 0; i < kPer; ++i) {
    out[static_cast<long>(b) * LAM_HIDDEN + tm.lane + i * Team::kLanes] = static_cast<float>(acc[i] * inv);
  }
}

}  // namespace lamk

#ifdef LAMK_DEVICE_COMPILE
// ================================ device kernels =========================================
// Common arguments: sequence b owns rows [seq_start[b], seq_start[b] + seq_len[b]) of every
// [rows, width] activation. Packed buckets pass prefix sums of the true lengths; padded buckets
// pass b * max_len. Rows past a sequence's true length are never read or written.
// Row kernels: grid (ceil(max len / LAM_ROWS_PER_BLOCK), n_seqs), block 32 x LAM_ROWS_PER_BLOCK.

#define LAMK_ROW_PROLOGUE                                                            \
  const int b = blockIdx.y;                                                          \
  if (b >= n_seqs || b >= LAM_MAX_SEQS) return;                                      \
  const int L = seq_len[b];                                                          \
  const int t = blockIdx.x * LAM_ROWS_PER_BLOCK + threadIdx.y;                       \
  if (L > LAM_MAX_LEN || t >= L || seq_start[b] + L > LAM_MAX_TOKENS) return;        \
  const long row = static_cast<long>(seq_start[b]) + t;                              \
  const int lane = threadIdx.x;

// (a) embedding gather + position (interpolated above LAM_POS_ROWS) + LayerNorm.
extern "C" __global__ void __launch_bounds__(32 * LAM_ROWS_PER_BLOCK)
    lam_embed_ln(const int* __restrict__ ids, const int* __restrict__ seq_start,
                 const int* __restrict__ seq_len, int n_seqs, const float* __restrict__ word,
                 const float* __restrict__ pos, const float* __restrict__ type0,
                 const float* __restrict__ ln_w, const float* __restrict__ ln_b,
                 float* __restrict__ out) {
  LAMK_ROW_PROLOGUE
  lamk::embed_ln_row<32>(lane, ids[row], t, L, word, pos, type0, ln_w, ln_b,
                         out + row * LAM_HIDDEN, lamk::WarpSum());
}

// (b) depthwise conv (taps t-2..t+1) + SiLU for q, k, v; per-head L2 norm of q and k;
// v <- beta * v; gates <- sigmoid(beta | fg | sg logits). One warp per (token, head);
// grid (ceil(max len / LAM_ROWS_PER_BLOCK), n_seqs), block 32 x LAM_ROWS_PER_BLOCK.
extern "C" __global__ void __launch_bounds__(32 * LAM_ROWS_PER_BLOCK)
    lam_qkv_conv(const float* __restrict__ proj, const float* __restrict__ gate_logits,
                 const int* __restrict__ seq_start, const int* __restrict__ seq_len, int n_seqs,
                 const float* __restrict__ conv_w, const float* __restrict__ conv_b,
                 float* __restrict__ q, float* __restrict__ k, float* __restrict__ v,
                 float* __restrict__ gates) {
  LAMK_ROW_PROLOGUE
  const float* seq_proj = proj + static_cast<long>(seq_start[b]) * LAM_QKV;
#pragma unroll 1
  for (int h = 0; h < LAM_HEADS; ++h) {
    lamk::qkv_head<32>(lane, t, L, h, seq_proj, conv_w, conv_b, gate_logits + row * LAM_GATES,
                       q + row * LAM_HIDDEN, k + row * LAM_HIDDEN, v + row * LAM_HIDDEN,
                       gates + row * LAM_GATES, lamk::WarpSum());
  }
}

// (c) F128 scan: one warp per (chunk, head, sequence); grid (max chunks, HEADS, n_seqs),
// block 32. States reset at each chunk start (§4.1 step 7 from the sequence's own length).
extern "C" __global__ void __launch_bounds__(32)
    lam_f128_scan(const float* __restrict__ q, const float* __restrict__ k,
                  const float* __restrict__ vhat, const float* __restrict__ gates,
                  const int* __restrict__ seq_start, const int* __restrict__ seq_len, int n_seqs,
                  float* __restrict__ o) {
  const int b = blockIdx.z;
  const int h = blockIdx.y;
  if (b >= n_seqs || b >= LAM_MAX_SEQS) return;
  const int L = seq_len[b];
  if (L > LAM_MAX_LEN || seq_start[b] + L > LAM_MAX_TOKENS) return;
  const int c = lamk::chunk_size(L, LAM_CHUNK);
  const int begin = blockIdx.x * c;
  if (begin >= L) return;
  const int end = begin + c < L ? begin + c : L;  // causal: rows past L never influence rows < L
  const int j = threadIdx.x;
  __shared__ float sk[LAM_HEAD_DIM], sq[LAM_HEAD_DIM], sz[LAM_HEAD_DIM];
  lamk::ScanLane state;
  lamk::scan_reset(&state);
  for (int t = begin; t < end; ++t) {
    const long row = static_cast<long>(seq_start[b]) + t;
    const long at = row * LAM_HIDDEN + h * LAM_HEAD_DIM + j;
    const float kj = k[at], vj = vhat[at];
    const float beta = gates[row * LAM_GATES + h];
    const float fg = gates[row * LAM_GATES + LAM_HEADS + h];
    const float sg = gates[row * LAM_GATES + 2 * LAM_HEADS + h];
    sk[j] = kj;
    sq[j] = q[at];
    __syncwarp();
    float u = 0.0f, z = 0.0f;
    lamk::scan_phase1(state, sk, beta, vj, &u, &z);
    sz[j] = z;
    __syncwarp();
    o[at] = lamk::scan_phase2(&state, sk, sz, sq, kj, vj, u, fg, sg);
    __syncwarp();  // sk/sq/sz are rewritten by the next token
  }
}

// (d) gated RMSNorm per (token, head): one warp per token, looping over heads.
extern "C" __global__ void __launch_bounds__(32 * LAM_ROWS_PER_BLOCK)
    lam_gated_rmsnorm(const float* __restrict__ o, const float* __restrict__ g,
                      const int* __restrict__ seq_start, const int* __restrict__ seq_len,
                      int n_seqs, const float* __restrict__ norm_w, float* __restrict__ out) {
  LAMK_ROW_PROLOGUE
#pragma unroll 1
  for (int h = 0; h < LAM_HEADS; ++h) {
    const long at = row * LAM_HIDDEN + h * LAM_HEAD_DIM;
    lamk::gated_rmsnorm_head<32>(lane, o + at, g + at, norm_w, out + at, lamk::WarpSum());
  }
}

// (e) FFN activation: out = GELU(GELU(x + b)) over n_rows x LAM_FFN, grid-stride, in place OK.
extern "C" __global__ void lam_bias_gelu2(const float* x, const float* __restrict__ bias,
                                          int n_rows, float* out) {
  const long n = static_cast<long>(n_rows < LAM_MAX_TOKENS ? n_rows : LAM_MAX_TOKENS) * LAM_FFN;
  for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long>(gridDim.x) * blockDim.x) {
    out[i] = lamk::bias_gelu2(x[i], bias[i % LAM_FFN]);
  }
}

// (f) residual + LayerNorm: out = LN(x + delta + bias); bias may be null. In place OK (out==x).
extern "C" __global__ void __launch_bounds__(32 * LAM_ROWS_PER_BLOCK)
    lam_residual_ln(const float* x, const float* __restrict__ delta,
                    const float* __restrict__ bias, const int* __restrict__ seq_start,
                    const int* __restrict__ seq_len, int n_seqs, const float* __restrict__ ln_w,
                    const float* __restrict__ ln_b, float* out) {
  LAMK_ROW_PROLOGUE
  lamk::residual_ln_row<32>(lane, x + row * LAM_HIDDEN, delta + row * LAM_HIDDEN, bias, ln_w,
                            ln_b, out + row * LAM_HIDDEN, lamk::WarpSum());
}

// (g) masked mean pooling + L2 norm: one block of LAM_HIDDEN threads per sequence.
extern "C" __global__ void __launch_bounds__(LAM_HIDDEN)
    lam_mean_pool_l2(const float* __restrict__ y, const int* __restrict__ seq_start,
                     const int* __restrict__ seq_len, int n_seqs, float* __restrict__ out) {
  const int b = blockIdx.x;
  if (b >= n_seqs || b >= LAM_MAX_SEQS) return;
  const int L = seq_len[b];
  const int c = threadIdx.x;
  __shared__ float partial[LAM_HIDDEN / 32];
  const bool valid = L <= LAM_MAX_LEN && seq_start[b] + L <= LAM_MAX_TOKENS;
  const float e =
      valid ? lamk::mean_pool_channel(y + static_cast<long>(seq_start[b]) * LAM_HIDDEN, L, c) : 0.0f;
  const float w = lamk::WarpSum()(e * e);
  if ((c & 31) == 0) partial[c >> 5] = w;
  __syncthreads();
  float total = 0.0f;
#pragma unroll
  for (int i = 0; i < LAM_HIDDEN / 32; ++i) total += partial[i];
  out[static_cast<long>(b) * LAM_HIDDEN + c] = valid ? e * lamk::l2_scale(total) : lamk::quiet_nan();
}

#undef LAMK_ROW_PROLOGUE

// ================================ plan kernels ===========================================
// One launch geometry per bucket (captured in its CUDA graph); every kernel skips the rows,
// chunks and sequences the run's PlanMeta does not use. A warp is one team (lamk::WarpTeam).
//   row kernels:            grid ceil(rows_cap / LAM_ROWS_PER_BLOCK), block 32 x LAM_ROWS_PER_BLOCK
//   (chunk, head) kernels:  grid (max_chunks, HEADS), block 32
//   (sequence, head):       grid (max_seqs, HEADS), block 32
//   attention:              grid (ceil(rows_cap / 4), HEADS), block 32 x 4
//   pool:                   grid max_seqs, block 32
//   bias/activation:        grid-stride over nrows x n
#define LAMP_ROW                                                       \
  const int r = blockIdx.x * LAM_ROWS_PER_BLOCK + threadIdx.y;         \
  if (r >= m.rows_cap) return;                                         \
  const lamk::WarpTeam tm{static_cast<int>(threadIdx.x)};

extern "C" __global__ void __launch_bounds__(32 * LAM_ROWS_PER_BLOCK)
    lam_plan_embed(lamk::PlanMeta m, const float* __restrict__ word, const float* __restrict__ pos,
                   int pos_rows, const float* __restrict__ type0, const float* __restrict__ ln_w,
                   const float* __restrict__ ln_b, float eps, int vocab, float* __restrict__ x) {
  LAMP_ROW
  lamk::plan_embed_row(tm, m, r, word, pos, pos_rows, type0, ln_w, ln_b, eps, vocab, x);
}

extern "C" __global__ void __launch_bounds__(32 * LAM_ROWS_PER_BLOCK)
    lam_plan_front(lamk::PlanMeta m, int variant, const float* __restrict__ z,
                   const float* __restrict__ conv_w, const float* __restrict__ conv_b,
                   const float* fd_b, const float* fd_b2, const float* sd_b, const float* sd_b2,
                   const float* t1w, const float* t1b, const float* t2w, const float* t2b,
                   float* __restrict__ f, float* __restrict__ s) {
  LAMP_ROW
  lamk::plan_front_row(tm, m, r, variant, z, conv_w, conv_b, fd_b, fd_b2, sd_b, sd_b2, t1w, t1b,
                       t2w, t2b, f, s);
}

extern "C" __global__ void __launch_bounds__(32)
    lam_plan_f128_scan(lamk::PlanMeta m, const float* __restrict__ f, const float* __restrict__ s,
                       float* __restrict__ o) {
  __shared__ float sh[3 * LAM_HEAD_DIM];
  const lamk::WarpTeam tm{static_cast<int>(threadIdx.x)};
  lamk::plan_f128_chunk(tm, m, blockIdx.x, blockIdx.y, f, s, sh, o);
}

extern "C" __global__ void __launch_bounds__(32)
    lam_plan_r64t_single(lamk::PlanMeta m, const float* __restrict__ f,
                         const float* __restrict__ s, float* __restrict__ o) {
  __shared__ float sh[3 * LAM_HEAD_DIM];
  const lamk::WarpTeam tm{static_cast<int>(threadIdx.x)};
  lamk::plan_r64t_single(tm, m, blockIdx.x, blockIdx.y, f, s, sh, o);
}

extern "C" __global__ void __launch_bounds__(32)
    lam_plan_rec_prepare(lamk::PlanMeta m, int variant, const float* __restrict__ f,
                         const float* __restrict__ s, const float* __restrict__ flux_w,
                         int flux_per_head, const float* __restrict__ temp,
                         const float* __restrict__ n1w, const float* __restrict__ n1b,
                         const float* __restrict__ n2w, const float* __restrict__ n2b,
                         float* __restrict__ u, float* __restrict__ wk, float* __restrict__ psi) {
  __shared__ float sh[lamk::kPrepareScratch];
  const lamk::WarpTeam tm{static_cast<int>(threadIdx.x)};
  lamk::plan_recurrent_prepare(tm, m, blockIdx.x, blockIdx.y, variant, f, s, flux_w,
                               flux_per_head, temp, n1w, n1b, n2w, n2b, sh, u, wk, psi);
}

extern "C" __global__ void __launch_bounds__(32)
    lam_plan_rec_run(lamk::PlanMeta m, int variant, const float* __restrict__ f,
                     const float* __restrict__ s, const float* __restrict__ u,
                     const float* __restrict__ wk, const float* __restrict__ psi,
                     float* __restrict__ o) {
  __shared__ float sh[lamk::kRunScratch];
  const lamk::WarpTeam tm{static_cast<int>(threadIdx.x)};
  lamk::plan_recurrent_run(tm, m, blockIdx.x, blockIdx.y, variant, f, s, u, wk, psi, sh, o);
}

extern "C" __global__ void __launch_bounds__(32 * LAM_ROWS_PER_BLOCK)
    lam_plan_gated_rmsnorm(lamk::PlanMeta m, const float* __restrict__ z,
                           const float* __restrict__ norm_w, float* __restrict__ o) {
  LAMP_ROW
  lamk::plan_gated_rmsnorm_row(tm, m, r, z, norm_w, o);
}

extern "C" __global__ void __launch_bounds__(32 * LAM_ROWS_PER_BLOCK)
    lam_plan_residual_ln(lamk::PlanMeta m, const float* x, const float* __restrict__ delta,
                         const float* __restrict__ ln_w, const float* __restrict__ ln_b, float eps,
                         int zero_pad, float* out) {
  LAMP_ROW
  lamk::plan_residual_ln_row(tm, m, r, x, delta, ln_w, ln_b, eps, zero_pad, out);
}

extern "C" __global__ void __launch_bounds__(128)
    lam_plan_attention(lamk::PlanMeta m, const float* __restrict__ qkv, float* __restrict__ ctx) {
  __shared__ float scores[4][lamk::kMaxAttnLen];
  const int r = blockIdx.x * 4 + threadIdx.y;
  if (r >= m.rows_cap) return;
  const lamk::WarpTeam tm{static_cast<int>(threadIdx.x)};
  lamk::plan_attention_row(tm, m, r, blockIdx.y, qkv, scores[threadIdx.y], ctx);
}

extern "C" __global__ void __launch_bounds__(32)
    lam_plan_pool(lamk::PlanMeta m, const float* __restrict__ x, float* __restrict__ out) {
  const lamk::WarpTeam tm{static_cast<int>(threadIdx.x)};
  lamk::plan_pool_seq(tm, m, blockIdx.x, x, out);
}

// y[r, c] = bias_act(y[r, c], bias[c], act) for the batch's rows; y has row stride ld.
extern "C" __global__ void lam_plan_bias_act(lamk::PlanMeta m, float* y, int ld, int n,
                                             const float* __restrict__ bias, int act) {
  const long total = static_cast<long>(m.nrows()) * n;
  for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long>(gridDim.x) * blockDim.x) {
    const long row = i / n;
    const int c = static_cast<int>(i % n);
    float* p = y + row * ld + c;
    *p = lamk::bias_act(*p, bias != nullptr ? bias[c] : 0.0f, act);
  }
}
#undef LAMP_ROW
#endif  // LAMK_DEVICE_COMPILE

#endif  // LAM_BACKEND_CUDA_LAM_KERNELS_CUH_
