// SPDX-License-Identifier: MIT
#include "backend/cpu/cpu_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/cpu_layout.h"
#include "backend/cpu/cpu_math.h"

// The kernel is built for AVX-512, AVX2+FMA and baseline x86-64 and picked once per process from
// the CPU (the rest of the project is built for baseline x86-64). Every build computes each
// element with the same operation order, so results are bitwise stable within a process.
#if defined(__x86_64__) && defined(__GNUC__)
#define LAM_ATTENTION_X86 1
#define LAM_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define LAM_ATTENTION_X86 0
#define LAM_ALWAYS_INLINE inline
#endif

namespace lam::cpu {
namespace {

// Query rows per block and keys per score tile: a 4 x 16 score tile and a 4 x 32 context tile
// stay in registers while K^T / V rows stream past.
constexpr int kQueryBlock = 4;
constexpr int kKeyTile = 16;

static_assert(kQueryBlock == 4 && kKeyTile == 16 && kHd == 32, "the tiles below are unrolled");

// 16 floats as one GNU vector (one zmm, two ymm or four xmm): local tiles stay in registers.
using V16 = float __attribute__((vector_size(64)));

// By pointer/reference: passing a 64-byte vector by value would depend on the ISA's ABI.
LAM_ALWAYS_INLINE void Load16(V16* v, const float* p) { std::memcpy(v, p, sizeof(V16)); }
LAM_ALWAYS_INLINE void Store16(float* p, const V16& v) { std::memcpy(p, &v, sizeof(V16)); }

constexpr int Pad16(int n) { return (n + 15) & ~15; }

// Sum of p[0..n) with 16 fixed lanes (the same order for a given n), lanes combined in double.
LAM_ALWAYS_INLINE double LaneSum16(const float* p, int n) {
  float lanes[16] = {};
  const int full = n & ~15;
  for (int j = 0; j < full; j += 16) {
    for (int l = 0; l < 16; ++l) lanes[l] += p[j + l];
  }
  for (int j = full; j < n; ++j) lanes[j - full] += p[j];
  double s = 0.0;
  for (float v : lanes) s += v;
  return s;
}

// Largest of p[0..n), n >= 1 (exact in any order).
LAM_ALWAYS_INLINE float LaneMax16(const float* p, int n) {
  float lanes[16];
  for (int l = 0; l < 16; ++l) lanes[l] = p[0];
  const int full = n & ~15;
  for (int j = 0; j < full; j += 16) {
    for (int l = 0; l < 16; ++l) lanes[l] = lanes[l] > p[j + l] ? lanes[l] : p[j + l];
  }
  for (int j = full; j < n; ++j) lanes[0] = std::max(lanes[0], p[j]);
  float m = lanes[0];
  for (float v : lanes) m = std::max(m, v);
  return m;
}

// The kernel body, inlined into each ISA wrapper below (the helpers above are always_inline
// too: GCC does not inline an ordinary baseline-ISA function into a target-specific one).
LAM_ALWAYS_INLINE void AttentionHeadBody(const float* qkv, size_t qkv_stride, int len, int h,
                                         float* ctx, size_t ctx_stride, float* scratch) {
  const int lp = Pad16(len);
  float* kt = scratch;                                      // K^T: [kHd][lp], zero past len
  float* scores = scratch + static_cast<size_t>(kHd) * lp;  // [kQueryBlock][lp]
  const float* qh = qkv + h * kHd;
  const float* kh = qkv + kDm + h * kHd;
  const float* vh = qkv + 2 * kDm + h * kHd;

  for (int j = 0; j < len; ++j) {
    const float* k = kh + static_cast<size_t>(j) * qkv_stride;
    for (int d = 0; d < kHd; ++d) kt[static_cast<size_t>(d) * lp + j] = k[d];
  }
  for (int d = 0; d < kHd; ++d) {
    for (int j = len; j < lp; ++j) kt[static_cast<size_t>(d) * lp + j] = 0.0f;
  }
  // 1 / sqrt(32), folded into the query.
  constexpr float kScale = 0.17677669529663688f;

  for (int i0 = 0; i0 < len; i0 += kQueryBlock) {
    const int nb = std::min(kQueryBlock, len - i0);
    // Scaled queries of this block; rows past the sequence are zero (their results are dropped).
    alignas(64) float q[kQueryBlock][kHd] = {};
    for (int b = 0; b < nb; ++b) {
      const float* src = qh + static_cast<size_t>(i0 + b) * qkv_stride;
      for (int d = 0; d < kHd; ++d) q[b][d] = src[d] * kScale;
    }
    // Scores s[b][j] = sum_d q[b][d] k_j[d], summed over d in order, one 4 x 16 tile at a time.
    for (int j0 = 0; j0 < lp; j0 += kKeyTile) {
      V16 a0{}, a1{}, a2{}, a3{};
      for (int d = 0; d < kHd; ++d) {
        V16 k;
        Load16(&k, kt + static_cast<size_t>(d) * lp + j0);
        a0 += q[0][d] * k;
        a1 += q[1][d] * k;
        a2 += q[2][d] * k;
        a3 += q[3][d] * k;
      }
      Store16(scores + 0 * lp + j0, a0);
      Store16(scores + 1 * lp + j0, a1);
      Store16(scores + 2 * lp + j0, a2);
      Store16(scores + 3 * lp + j0, a3);
    }
    // Softmax numerators (max-subtracted) over the sequence's keys, and their inverse sums.
    float inv[kQueryBlock];
    for (int b = 0; b < kQueryBlock; ++b) {
      float* s = scores + b * lp;
      float m = LaneMax16(s, len);
      for (int j = 0; j < len; ++j) s[j] = ExpF(s[j] - m);
      inv[b] = static_cast<float>(1.0 / LaneSum16(s, len));  // >= 1 term of e^0
    }
    // Context: sum_j p[b][j] v_j over keys in order, then the softmax normalisation.
    V16 c0l{}, c0h{}, c1l{}, c1h{}, c2l{}, c2h{}, c3l{}, c3h{};
    for (int j = 0; j < len; ++j) {
      const float* v = vh + static_cast<size_t>(j) * qkv_stride;
      V16 vl, vu;
      Load16(&vl, v);
      Load16(&vu, v + 16);
      const float p0 = scores[j], p1 = scores[lp + j], p2 = scores[2 * lp + j], p3 = scores[3 * lp + j];
      c0l += p0 * vl;
      c0h += p0 * vu;
      c1l += p1 * vl;
      c1h += p1 * vu;
      c2l += p2 * vl;
      c2h += p2 * vu;
      c3l += p3 * vl;
      c3h += p3 * vu;
    }
    const V16 lo[kQueryBlock] = {c0l, c1l, c2l, c3l};
    const V16 hi[kQueryBlock] = {c0h, c1h, c2h, c3h};
    for (int b = 0; b < nb; ++b) {
      float* out = ctx + static_cast<size_t>(i0 + b) * ctx_stride + h * kHd;
      const V16 l = lo[b] * inv[b], u = hi[b] * inv[b];
      Store16(out, l);
      Store16(out + 16, u);
    }
  }
}

using KernelFn = void (*)(const float*, size_t, int, int, float*, size_t, float*);

void KernelBaseline(const float* qkv, size_t qs, int len, int h, float* ctx, size_t cs, float* scratch) {
  AttentionHeadBody(qkv, qs, len, h, ctx, cs, scratch);
}

#if LAM_ATTENTION_X86
__attribute__((target("avx2,fma"))) void KernelAvx2(const float* qkv, size_t qs, int len, int h,
                                                   float* ctx, size_t cs, float* scratch) {
  AttentionHeadBody(qkv, qs, len, h, ctx, cs, scratch);
}

__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))) void KernelAvx512(
    const float* qkv, size_t qs, int len, int h, float* ctx, size_t cs, float* scratch) {
  AttentionHeadBody(qkv, qs, len, h, ctx, cs, scratch);
}
#endif

KernelFn PickKernel() {
#if LAM_ATTENTION_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")) {
    return KernelAvx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return KernelAvx2;
#endif
  return KernelBaseline;
}

// Chosen once: every call in the process runs the same code.
const KernelFn kKernel = PickKernel();

}  // namespace

size_t AttentionScratchFloats(int max_len) {
  const size_t lp = static_cast<size_t>(Pad16(std::max(max_len, 1)));
  return lp * kHd + static_cast<size_t>(kQueryBlock) * lp;
}

void AttentionHead(const float* qkv, size_t qkv_stride, int len, int h, float* ctx,
                   size_t ctx_stride, float* scratch) {
  kKernel(qkv, qkv_stride, len, h, ctx, ctx_stride, scratch);
}

}  // namespace lam::cpu
