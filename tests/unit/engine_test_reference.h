// SPDX-License-Identifier: MIT
// Double-precision reference of the LAM forward pass for the engine tests, written from
// lam-model.md (dense per-chunk forms exactly as the original computes them, one sequence at a
// time = the canonical batch/padding-invariant definition). Slow and simple on purpose.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/weights.h"

namespace lam::enginetest {

using Vec = std::vector<double>;

struct Mat {
  int rows = 0, cols = 0;
  Vec v;
  Mat() = default;
  Mat(int r, int c) : rows(r), cols(c), v(static_cast<size_t>(r) * c, 0.0) {}
  double& at(int r, int c) { return v[static_cast<size_t>(r) * cols + c]; }
  double at(int r, int c) const { return v[static_cast<size_t>(r) * cols + c]; }
};

inline double Sig(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline double Silu(double x) { return x * Sig(x); }
inline double Gelu(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

// y = x W^T (+ b), W [out, in] row-major float.
inline Mat Linear(const Mat& x, const float* w, int out, const float* b = nullptr) {
  Mat y(x.rows, out);
  for (int r = 0; r < x.rows; ++r) {
    for (int o = 0; o < out; ++o) {
      double acc = b ? b[o] : 0.0;
      const float* wr = w + static_cast<size_t>(o) * x.cols;
      for (int i = 0; i < x.cols; ++i) acc += x.at(r, i) * wr[i];
      y.at(r, o) = acc;
    }
  }
  return y;
}

inline void LayerNorm(Mat& x, const float* g, const float* b, double eps) {
  for (int r = 0; r < x.rows; ++r) {
    double mu = 0.0, var = 0.0;
    for (int i = 0; i < x.cols; ++i) mu += x.at(r, i);
    mu /= x.cols;
    for (int i = 0; i < x.cols; ++i) var += (x.at(r, i) - mu) * (x.at(r, i) - mu);
    var /= x.cols;
    for (int i = 0; i < x.cols; ++i) x.at(r, i) = (x.at(r, i) - mu) / std::sqrt(var + eps) * g[i] + b[i];
  }
}

inline int RefChunkLen(int lp, int c0) {
  if (lp <= 32) return lp;
  int c = c0;
  if (lp < c) c = lp;
  if (lp % c != 0) c = lp;
  return c;
}

// Per-head [L, 32] views.
struct Heads {
  std::vector<Mat> h;  // 12 x [L, 32]
};

struct Front {
  int L = 0, Lp = 0;
  Heads q, k, v, kb;  // v = beta * v
  Mat beta, fd, sd, fg, sg, g;  // [Lp, 12] except g [Lp, 384]
};

inline Mat Conv(const Mat& x, const float* w, const float* b) {
  Mat y(x.rows, x.cols);
  for (int t = 0; t < x.rows; ++t) {
    for (int c = 0; c < x.cols; ++c) {
      double acc = b[c];
      for (int j = 0; j < 4; ++j) {
        const int s = t + j - 2;
        if (s >= 0 && s < x.rows) acc += w[c * 4 + j] * x.at(s, c);
      }
      y.at(t, c) = Silu(acc);
    }
  }
  return y;
}

inline Front FrontEnd(const engine::LamLayerWeights& p, Mat x, engine::Variant variant) {
  Front fe;
  fe.L = x.rows;
  fe.Lp = fe.L;
  if (fe.L > 32 && fe.L % 32 != 0 && fe.L >= 64) fe.Lp = fe.L + (32 - fe.L % 32);
  Mat xp(fe.Lp, 384);
  std::copy(x.v.begin(), x.v.end(), xp.v.begin());
  const Mat q = Conv(Linear(xp, p.q, 384), p.conv_q_w, p.conv_q_b);
  const Mat k = Conv(Linear(xp, p.k, 384), p.conv_k_w, p.conv_k_b);
  const Mat v = Conv(Linear(xp, p.v, 384), p.conv_v_w, p.conv_v_b);
  fe.beta = Linear(xp, p.beta, 12);
  fe.fg = Linear(xp, p.fgate, 12);
  fe.sg = Linear(xp, p.sgate, 12);
  const bool rec = variant != engine::Variant::kF128;
  if (rec) {
    fe.fd = Linear(xp, p.fdecay_w, 12, p.fdecay_b);
    fe.sd = Linear(xp, p.sdecay_w, 12, p.sdecay_b);
  }
  for (int t = 0; t < fe.Lp; ++t) {
    for (int h = 0; h < 12; ++h) {
      fe.beta.at(t, h) = Sig(fe.beta.at(t, h));
      fe.fg.at(t, h) = Sig(fe.fg.at(t, h));
      fe.sg.at(t, h) = Sig(fe.sg.at(t, h));
      if (rec) {
        fe.fd.at(t, h) = Sig(fe.fd.at(t, h) + p.fdecay_bias2[h]);
        fe.sd.at(t, h) = Sig(fe.sd.at(t, h) + p.sdecay_bias2[h]);
      }
    }
  }
  fe.g = Linear(xp, p.g, 384);
  for (auto* hs : {&fe.q, &fe.k, &fe.v, &fe.kb}) hs->h.assign(12, Mat(fe.Lp, 32));
  for (int h = 0; h < 12; ++h) {
    for (int t = 0; t < fe.Lp; ++t) {
      double nq = 0, nk = 0;
      for (int d = 0; d < 32; ++d) {
        nq += q.at(t, h * 32 + d) * q.at(t, h * 32 + d);
        nk += k.at(t, h * 32 + d) * k.at(t, h * 32 + d);
      }
      nq = std::max(std::sqrt(nq), 1e-12);
      nk = std::max(std::sqrt(nk), 1e-12);
      const double b = fe.beta.at(t, h);
      for (int d = 0; d < 32; ++d) {
        fe.q.h[h].at(t, d) = q.at(t, h * 32 + d) / nq;
        fe.k.h[h].at(t, d) = k.at(t, h * 32 + d) / nk;
        fe.v.h[h].at(t, d) = v.at(t, h * 32 + d) * b;
        fe.kb.h[h].at(t, d) = fe.k.h[h].at(t, d) * b;
      }
    }
  }
  return fe;
}

// T = I + A + SL(A A^T), A = SL(-(kb k^T)), over rows [r0, r0 + c).
inline Mat UtMatrix(const Mat& k, const Mat& kb, int r0, int c) {
  Mat a(c, c), t(c, c);
  for (int i = 0; i < c; ++i)
    for (int j = 0; j < i; ++j) {
      double s = 0;
      for (int d = 0; d < 32; ++d) s += kb.at(r0 + i, d) * k.at(r0 + j, d);
      a.at(i, j) = -s;
    }
  for (int i = 0; i < c; ++i) {
    t.at(i, i) = 1.0;
    for (int j = 0; j < i; ++j) {
      double s = 0;
      for (int m = 0; m < c; ++m) s += a.at(i, m) * a.at(j, m);
      t.at(i, j) = a.at(i, j) + s;
    }
  }
  return t;
}

// rows [r0, r0+c) of y = T x
inline Mat ApplyT(const Mat& t, const Mat& x, int r0, int c) {
  Mat y(c, 32);
  for (int i = 0; i < c; ++i)
    for (int j = 0; j < c; ++j)
      for (int d = 0; d < 32; ++d) y.at(i, d) += t.at(i, j) * x.at(r0 + j, d);
  return y;
}

inline double FluxNet(const engine::LamLayerWeights& p, const Vec& mk, const Vec& mu, double a) {
  double z[65];
  for (int i = 0; i < 32; ++i) z[i] = mk[i], z[32 + i] = mu[i];
  z[64] = a;
  double out = p.flux_net2_b[0];
  for (int o = 0; o < 16; ++o) {
    double hsum = p.flux_net1_b[o];
    for (int i = 0; i < 65; ++i) hsum += p.flux_net1_w[o * 65 + i] * z[i];
    out += p.flux_net2_w[o] * Silu(hsum);
  }
  return std::clamp(Sig(out), 0.01, 0.99);
}

inline double TokenFluxRef(const engine::LamLayerWeights& p, const Mat& kb, const Mat& v, int t) {
  double out = p.tflux_net2_b[0];
  for (int o = 0; o < 16; ++o) {
    double hsum = p.tflux_net1_b[o];
    for (int i = 0; i < 32; ++i) hsum += p.tflux_net1_w[o * 64 + i] * kb.at(t, i) + p.tflux_net1_w[o * 64 + 32 + i] * v.at(t, i);
    out += p.tflux_net2_w[o] * Silu(hsum);
  }
  return std::clamp(Sig(out), 0.01, 0.99);
}

inline Mat BackEnd(const engine::LamLayerWeights& p, const std::vector<Mat>& o, const Front& fe) {
  Mat cat(fe.Lp, 384);
  for (int t = 0; t < fe.Lp; ++t)
    for (int h = 0; h < 12; ++h) {
      double ms = 0;
      for (int d = 0; d < 32; ++d) ms += o[h].at(t, d) * o[h].at(t, d);
      ms /= 32;
      const double r = 1.0 / std::sqrt(ms + 1e-5);
      for (int d = 0; d < 32; ++d)
        cat.at(t, h * 32 + d) = o[h].at(t, d) * r * p.onorm_w[d] * Sig(fe.g.at(t, h * 32 + d));
    }
  Mat y = Linear(cat, p.o, 384);
  Mat cut(fe.L, 384);
  std::copy(y.v.begin(), y.v.begin() + static_cast<size_t>(fe.L) * 384, cut.v.begin());
  return cut;
}

inline Mat LayerF128(const engine::LamLayerWeights& p, const Mat& x) {
  const Front fe = FrontEnd(p, x, engine::Variant::kF128);
  const int c = RefChunkLen(fe.Lp, 128), n = fe.Lp / c;
  std::vector<Mat> out(12, Mat(fe.Lp, 32));
  for (int ci = 0; ci < n; ++ci)
    for (int h = 0; h < 12; ++h) {
      const int r0 = ci * c;
      const Mat t = UtMatrix(fe.k.h[h], fe.kb.h[h], r0, c);
      const Mat u = ApplyT(t, fe.v.h[h], r0, c);
      for (int i = 0; i < c; ++i) {
        double pv[32] = {}, pu[32] = {};
        for (int j = 0; j <= i; ++j) {
          double pij = 0;
          for (int d = 0; d < 32; ++d) pij += fe.q.h[h].at(r0 + i, d) * fe.k.h[h].at(r0 + j, d);
          for (int d = 0; d < 32; ++d) pv[d] += pij * fe.v.h[h].at(r0 + j, d), pu[d] += pij * u.at(j, d);
        }
        for (int d = 0; d < 32; ++d)
          out[h].at(r0 + i, d) = 0.1 * fe.fg.at(r0 + i, h) * pv[d] + 0.9 * fe.sg.at(r0 + i, h) * pu[d];
      }
    }
  return BackEnd(p, out, fe);
}

inline Mat LayerRecurrent(const engine::LamLayerWeights& p, const Mat& x, engine::Variant variant) {
  const bool r32 = variant == engine::Variant::kR32;
  const Front fe = FrontEnd(p, x, variant);
  const int c = RefChunkLen(fe.Lp, r32 ? 32 : 64), n = fe.Lp / c;
  std::vector<Mat> out(12, Mat(fe.Lp, 32));
  std::vector<Mat> sf(12, Mat(32, 32)), ss(12, Mat(32, 32));
  auto fro = [](const Mat& m) {
    double s = 0;
    for (double v : m.v) s += v * v;
    return std::sqrt(s);
  };
  for (int ci = 0; ci < n; ++ci) {
    const int r0 = ci * c;
    std::vector<Mat> us, ws;
    std::vector<double> psis(12);
    for (int h = 0; h < 12; ++h) {
      const Mat t = UtMatrix(fe.k.h[h], fe.kb.h[h], r0, c);
      us.push_back(ApplyT(t, fe.v.h[h], r0, c));
      ws.push_back(ApplyT(t, fe.kb.h[h], r0, c));
      Vec mk(32, 0.0), mu(32, 0.0);
      for (int i = 0; i < c; ++i)
        for (int d = 0; d < 32; ++d) mk[d] += fe.k.h[h].at(r0 + i, d) / c, mu[d] += us[h].at(i, d) / c;
      double a = 0;
      if (r32) {
        for (int i = 0; i < 32; ++i)
          for (int j = 0; j < 32; ++j) a += mk[i] * p.flux_w[i * 32 + j] * mu[j];
        a /= p.flux_temp[(h * n + ci) % 12];
      } else {
        const float* w = p.flux_w + h * 1024;
        for (int t2 = 0; t2 < c; ++t2)
          for (int i = 0; i < 32; ++i)
            for (int j = 0; j < 32; ++j) a += fe.k.h[h].at(r0 + t2, i) * w[i * 32 + j] * us[h].at(t2, j);
        a = a / c / p.flux_temp[h];
      }
      psis[h] = FluxNet(p, mk, mu, a);
    }
    double mean = 0;
    for (double v : psis) mean += v;
    const double cinf = 0.05 + 0.1 * (mean / 12);
    for (int h = 0; h < 12; ++h) {
      const double psi = psis[h];
      double mfd = 0, msd = 0;
      for (int i = 0; i < c; ++i) mfd += fe.fd.at(r0 + i, h) / c, msd += fe.sd.at(r0 + i, h) / c;
      for (auto& v : sf[h].v) v *= mfd * (1 - 0.1 * psi);
      for (auto& v : ss[h].v) v *= msd * (1 - 0.05 * psi);
      Mat rf = sf[h], rs = ss[h];
      const double nf = fro(sf[h]) + 1e-8, ns = fro(ss[h]) + 1e-8;
      for (auto& v : rf.v) v /= nf;
      for (auto& v : rs.v) v /= ns;
      Mat uf(c, 32), usm(c, 32);
      for (int i = 0; i < c; ++i)
        for (int d = 0; d < 32; ++d) {
          double a1 = 0, a2 = 0;
          for (int m = 0; m < 32; ++m) a1 += ws[h].at(i, m) * rf.at(m, d), a2 += ws[h].at(i, m) * rs.at(m, d);
          uf.at(i, d) = us[h].at(i, d) - a1;
          usm.at(i, d) = us[h].at(i, d) - a2;
        }
      for (int i = 0; i < c; ++i) {
        const int t = r0 + i;
        double alpha = r32 ? 0.5 + 0.3 * psi : 0.5 + 0.3 * TokenFluxRef(p, fe.kb.h[h], fe.v.h[h], t);
        double of[32] = {}, os[32] = {};
        for (int d = 0; d < 32; ++d)
          for (int m = 0; m < 32; ++m) of[d] += fe.q.h[h].at(t, m) * rf.at(m, d), os[d] += fe.q.h[h].at(t, m) * rs.at(m, d);
        for (int j = 0; j <= i; ++j) {
          double pij = 0;
          for (int m = 0; m < 32; ++m) pij += fe.q.h[h].at(t, m) * fe.k.h[h].at(r0 + j, m);
          for (int d = 0; d < 32; ++d) of[d] += pij * uf.at(j, d), os[d] += pij * usm.at(j, d);
        }
        for (int d = 0; d < 32; ++d)
          out[h].at(t, d) = alpha * fe.fg.at(t, h) * of[d] + (1 - alpha) * fe.sg.at(t, h) * os[d];
      }
      Mat nf2 = sf[h], ns2 = ss[h];
      for (int a = 0; a < 32; ++a)
        for (int d = 0; d < 32; ++d)
          for (int i = 0; i < c; ++i) {
            nf2.at(a, d) += fe.k.h[h].at(r0 + i, a) * uf.at(i, d);
            ns2.at(a, d) += fe.k.h[h].at(r0 + i, a) * usm.at(i, d);
          }
      Mat xf = nf2, xs = ns2;
      for (size_t e = 0; e < xf.v.size(); ++e) {
        xf.v[e] = nf2.v[e] + cinf * psi * ns2.v[e];
        xs.v[e] = ns2.v[e] + cinf * (1 - psi) * nf2.v[e];
      }
      const double mf = fro(xf) + 1e-8, ms = fro(xs) + 1e-8;
      for (auto& v : xf.v) v /= mf;
      for (auto& v : xs.v) v /= ms;
      sf[h] = xf;
      ss[h] = xs;
    }
  }
  return BackEnd(p, out, fe);
}

inline Mat EmbedRef(const engine::ModelWeights& w, const std::vector<int32_t>& ids) {
  const int L = static_cast<int>(ids.size());
  const int table = w.config.position_table;
  Mat x(L, 384);
  for (int t = 0; t < L; ++t) {
    for (int i = 0; i < 384; ++i) {
      double pos;
      if (L <= table) {
        pos = w.pos[static_cast<size_t>(t) * 384 + i];
      } else {
        const float s = static_cast<float>(table - 1) / static_cast<float>(L - 1);
        const float pf = static_cast<float>(t) * s;
        const int lo = static_cast<int>(pf), hi = std::min(lo + 1, table - 1);
        const double wt = pf - static_cast<float>(lo);
        pos = (1 - wt) * w.pos[static_cast<size_t>(lo) * 384 + i] + wt * w.pos[static_cast<size_t>(hi) * 384 + i];
      }
      x.at(t, i) = static_cast<double>(w.word[static_cast<size_t>(ids[t]) * 384 + i]) + pos + w.type[i];
    }
  }
  LayerNorm(x, w.emb_ln_w, w.emb_ln_b, 1e-12);
  return x;
}

// The whole model for one sequence: L2-normalised mean-pooled embedding.
inline Vec ForwardRef(const engine::ModelWeights& w, const std::vector<int32_t>& ids) {
  Mat x = EmbedRef(w, ids);
  const auto variant = w.config.variant;
  for (const auto& p : w.lam_layers) {
    const Mat mix = variant == engine::Variant::kF128 ? LayerF128(p, x) : LayerRecurrent(p, x, variant);
    for (size_t e = 0; e < x.v.size(); ++e) x.v[e] += mix.v[e];
    LayerNorm(x, p.ln1_w, p.ln1_b, 1e-12);
    Mat a = Linear(x, p.ffn1_w, 1536, p.ffn1_b);
    for (auto& v : a.v) v = Gelu(Gelu(v));
    const Mat y = Linear(a, p.ffn2_w, 384, p.ffn2_b);
    for (size_t e = 0; e < x.v.size(); ++e) x.v[e] += y.v[e];
    LayerNorm(x, p.ln2_w, p.ln2_b, 1e-12);
  }
  Vec e(384, 0.0);
  for (int t = 0; t < x.rows; ++t)
    for (int i = 0; i < 384; ++i) e[i] += x.at(t, i);
  double n2 = 0;
  for (auto& v : e) v /= x.rows, n2 += v * v;
  const double inv = 1.0 / std::max(std::sqrt(n2), 1e-12);
  for (auto& v : e) v *= inv;
  return e;
}

}  // namespace lam::enginetest
