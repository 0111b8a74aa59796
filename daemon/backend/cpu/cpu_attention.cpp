// SPDX-License-Identifier: MIT
#include "backend/cpu/cpu_attention.h"

#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_layout.h"
#include "backend/cpu/cpu_math.h"

namespace lam::cpu {
namespace {

// Query rows handled together: each key/value row is loaded once per block.
constexpr int kQueryBlock = 4;

constexpr int Pad16(int n) { return (n + 15) & ~15; }

// Sum of p[0..n) with 16 fixed lanes (the same order for a given n), lanes combined in double.
double LaneSum16(const float* p, int n) {
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

}  // namespace

size_t AttentionScratchFloats(int max_len) {
  const size_t lp = static_cast<size_t>(Pad16(std::max(max_len, 1)));
  return lp * kHd + static_cast<size_t>(kQueryBlock) * lp;
}

void AttentionHead(const float* qkv, size_t qkv_stride, int len, int h, float* ctx,
                   size_t ctx_stride, float* scratch) {
  const int lp = Pad16(len);
  float* kt = scratch;                                   // K^T: [kHd][lp]
  float* scores = scratch + static_cast<size_t>(kHd) * lp;  // [kQueryBlock][lp]
  const float* qh = qkv + h * kHd;
  const float* kh = qkv + kDm + h * kHd;
  const float* vh = qkv + 2 * kDm + h * kHd;

  // K^T so that a query's scores are vector loops over keys.
  for (int j = 0; j < len; ++j) {
    const float* k = kh + static_cast<size_t>(j) * qkv_stride;
    for (int d = 0; d < kHd; ++d) kt[static_cast<size_t>(d) * lp + j] = k[d];
  }
  // 1 / sqrt(32), folded into the query.
  constexpr float kScale = 0.17677669529663688f;

  for (int i0 = 0; i0 < len; i0 += kQueryBlock) {
    const int nb = std::min(kQueryBlock, len - i0);
    // Scores: s[b][j] = sum_d (q_b[d] / sqrt(d)) k_j[d], summed over d in order.
    for (int b = 0; b < nb; ++b) std::fill(scores + b * lp, scores + b * lp + len, 0.0f);
    for (int d = 0; d < kHd; ++d) {
      const float* kr = kt + static_cast<size_t>(d) * lp;
      for (int b = 0; b < nb; ++b) {
        const float qd = qh[static_cast<size_t>(i0 + b) * qkv_stride + d] * kScale;
        float* s = scores + b * lp;
        for (int j = 0; j < len; ++j) s[j] += qd * kr[j];
      }
    }
    // Softmax numerators (max-subtracted) and their inverse sums.
    float inv[kQueryBlock];
    for (int b = 0; b < nb; ++b) {
      float* s = scores + b * lp;
      float m = s[0];
      for (int j = 1; j < len; ++j) m = std::max(m, s[j]);
      for (int j = 0; j < len; ++j) s[j] = ExpF(s[j] - m);
      inv[b] = static_cast<float>(1.0 / LaneSum16(s, len));  // >= 1: the max term is e^0
    }
    // Context: sum_j p[b][j] v_j, over keys in order, then the softmax normalisation.
    alignas(64) float acc[kQueryBlock][kHd] = {};
    for (int j = 0; j < len; ++j) {
      const float* v = vh + static_cast<size_t>(j) * qkv_stride;
      for (int b = 0; b < nb; ++b) {
        const float p = scores[b * lp + j];
        for (int d = 0; d < kHd; ++d) acc[b][d] += p * v[d];
      }
    }
    for (int b = 0; b < nb; ++b) {
      float* out = ctx + static_cast<size_t>(i0 + b) * ctx_stride + h * kHd;
      for (int d = 0; d < kHd; ++d) out[d] = acc[b][d] * inv[b];
    }
  }
}

}  // namespace lam::cpu
