// SPDX-License-Identifier: MIT
#include "backend/cpu/cpu_attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
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

// e^(s[j] - m) for j in [0, lp) in place, lp a multiple of the vector's lanes, as ExpSteps on
// whole vectors. (A loop of ExpF compiled to scalar code here, its clamp unvectorised: half the
// kernel's time at 128 tokens.) Every element of a row, the padding past the sequence included,
// runs the same instructions, so its bits depend on nothing else.
template <typename V, typename VI>
LAM_ALWAYS_INLINE void ExpMinusMax(float* s, int lp, float m) {
  constexpr int kLanes = static_cast<int>(sizeof(V) / sizeof(float));
  for (int j = 0; j < lp; j += kLanes) {
    V x, e;
    std::memcpy(&x, s + j, sizeof(V));
    x = x - m;
    ExpSteps<V, VI>(x, &e);
    std::memcpy(s + j, &e, sizeof(V));
  }
}

// The kernel's two register-tiled loops, on 16-lane GNU vectors: one zmm per vector with
// AVX-512 (and four xmm in the baseline build). With AVX2 GCC does not keep a 64-byte vector in
// two ymm registers but assembles it through the stack (the AVX2 build spent 43% of MiniLM's time
// at 128 tokens in this kernel), so that ISA has its own tiles below: the same sums in the same
// order, on 8-lane vectors.
using V16i = int32_t __attribute__((vector_size(64)));

struct VectorTiles {
  LAM_ALWAYS_INLINE static void Exp(float* s, int lp, float m) { ExpMinusMax<V16, V16i>(s, lp, m); }

  // Scores s[b][j] = sum_d q[b][d] k_j[d], summed over d in order, one 4 x 16 tile at a time.
  LAM_ALWAYS_INLINE static void Scores(const float (&q)[kQueryBlock][kHd], const float* kt, int lp,
                                       float* scores) {
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
  }

  // Context rows i0 + b (b < nb): sum_j p[b][j] v_j over keys in order, times inv[b].
  LAM_ALWAYS_INLINE static void Context(const float* vh, size_t qkv_stride, int len, const float* scores, int lp,
                                        const float (&inv)[kQueryBlock], int nb, float* ctx0, size_t ctx_stride) {
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
      float* out = ctx0 + static_cast<size_t>(b) * ctx_stride;
      const V16 l = lo[b] * inv[b], u = hi[b] * inv[b];
      Store16(out, l);
      Store16(out + 16, u);
    }
  }
};

// The same two loops on 8-lane vectors, one ymm each once inlined into the AVX2 kernel.
// (Plain GNU vectors, not intrinsics: clang refuses to inline avx2-only helpers into the
// ISA-neutral template body.)
using V8 = float __attribute__((vector_size(32)));
using V8i = int32_t __attribute__((vector_size(32)));
LAM_ALWAYS_INLINE void Load8(V8* v, const float* p) { std::memcpy(v, p, sizeof(V8)); }
LAM_ALWAYS_INLINE void Store8(float* p, const V8& v) { std::memcpy(p, &v, sizeof(V8)); }

struct Avx2Tiles {
  LAM_ALWAYS_INLINE static void Exp(float* s, int lp, float m) { ExpMinusMax<V8, V8i>(s, lp, m); }

  LAM_ALWAYS_INLINE static void Scores(const float (&q)[kQueryBlock][kHd], const float* kt, int lp,
                                       float* scores) {
    for (int j0 = 0; j0 < lp; j0 += kKeyTile) {
      V8 a0l{}, a0h{}, a1l{}, a1h{}, a2l{}, a2h{}, a3l{}, a3h{};
      for (int d = 0; d < kHd; ++d) {
        const float* k = kt + static_cast<size_t>(d) * lp + j0;
        V8 kl, kh;
        Load8(&kl, k);
        Load8(&kh, k + 8);
        a0l += q[0][d] * kl;
        a0h += q[0][d] * kh;
        a1l += q[1][d] * kl;
        a1h += q[1][d] * kh;
        a2l += q[2][d] * kl;
        a2h += q[2][d] * kh;
        a3l += q[3][d] * kl;
        a3h += q[3][d] * kh;
      }
      Store8(scores + 0 * lp + j0, a0l);
      Store8(scores + 0 * lp + j0 + 8, a0h);
      Store8(scores + 1 * lp + j0, a1l);
      Store8(scores + 1 * lp + j0 + 8, a1h);
      Store8(scores + 2 * lp + j0, a2l);
      Store8(scores + 2 * lp + j0 + 8, a2h);
      Store8(scores + 3 * lp + j0, a3l);
      Store8(scores + 3 * lp + j0 + 8, a3h);
    }
  }

  // One pass per 16 of the head's 32 columns keeps the 4 x 16 accumulators in registers.
  LAM_ALWAYS_INLINE static void Context(const float* vh, size_t qkv_stride, int len, const float* scores, int lp,
                                        const float (&inv)[kQueryBlock], int nb, float* ctx0, size_t ctx_stride) {
    for (int c0 = 0; c0 < kHd; c0 += 16) {
      V8 r0l{}, r0h{}, r1l{}, r1h{}, r2l{}, r2h{}, r3l{}, r3h{};
      for (int j = 0; j < len; ++j) {
        const float* v = vh + static_cast<size_t>(j) * qkv_stride + c0;
        V8 vl, vu;
        Load8(&vl, v);
        Load8(&vu, v + 8);
        const float p0 = scores[j], p1 = scores[lp + j], p2 = scores[2 * lp + j], p3 = scores[3 * lp + j];
        r0l += p0 * vl;
        r0h += p0 * vu;
        r1l += p1 * vl;
        r1h += p1 * vu;
        r2l += p2 * vl;
        r2h += p2 * vu;
        r3l += p3 * vl;
        r3h += p3 * vu;
      }
      const V8 lo[kQueryBlock] = {r0l, r1l, r2l, r3l};
      const V8 hi[kQueryBlock] = {r0h, r1h, r2h, r3h};
      for (int b = 0; b < nb; ++b) {
        float* out = ctx0 + static_cast<size_t>(b) * ctx_stride + c0;
        Store8(out, lo[b] * inv[b]);
        Store8(out + 8, hi[b] * inv[b]);
      }
    }
  }
};

// The kernel body, inlined into each ISA wrapper below (the helpers above are always_inline
// too: GCC does not inline an ordinary baseline-ISA function into a target-specific one).
template <typename Tiles>
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
    Tiles::Scores(q, kt, lp, scores);
    // Softmax numerators (max-subtracted) over the sequence's keys, and their inverse sums.
    float inv[kQueryBlock];
    for (int b = 0; b < kQueryBlock; ++b) {
      float* s = scores + b * lp;
      const float m = LaneMax16(s, len);
      Tiles::Exp(s, lp, m);
      inv[b] = static_cast<float>(1.0 / LaneSum16(s, len));  // >= 1 term of e^0
    }
    // Context, then the softmax normalisation.
    Tiles::Context(vh, qkv_stride, len, scores, lp, inv, nb, ctx + static_cast<size_t>(i0) * ctx_stride + h * kHd,
                   ctx_stride);
  }
}

using KernelFn = void (*)(const float*, size_t, int, int, float*, size_t, float*);

void KernelBaseline(const float* qkv, size_t qs, int len, int h, float* ctx, size_t cs, float* scratch) {
  AttentionHeadBody<VectorTiles>(qkv, qs, len, h, ctx, cs, scratch);
}

#if LAM_ATTENTION_X86
__attribute__((target("avx2,fma"))) void KernelAvx2(const float* qkv, size_t qs, int len, int h,
                                                   float* ctx, size_t cs, float* scratch) {
  AttentionHeadBody<Avx2Tiles>(qkv, qs, len, h, ctx, cs, scratch);
}

__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))) void KernelAvx512(
    const float* qkv, size_t qs, int len, int h, float* ctx, size_t cs, float* scratch) {
  AttentionHeadBody<VectorTiles>(qkv, qs, len, h, ctx, cs, scratch);
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
