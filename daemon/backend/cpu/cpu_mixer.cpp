// SPDX-License-Identifier: MIT
#include "backend/cpu/cpu_mixer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/cpu_math.h"

namespace lam::cpu {
namespace {

using Mat = float[kHd][kHd];

inline float Dot32(const float* a, const float* b) {
  float acc = 0.0f;
  for (int i = 0; i < kHd; ++i) acc += a[i] * b[i];
  return acc;
}

// out = x^T M (row vector times 32x32 matrix).
inline void VecMat(const float* x, const Mat& m, float* out) {
  float acc[kHd] = {};
  for (int i = 0; i < kHd; ++i) {
    const float xi = x[i];
    for (int j = 0; j < kHd; ++j) acc[j] += xi * m[i][j];
  }
  std::memcpy(out, acc, sizeof(acc));
}

inline float Frobenius(const Mat& m) {
  double s = 0.0;
  for (int i = 0; i < kHd; ++i) {
    float row = 0.0f;
    for (int j = 0; j < kHd; ++j) row += m[i][j] * m[i][j];
    s += row;
  }
  return static_cast<float>(std::sqrt(s));
}

inline float Clamp01(float x) { return std::min(std::max(x, 0.01f), 0.99f); }

// psi = clamp(sigmoid(W2 silu(W1 [mk; mu; a] + b1) + b2), 0.01, 0.99), flux_net of 4.3.
float FluxNet(const engine::LamLayerWeights& w, const float* mk, const float* mu, float a) {
  float z[65];
  std::memcpy(z, mk, kHd * sizeof(float));
  std::memcpy(z + kHd, mu, kHd * sizeof(float));
  z[64] = a;
  float out = w.flux_net2_b[0];
  for (int o = 0; o < 16; ++o) {
    float hsum = w.flux_net1_b[o];
    const float* row = w.flux_net1_w + o * 65;
    for (int i = 0; i < 65; ++i) hsum += row[i] * z[i];
    out += w.flux_net2_w[o] * SiluF(hsum);
  }
  return Clamp01(SigmoidF(out));
}

// Row pointers of one head inside the packed buffers.
inline const float* Q(const float* f, int t, int h) { return f + static_cast<size_t>(t) * kFCols + kFq + h * kHd; }
inline const float* K(const float* f, int t, int h) { return f + static_cast<size_t>(t) * kFCols + kFk + h * kHd; }
inline const float* V(const float* f, int t, int h) { return f + static_cast<size_t>(t) * kFCols + kFv + h * kHd; }
inline float Sc(const float* s, int t, int col) { return s[static_cast<size_t>(t) * kSCols + col]; }
inline float* Row(float* p, int t, int h) { return p + static_cast<size_t>(t) * kDm + h * kHd; }
inline const float* Row(const float* p, int t, int h) { return p + static_cast<size_t>(t) * kDm + h * kHd; }

// The scan of 4.6 over one chunk. Calls emit(t, Pv_t, Pu_t) (P v^ and P u for token t).
// Pv is only formed when need_pv (F128).
template <bool kNeedPv, typename Emit>
void DeltaScan(const float* f, const float* s, int len, int h, Emit&& emit) {
  alignas(64) Mat g = {}, m1 = {}, m2 = {}, m3 = {};
  for (int t = 0; t < len; ++t) {
    const float* k = K(f, t, h);
    const float* q = Q(f, t, h);
    const float* v = V(f, t, h);
    const float b = Sc(s, t, kSbeta + h);
    // Pass 1 with the states before the update: k^T M1, k^T M2, z = beta G k.
    // G is bitwise symmetric (entries (i, j) and (j, i) sum the same products in the same
    // order), so G k = k^T G: all three are row-vector products, no horizontal sums.
    float a1[kHd] = {}, a2[kHd] = {}, gk[kHd] = {}, z[kHd];
    for (int i = 0; i < kHd; ++i) {
      const float ki = k[i];
      for (int j = 0; j < kHd; ++j) {
        a1[j] += ki * m1[i][j];
        a2[j] += ki * m2[i][j];
        gk[j] += ki * g[i][j];
      }
    }
    for (int i = 0; i < kHd; ++i) z[i] = b * gk[i];
    float u[kHd];
    for (int j = 0; j < kHd; ++j) u[j] = v[j] - b * a1[j] + b * a2[j];
    // Pass 2: rank-1 updates, then read q^T M1 and q^T M3 after the update.
    float pv[kHd] = {}, pu[kHd] = {};
    for (int i = 0; i < kHd; ++i) {
      const float ki = k[i], zi = z[i], qi = q[i];
      for (int j = 0; j < kHd; ++j) {
        m1[i][j] += ki * v[j];
        m2[i][j] += zi * v[j];
        g[i][j] += ki * k[j];
        m3[i][j] += ki * u[j];
        if constexpr (kNeedPv) pv[j] += qi * m1[i][j];
        pu[j] += qi * m3[i][j];
      }
    }
    emit(t, pv, pu);
  }
}

}  // namespace

void F128ScanChunk(const float* f, const float* s, float* o, int len, int head) {
  DeltaScan<true>(f, s, len, head, [&](int t, const float* pv, const float* pu) {
    const float fg = 0.1f * Sc(s, t, kSfg + head);
    const float sg = 0.9f * Sc(s, t, kSsg + head);
    float* out = Row(o, t, head);
    for (int j = 0; j < kHd; ++j) out[j] = fg * pv[j] + sg * pu[j];
  });
}

void R64TSingleChunkScan(const float* f, const float* s, float* o, int len, int head) {
  DeltaScan<false>(f, s, len, head, [&](int t, const float*, const float* pu) {
    const float alpha = 0.5f + 0.3f * Sc(s, t, kStau + head);
    const float fg = Sc(s, t, kSfg + head), sg = Sc(s, t, kSsg + head);
    float* out = Row(o, t, head);
    for (int j = 0; j < kHd; ++j) out[j] = alpha * (fg * pu[j]) + (1.0f - alpha) * (sg * pu[j]);
  });
}

void F128DenseChunk(const float* f, const float* s, float* o, int len, int head) {
  const size_t n = static_cast<size_t>(len);
  std::vector<float> a(n * n, 0.0f), t(n * n, 0.0f), u(n * kHd, 0.0f);
  for (int i = 0; i < len; ++i) {
    const float b = Sc(s, i, kSbeta + head);
    for (int j = 0; j < i; ++j) a[i * n + j] = -(b * Dot32(K(f, i, head), K(f, j, head)));
  }
  for (int i = 0; i < len; ++i) {
    t[i * n + i] = 1.0f;
    for (int j = 0; j < i; ++j) {
      float aa = 0.0f;
      for (int m = 0; m < j; ++m) aa += a[i * n + m] * a[j * n + m];
      t[i * n + j] = a[i * n + j] + aa;
    }
  }
  for (int i = 0; i < len; ++i) {
    for (int j = 0; j <= i; ++j) {
      const float* v = V(f, j, head);
      for (int c = 0; c < kHd; ++c) u[i * kHd + c] += t[i * n + j] * v[c];
    }
  }
  for (int i = 0; i < len; ++i) {
    float pv[kHd] = {}, pu[kHd] = {};
    for (int j = 0; j <= i; ++j) {
      const float p = Dot32(Q(f, i, head), K(f, j, head));
      const float* v = V(f, j, head);
      for (int c = 0; c < kHd; ++c) {
        pv[c] += p * v[c];
        pu[c] += p * u[j * kHd + c];
      }
    }
    const float fg = 0.1f * Sc(s, i, kSfg + head), sg = 0.9f * Sc(s, i, kSsg + head);
    float* out = Row(o, i, head);
    for (int c = 0; c < kHd; ++c) out[c] = fg * pv[c] + sg * pu[c];
  }
}

float RecurrentChunkPrepare(const engine::LamLayerWeights& w, engine::Variant variant,
                            const float* f, const float* s, float* u, float* wk, int c, int head,
                            int n, int nchunks) {
  // f/s/u/wk point at the sequence's first row; this chunk starts at row n*c.
  const int r0 = n * c;
  alignas(64) float kc[kMaxDenseChunk][kHd], kb[kMaxDenseChunk][kHd];
  alignas(64) float tm[kMaxDenseChunk][kMaxDenseChunk];
  for (int i = 0; i < c; ++i) {
    const float* k = K(f, r0 + i, head);
    const float b = Sc(s, r0 + i, kSbeta + head);
    for (int j = 0; j < kHd; ++j) {
      kc[i][j] = k[j];
      kb[i][j] = k[j] * b;
    }
  }
  // A = strict_lower(-(k^beta k^T)); T = I + A + strict_lower(A A^T) (4.1 step 8, as written).
  // Rows are built as vectors over j from transposed copies, so the inner loops vectorise.
  alignas(64) float kt[kHd][kMaxDenseChunk];
  for (int i = 0; i < c; ++i) {
    for (int d = 0; d < kHd; ++d) kt[d][i] = kc[i][d];
  }
  alignas(64) float am[kMaxDenseChunk][kMaxDenseChunk];  // A, row-major
  alignas(64) float at[kMaxDenseChunk][kMaxDenseChunk];  // A transposed
  for (int i = 0; i < c; ++i) {
    float row[kMaxDenseChunk] = {};
    for (int d = 0; d < kHd; ++d) {
      const float b = kb[i][d];
      for (int j = 0; j < i; ++j) row[j] += b * kt[d][j];
    }
    for (int j = 0; j < i; ++j) {
      am[i][j] = -row[j];
      at[j][i] = -row[j];
    }
  }
  for (int i = 0; i < c; ++i) {
    // (A A^T)[i][j] = sum_{m < j} A[i][m] A[j][m], accumulated over m in ascending order.
    float acc[kMaxDenseChunk] = {};
    for (int m = 0; m + 1 < i; ++m) {
      const float a = am[i][m];
      for (int j = m + 1; j < i; ++j) acc[j] += a * at[m][j];
    }
    for (int j = 0; j < i; ++j) tm[i][j] = am[i][j] + acc[j];
    tm[i][i] = 1.0f;
  }
  float mk[kHd] = {}, mu[kHd] = {};
  double a_sum = 0.0;
  const float* wh = w.flux_w + (w.flux_w_per_head ? head * kHd * kHd : 0);
  for (int i = 0; i < c; ++i) {
    float ui[kHd] = {}, wi[kHd] = {};
    for (int j = 0; j <= i; ++j) {
      const float tij = tm[i][j];
      const float* v = V(f, r0 + j, head);
      for (int d = 0; d < kHd; ++d) {
        ui[d] += tij * v[d];
        wi[d] += tij * kb[j][d];
      }
    }
    std::memcpy(Row(u, r0 + i, head), ui, sizeof(ui));
    std::memcpy(Row(wk, r0 + i, head), wi, sizeof(wi));
    for (int d = 0; d < kHd; ++d) {
      mk[d] += kc[i][d];
      mu[d] += ui[d];
    }
    if (variant == engine::Variant::kR64T) {
      // Per-token bilinear form k_i^T W_h u_i.
      float kw[kHd];
      VecMat(kc[i], *reinterpret_cast<const Mat*>(wh), kw);
      a_sum += Dot32(kw, ui);
    }
  }
  const float inv_c = 1.0f / static_cast<float>(c);
  for (int d = 0; d < kHd; ++d) {
    mk[d] *= inv_c;
    mu[d] *= inv_c;
  }
  float a;
  if (variant == engine::Variant::kR64T) {
    a = static_cast<float>(a_sum / c) / w.flux_temp[head];
  } else {
    // R32: bilinear form of the means with the shared W, temperature index quirk (4.3).
    float kw[kHd];
    VecMat(mk, *reinterpret_cast<const Mat*>(wh), kw);
    a = Dot32(kw, mu) / w.flux_temp[(head * nchunks + n) % kHeads];
  }
  return FluxNet(w, mk, mu, a);
}

void RecurrentHeadRun(engine::Variant variant, const float* f,
                      const float* s, const float* u, const float* wk, float* o, int c,
                      int nchunks, int head, const float* psi, const float* cross) {
  alignas(64) Mat sf = {}, ss = {}, rf, rs;
  alignas(64) float uf[kMaxDenseChunk][kHd], us[kMaxDenseChunk][kHd];
  const bool token_alpha = variant == engine::Variant::kR64T;
  for (int n = 0; n < nchunks; ++n) {
    const int r0 = n * c;
    const float ps = psi[n * kHeads + head];
    const float cr = cross[n];
    float sum_fd = 0.0f, sum_sd = 0.0f;
    for (int i = 0; i < c; ++i) {
      sum_fd += Sc(s, r0 + i, kSfd + head);
      sum_sd += Sc(s, r0 + i, kSsd + head);
    }
    const float gf = (sum_fd / static_cast<float>(c)) * (1.0f - 0.1f * ps);
    const float gs = (sum_sd / static_cast<float>(c)) * (1.0f - 0.05f * ps);
    for (int i = 0; i < kHd; ++i) {
      for (int j = 0; j < kHd; ++j) {
        sf[i][j] *= gf;
        ss[i][j] *= gs;
      }
    }
    const float nf = Frobenius(sf) + 1e-8f, ns = Frobenius(ss) + 1e-8f;
    for (int i = 0; i < kHd; ++i) {
      for (int j = 0; j < kHd; ++j) {
        rf[i][j] = sf[i][j] / nf;
        rs[i][j] = ss[i][j] / ns;
      }
    }
    // U = u - w R (delta correction against the read-normalised states).
    for (int i = 0; i < c; ++i) {
      float wr_f[kHd], wr_s[kHd];
      const float* wi = Row(wk, r0 + i, head);
      VecMat(wi, rf, wr_f);
      VecMat(wi, rs, wr_s);
      const float* ui = Row(u, r0 + i, head);
      for (int d = 0; d < kHd; ++d) {
        uf[i][d] = ui[d] - wr_f[d];
        us[i][d] = ui[d] - wr_s[d];
      }
    }
    // O = gate * (q R + P U), P causal incl. the diagonal; then the blend. P's rows are built
    // as vectors over j from a transposed copy of the chunk's keys.
    alignas(64) float kt[kHd][kMaxDenseChunk];
    for (int j = 0; j < c; ++j) {
      const float* k = K(f, r0 + j, head);
      for (int d = 0; d < kHd; ++d) kt[d][j] = k[d];
    }
    for (int i = 0; i < c; ++i) {
      const float* q = Q(f, r0 + i, head);
      float of[kHd], os[kHd], pf[kHd] = {}, pss[kHd] = {};
      VecMat(q, rf, of);
      VecMat(q, rs, os);
      float prow[kMaxDenseChunk] = {};
      for (int d = 0; d < kHd; ++d) {
        const float qd = q[d];
        for (int j = 0; j <= i; ++j) prow[j] += qd * kt[d][j];
      }
      for (int j = 0; j <= i; ++j) {
        const float p = prow[j];
        for (int d = 0; d < kHd; ++d) {
          pf[d] += p * uf[j][d];
          pss[d] += p * us[j][d];
        }
      }
      const float fg = Sc(s, r0 + i, kSfg + head), sg = Sc(s, r0 + i, kSsg + head);
      const float alpha = 0.5f + 0.3f * (token_alpha ? Sc(s, r0 + i, kStau + head) : ps);
      float* out = Row(o, r0 + i, head);
      for (int d = 0; d < kHd; ++d) {
        const float vf = fg * (of[d] + pf[d]);
        const float vs = sg * (os[d] + pss[d]);
        out[d] = alpha * vf + (1.0f - alpha) * vs;
      }
    }
    // State update with the decayed, unnormalised states, cross coupling, renormalisation.
    for (int i = 0; i < c; ++i) {
      const float* k = K(f, r0 + i, head);
      for (int a = 0; a < kHd; ++a) {
        const float ka = k[a];
        for (int d = 0; d < kHd; ++d) {
          sf[a][d] += ka * uf[i][d];
          ss[a][d] += ka * us[i][d];
        }
      }
    }
    const float cf = cr * ps, cs = cr * (1.0f - ps);
    for (int a = 0; a < kHd; ++a) {
      for (int d = 0; d < kHd; ++d) {
        const float xf = sf[a][d] + cf * ss[a][d];
        const float xs = ss[a][d] + cs * sf[a][d];
        sf[a][d] = xf;
        ss[a][d] = xs;
      }
    }
    const float mf = Frobenius(sf) + 1e-8f, ms = Frobenius(ss) + 1e-8f;
    for (int a = 0; a < kHd; ++a) {
      for (int d = 0; d < kHd; ++d) {
        sf[a][d] /= mf;
        ss[a][d] /= ms;
      }
    }
  }
}

}  // namespace lam::cpu
