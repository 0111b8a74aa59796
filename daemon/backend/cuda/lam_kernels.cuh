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
LAMK_HD float scan_phase2(ScanLane* s, const float* k, const float* z, const float* q, float k_j,
                          float vhat_j, float u_j, float fg, float sg) {
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
#endif  // LAMK_DEVICE_COMPILE

#endif  // LAM_BACKEND_CUDA_LAM_KERNELS_CUH_
