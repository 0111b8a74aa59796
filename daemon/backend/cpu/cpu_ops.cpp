// SPDX-License-Identifier: MIT
#include "backend/cpu/cpu_ops.h"

#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_math.h"

namespace lam::cpu {
namespace {

// Sum with 16 fixed lanes (vectorisable, same order for every row), lanes combined in double.
// n must be a multiple of 16.
inline double LaneSum(const float* x, int n) {
  float lanes[16] = {};
  for (int i = 0; i < n; i += 16) {
    for (int j = 0; j < 16; ++j) lanes[j] += x[i + j];
  }
  double s = 0.0;
  for (float v : lanes) s += v;
  return s;
}

inline double LaneSumSquares(const float* x, int n) {
  float lanes[16] = {};
  for (int i = 0; i < n; i += 16) {
    for (int j = 0; j < 16; ++j) lanes[j] += x[i + j] * x[i + j];
  }
  double s = 0.0;
  for (float v : lanes) s += v;
  return s;
}

void LayerNormInPlace(float* x, const float* gamma, const float* beta, float eps) {
  const float mean = static_cast<float>(LaneSum(x, kDm) / kDm);
  alignas(64) float d[kDm];
  for (int i = 0; i < kDm; ++i) d[i] = x[i] - mean;
  const double var = LaneSumSquares(d, kDm) / kDm;
  const float inv = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
  for (int i = 0; i < kDm; ++i) x[i] = d[i] * inv * gamma[i] + beta[i];
}

}  // namespace

void EmbedRow(const engine::ModelWeights& w, int32_t id, int t, int len, float* out) {
  const float* word = w.word + static_cast<size_t>(id) * kDm;
  const float* type = w.type;
  const int table = w.config.position_table;
  if (len <= table) {
    const float* pos = w.pos + static_cast<size_t>(t) * kDm;
    for (int i = 0; i < kDm; ++i) out[i] = word[i] + pos[i] + type[i];
  } else {
    // lam-model.md section 3: float32 scale and position, C truncation, clamp of the upper row.
    const float s = static_cast<float>(table - 1) / static_cast<float>(len - 1);
    const float p = static_cast<float>(t) * s;
    const int lo = static_cast<int>(p);
    const int hi = std::min(lo + 1, table - 1);
    const float wt = p - static_cast<float>(lo);
    const float wl = 1.0f - wt;
    const float* plo = w.pos + static_cast<size_t>(lo) * kDm;
    const float* phi = w.pos + static_cast<size_t>(hi) * kDm;
    for (int i = 0; i < kDm; ++i) {
      const float pos = wl * plo[i] + wt * phi[i];
      out[i] = word[i] + pos + type[i];
    }
  }
  LayerNormInPlace(out, w.emb_ln_w, w.emb_ln_b, w.config.layer_norm_eps);
}

void AddLayerNormRow(const float* a, const float* b, const float* gamma, const float* beta,
                     float eps, float* out) {
  if (b != nullptr) {
    for (int i = 0; i < kDm; ++i) out[i] = a[i] + b[i];
  } else if (out != a) {
    std::copy(a, a + kDm, out);
  }
  LayerNormInPlace(out, gamma, beta, eps);
}

void FrontRow(const float* const taps[4], const FrontParams& p, float* f_row, float* s_row) {
  alignas(64) float acc[kQkv];
  std::copy(p.conv_b, p.conv_b + kQkv, acc);
  for (int j = 0; j < 4; ++j) {
    const float* src = taps[j];
    if (src == nullptr) continue;  // outside the sequence: the tap reads zero
    const float* wj = p.conv_w + j * kQkv;
    for (int c = 0; c < kQkv; ++c) acc[c] += wj[c] * src[c];
  }
  for (int c = 0; c < kQkv; ++c) f_row[c] = SiluF(acc[c]);

  const float* z = taps[2];
  for (int h = 0; h < kHeads; ++h) {
    s_row[kSbeta + h] = SigmoidF(z[kZbeta + h]);
    s_row[kSfg + h] = SigmoidF(z[kZfg + h]);
    s_row[kSsg + h] = SigmoidF(z[kZsg + h]);
  }
  if (p.fd_bias != nullptr) {
    for (int h = 0; h < kHeads; ++h) {
      s_row[kSfd + h] = SigmoidF(z[kZfd + h] + p.fd_bias[h] + p.fd_bias2[h]);
      s_row[kSsd + h] = SigmoidF(z[kZsd + h] + p.sd_bias[h] + p.sd_bias2[h]);
    }
  }
  // F.normalize per head: x / max(||x||, 1e-12); v <- beta * v.
  for (int h = 0; h < kHeads; ++h) {
    float* q = f_row + kFq + h * kHd;
    float* k = f_row + kFk + h * kHd;
    float* v = f_row + kFv + h * kHd;
    const float qn = std::max(static_cast<float>(std::sqrt(LaneSumSquares(q, kHd))), 1e-12f);
    const float kn = std::max(static_cast<float>(std::sqrt(LaneSumSquares(k, kHd))), 1e-12f);
    const float beta = s_row[kSbeta + h];
    for (int i = 0; i < kHd; ++i) {
      q[i] = q[i] / qn;
      k[i] = k[i] / kn;
      v[i] = beta * v[i];
    }
    if (p.tflux_w1t != nullptr) {
      float kb[kHd];
      for (int i = 0; i < kHd; ++i) kb[i] = k[i] * beta;
      s_row[kStau + h] = TokenFlux(p.tflux_w1t, p.tflux_b1, p.tflux_w2, p.tflux_b2, kb, v);
    }
  }
}

float TokenFlux(const float* w1t, const float* b1, const float* w2, const float* b2,
                const float* kbeta, const float* vhat) {
  float hs[16];
  for (int o = 0; o < 16; ++o) hs[o] = b1[o];
  for (int i = 0; i < kHd; ++i) {
    const float z = kbeta[i];
    for (int o = 0; o < 16; ++o) hs[o] += w1t[i * 16 + o] * z;
  }
  for (int i = 0; i < kHd; ++i) {
    const float z = vhat[i];
    for (int o = 0; o < 16; ++o) hs[o] += w1t[(kHd + i) * 16 + o] * z;
  }
  float out = b2[0];
  for (int o = 0; o < 16; ++o) out += w2[o] * SiluF(hs[o]);
  return std::min(std::max(SigmoidF(out), 0.01f), 0.99f);
}

void GatedRmsNormRow(float* o, const float* g, const float* w) {
  for (int h = 0; h < kHeads; ++h) {
    float* oh = o + h * kHd;
    const float* gh = g + h * kHd;
    const double ms = LaneSumSquares(oh, kHd) / kHd;
    const float r = static_cast<float>(1.0 / std::sqrt(ms + 1e-5));
    for (int i = 0; i < kHd; ++i) oh[i] = oh[i] * r * w[i] * SigmoidF(gh[i]);
  }
}

void PoolRows(const float* x, int rows, float* out) {
  // Sequential over tokens in double: the order is fixed by the sequence alone.
  double acc[kDm] = {};
  for (int t = 0; t < rows; ++t) {
    const float* r = x + static_cast<size_t>(t) * kDm;
    for (int i = 0; i < kDm; ++i) acc[i] += r[i];
  }
  const double denom = std::max(static_cast<double>(rows), 1e-9);
  double norm2 = 0.0;
  for (int i = 0; i < kDm; ++i) {
    acc[i] /= denom;
    norm2 += acc[i] * acc[i];
  }
  const double inv = 1.0 / std::max(std::sqrt(norm2), 1e-12);
  for (int i = 0; i < kDm; ++i) out[i] = static_cast<float>(acc[i] * inv);
}

}  // namespace lam::cpu
