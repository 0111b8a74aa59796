// SPDX-License-Identifier: MIT
// The NVRTC kernel bodies (lam_kernels.cuh) run on the host, checked against straightforward
// double-precision loops written from lam-model.md. Needs no GPU and no CUDA toolkit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "backend/cuda/kernels_host.h"

namespace lam::cuda {
namespace {

constexpr int H = LAM_HIDDEN, NH = LAM_HEADS, D = LAM_HEAD_DIM;

std::vector<float> Random(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Packed layout for the given lengths, optionally with a gap after each sequence (padded).
struct Layout {
  std::vector<int> start, len;
  int rows = 0;
  Layout(std::vector<int> lengths, int gap = 0) : len(std::move(lengths)) {
    for (int l : len) {
      start.push_back(rows);
      rows += l + gap;
    }
  }
  int n() const { return static_cast<int>(len.size()); }
};

// max |a - b| / max(1, max |b|)
double RelErr(const std::vector<float>& a, const std::vector<double>& b) {
  double err = 0, scale = 1;
  for (size_t i = 0; i < b.size(); ++i) {
    err = std::max(err, std::abs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return err / scale;
}

void LayerNormRef(const double* v, const float* w, const float* b, double* out) {
  double mean = 0, var = 0;
  for (int c = 0; c < H; ++c) mean += v[c];
  mean /= H;
  for (int c = 0; c < H; ++c) var += (v[c] - mean) * (v[c] - mean);
  var /= H;
  for (int c = 0; c < H; ++c) out[c] = (v[c] - mean) / std::sqrt(var + 1e-12) * w[c] + b[c];
}

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double Gelu(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

TEST(NvrtcKernelsHost, ChunkSizeFollowsTheSpecTable) {
  // lam-model.md §4.1 step 7 table: columns R32 (32), R64T (64), F128 (128).
  struct Row {
    int L, c32, c64, c128;
  };
  const Row rows[] = {{1, 1, 1, 1},        {5, 5, 5, 5},          {63, 63, 63, 63},
                      {64, 32, 64, 64},    {96, 32, 96, 96},      {100, 32, 64, 128},
                      {200, 32, 224, 224}, {256, 32, 64, 128},    {8000, 32, 64, 8000}};
  for (const Row& r : rows) {
    EXPECT_EQ(lamk::chunk_size(r.L, 32), r.c32) << r.L;
    EXPECT_EQ(lamk::chunk_size(r.L, 64), r.c64) << r.L;
    EXPECT_EQ(lamk::chunk_size(r.L, 128), r.c128) << r.L;
  }
}

TEST(NvrtcKernelsHost, PositionInterpolationUsesFloat32AndStaysInTable) {
  int lo = -1, hi = -1;
  float w = -1;
  lamk::pos_interp(17, 512, &lo, &hi, &w);
  EXPECT_EQ(lo, 17);
  EXPECT_EQ(hi, 17);
  EXPECT_EQ(w, 0.0f);
  for (int L : {513, 700, 1000, 8192}) {
    const float s = static_cast<float>(511.0 / (L - 1));
    for (int t = 0; t < L; ++t) {
      lamk::pos_interp(t, L, &lo, &hi, &w);
      const float p = static_cast<float>(t) * s;
      ASSERT_EQ(lo, static_cast<int>(p)) << L << " " << t;
      ASSERT_EQ(hi, std::min(lo + 1, 511));
      ASSERT_EQ(w, p - static_cast<float>(lo));
      ASSERT_GE(w, 0.0f);
      ASSERT_LT(w, 1.0f);
    }
    lamk::pos_interp(0, L, &lo, &hi, &w);
    EXPECT_EQ(lo, 0);
    EXPECT_EQ(w, 0.0f);
  }
}

TEST(NvrtcKernelsHost, EmbedLayerNormMatchesDouble) {
  const Layout lay({5, 700, 1}, /*gap=*/3);
  std::vector<float> word(static_cast<size_t>(LAM_VOCAB) * H, 0.0f);
  const auto used = Random(64 * H, 1);
  std::copy(used.begin(), used.end(), word.begin());
  const auto pos = Random(LAM_POS_ROWS * H, 2), type0 = Random(H, 3);
  const auto w = Random(H, 4, 0.5f, 1.5f), b = Random(H, 5);
  std::vector<int> ids(lay.rows, 0);
  std::mt19937 rng(6);
  for (int& id : ids) id = static_cast<int>(rng() % 64);
  std::vector<float> out(static_cast<size_t>(lay.rows) * H, 777.0f);
  host::EmbedLn(ids.data(), lay.start.data(), lay.len.data(), lay.n(), word.data(), pos.data(),
                type0.data(), w.data(), b.data(), out.data());

  for (int s = 0; s < lay.n(); ++s) {
    const int L = lay.len[s];
    std::vector<float> got;
    std::vector<double> ref;
    for (int t = 0; t < L; ++t) {
      const long row = lay.start[s] + t;
      double v[H], y[H];
      // §3: float32 index and weight, then the blend (here in double).
      const float sc = static_cast<float>(511.0 / (L - 1));
      const float p = static_cast<float>(t) * sc;
      const int lo = L <= 512 ? t : static_cast<int>(p);
      const int hi = L <= 512 ? t : std::min(lo + 1, 511);
      const double wt = L <= 512 ? 0.0 : static_cast<double>(p - static_cast<float>(lo));
      for (int c = 0; c < H; ++c) {
        const double pe = (1 - wt) * pos[lo * H + c] + wt * pos[hi * H + c];
        v[c] = static_cast<double>(word[static_cast<size_t>(ids[row]) * H + c]) + type0[c] + pe;
      }
      LayerNormRef(v, w.data(), b.data(), y);
      for (int c = 0; c < H; ++c) {
        got.push_back(out[row * H + c]);
        ref.push_back(y[c]);
      }
    }
    EXPECT_LT(RelErr(got, ref), 2e-6) << "sequence " << s;
    // Rows past the sequence (the padding gap) are never written.
    for (int t = L; t < L + 3; ++t) EXPECT_EQ(out[(lay.start[s] + t) * H], 777.0f);
  }
}

TEST(NvrtcKernelsHost, QkvConvSiluNormsAndGatesMatchDouble) {
  const Layout lay({1, 2, 7, 40});
  const auto proj = Random(static_cast<size_t>(lay.rows) * LAM_QKV, 11);
  const auto logits = Random(static_cast<size_t>(lay.rows) * LAM_GATES, 12, -3.0f, 3.0f);
  const auto cw = Random(LAM_QKV * 4, 13), cb = Random(LAM_QKV, 14, -0.2f, 0.2f);
  std::vector<float> q(lay.rows * H), k(lay.rows * H), v(lay.rows * H), g(lay.rows * LAM_GATES);
  host::QkvConv(proj.data(), logits.data(), lay.start.data(), lay.len.data(), lay.n(), cw.data(),
                cb.data(), q.data(), k.data(), v.data(), g.data());

  std::vector<double> rq(q.size()), rk(k.size()), rv(v.size()), rg(g.size());
  for (int s = 0; s < lay.n(); ++s) {
    const int L = lay.len[s];
    for (int t = 0; t < L; ++t) {
      const long row = lay.start[s] + t;
      double act[LAM_QKV];
      for (int c = 0; c < LAM_QKV; ++c) {
        double acc = cb[c];
        for (int j = 0; j < 4; ++j) {  // taps t-2..t+1, zero outside [0, L)
          const int tau = t + j - 2;
          if (tau >= 0 && tau < L) acc += double(cw[c * 4 + j]) * proj[(lay.start[s] + tau) * LAM_QKV + c];
        }
        act[c] = acc * Sigmoid(acc);
      }
      for (int h = 0; h < NH; ++h) {
        double nq = 0, nk = 0;
        for (int d = 0; d < D; ++d) {
          nq += act[h * D + d] * act[h * D + d];
          nk += act[H + h * D + d] * act[H + h * D + d];
        }
        nq = std::max(std::sqrt(nq), 1e-12);
        nk = std::max(std::sqrt(nk), 1e-12);
        const double beta = Sigmoid(logits[row * LAM_GATES + h]);
        for (int d = 0; d < D; ++d) {
          rq[row * H + h * D + d] = act[h * D + d] / nq;
          rk[row * H + h * D + d] = act[H + h * D + d] / nk;
          rv[row * H + h * D + d] = beta * act[2 * H + h * D + d];
        }
        for (int m = 0; m < 3; ++m) {
          rg[row * LAM_GATES + m * NH + h] = Sigmoid(logits[row * LAM_GATES + m * NH + h]);
        }
      }
    }
  }
  EXPECT_LT(RelErr(q, rq), 1e-6);
  EXPECT_LT(RelErr(k, rk), 1e-6);
  EXPECT_LT(RelErr(v, rv), 1e-6);
  EXPECT_LT(RelErr(g, rg), 1e-6);
}

// §4.1 step 8 + §4.2 exactly as the original computes it: T = I + A + SL(A A^T), u = T vhat,
// o = 0.1 fg (P vhat) + 0.9 sg (P u), per chunk of the layout of §4.1 step 7.
void F128DenseRef(const std::vector<float>& q, const std::vector<float>& k,
                  const std::vector<float>& vh, const std::vector<float>& gates, long base, int L,
                  std::vector<double>* o) {
  const int lp = (L >= 64 && L % 32 != 0) ? (L / 32 + 1) * 32 : L;
  const int c = (lp % 128 == 0 && lp >= 128) ? 128 : lp;
  for (int h = 0; h < NH; ++h) {
    for (int begin = 0; begin < L; begin += c) {
      const int n = std::min(begin + c, L) - begin;  // rows past L cannot reach rows < L
      auto K = [&](int i, int d) { return double(k[(base + begin + i) * H + h * D + d]); };
      auto Q = [&](int i, int d) { return double(q[(base + begin + i) * H + h * D + d]); };
      auto V = [&](int i, int d) { return double(vh[(base + begin + i) * H + h * D + d]); };
      auto G = [&](int i, int m) { return double(gates[(base + begin + i) * LAM_GATES + m * NH + h]); };
      std::vector<double> A(n * n, 0.0), T(n * n, 0.0), U(n * D, 0.0);
      for (int i = 0; i < n; ++i) {
        for (int j = 0; j < i; ++j) {
          double kk = 0;
          for (int d = 0; d < D; ++d) kk += K(i, d) * K(j, d);
          A[i * n + j] = -G(i, 0) * kk;
        }
      }
      for (int i = 0; i < n; ++i) {
        T[i * n + i] = 1.0;
        for (int j = 0; j < i; ++j) {
          double aat = 0;
          for (int m = 0; m < n; ++m) aat += A[i * n + m] * A[j * n + m];
          T[i * n + j] = A[i * n + j] + aat;
        }
      }
      for (int i = 0; i < n; ++i) {
        for (int j = 0; j <= i; ++j) {
          for (int d = 0; d < D; ++d) U[i * D + d] += T[i * n + j] * V(j, d);
        }
      }
      for (int i = 0; i < n; ++i) {
        double pv[D] = {}, pu[D] = {};
        for (int j = 0; j <= i; ++j) {  // P[i,j] = q_i . k_j, causal including the diagonal
          double qk = 0;
          for (int e = 0; e < D; ++e) qk += Q(i, e) * K(j, e);
          for (int d = 0; d < D; ++d) {
            pv[d] += qk * V(j, d);
            pu[d] += qk * U[j * D + d];
          }
        }
        for (int d = 0; d < D; ++d) {
          (*o)[(base + begin + i) * H + h * D + d] = 0.1 * G(i, 1) * pv[d] + 0.9 * G(i, 2) * pu[d];
        }
      }
    }
  }
}

TEST(NvrtcKernelsHost, F128ScanMatchesTheDenseChunkForm) {
  // One chunk of L, 1x64, 1x128 (L'=128), one chunk of 224, 2x128, one chunk of 320.
  const Layout lay({1, 5, 64, 100, 200, 256, 300});
  const size_t n = static_cast<size_t>(lay.rows) * H;
  auto q = Random(n, 21), k = Random(n, 22);
  for (long r = 0; r < static_cast<long>(lay.rows) * NH; ++r) {  // unit q and k per head
    for (auto* m : {&q, &k}) {
      double s = 0;
      for (int d = 0; d < D; ++d) s += double((*m)[r * D + d]) * (*m)[r * D + d];
      for (int d = 0; d < D; ++d) (*m)[r * D + d] = static_cast<float>((*m)[r * D + d] / std::sqrt(s));
    }
  }
  const auto vh = Random(n, 23);
  const auto gates = Random(static_cast<size_t>(lay.rows) * LAM_GATES, 24, 0.05f, 0.95f);
  std::vector<float> o(n);
  host::F128Scan(q.data(), k.data(), vh.data(), gates.data(), lay.start.data(), lay.len.data(),
                 lay.n(), o.data());
  std::vector<double> ref(n);
  for (int s = 0; s < lay.n(); ++s) F128DenseRef(q, k, vh, gates, lay.start[s], lay.len[s], &ref);
  for (int s = 0; s < lay.n(); ++s) {
    const size_t b = static_cast<size_t>(lay.start[s]) * H, e = b + static_cast<size_t>(lay.len[s]) * H;
    const std::vector<float> got(o.begin() + b, o.begin() + e);
    const std::vector<double> want(ref.begin() + b, ref.begin() + e);
    EXPECT_LT(RelErr(got, want), 2e-5) << "L = " << lay.len[s];
  }
  // The 2x128 case really resets: the second block equals the block computed on its own.
  const Layout alone({128});
  const long off = lay.start[5] + 128;
  std::vector<float> o2(128 * H);
  host::F128Scan(q.data() + off * H, k.data() + off * H, vh.data() + off * H,
                 gates.data() + off * LAM_GATES, alone.start.data(), alone.len.data(), 1, o2.data());
  for (int i = 0; i < 128 * H; ++i) ASSERT_EQ(o2[i], o[off * H + i]) << i;
}

TEST(NvrtcKernelsHost, GatedRmsNormMatchesDouble) {
  const Layout lay({3, 9});
  const size_t n = static_cast<size_t>(lay.rows) * H;
  const auto o = Random(n, 31, -2, 2), g = Random(n, 32, -4, 4), w = Random(D, 33, 0.5f, 1.5f);
  std::vector<float> out(n);
  host::GatedRmsNorm(o.data(), g.data(), lay.start.data(), lay.len.data(), lay.n(), w.data(),
                     out.data());
  std::vector<double> ref(n);
  for (long r = 0; r < lay.rows; ++r) {
    for (int h = 0; h < NH; ++h) {
      double ms = 0;
      for (int d = 0; d < D; ++d) ms += double(o[r * H + h * D + d]) * o[r * H + h * D + d];
      const double inv = 1.0 / std::sqrt(ms / D + 1e-5);
      for (int d = 0; d < D; ++d) {
        const long i = r * H + h * D + d;
        ref[i] = o[i] * inv * w[d] * Sigmoid(g[i]);
      }
    }
  }
  EXPECT_LT(RelErr(out, ref), 1e-6);
}

TEST(NvrtcKernelsHost, BiasDoubleGeluMatchesDouble) {
  const int rows = 3;
  const auto x = Random(rows * LAM_FFN, 41, -6, 6), b = Random(LAM_FFN, 42);
  std::vector<float> out(x.size());
  host::BiasGelu2(x.data(), b.data(), rows, out.data());
  std::vector<double> ref(x.size());
  for (size_t i = 0; i < x.size(); ++i) ref[i] = Gelu(Gelu(double(x[i]) + b[i % LAM_FFN]));
  EXPECT_LT(RelErr(out, ref), 1e-6);
  EXPECT_EQ(lamk::bias_gelu2(-10.0f, 0.0f), 0.0f);  // GELU(-10) underflows to -0: GELU(-0) = 0
}

TEST(NvrtcKernelsHost, ResidualLayerNormMatchesDouble) {
  const Layout lay({4, 6});
  const size_t n = static_cast<size_t>(lay.rows) * H;
  const auto x = Random(n, 51), d = Random(n, 52), bias = Random(H, 53);
  const auto w = Random(H, 54, 0.5f, 1.5f), b = Random(H, 55);
  for (const float* bp : {static_cast<const float*>(nullptr), bias.data()}) {
    std::vector<float> out(n);
    host::ResidualLn(x.data(), d.data(), bp, lay.start.data(), lay.len.data(), lay.n(), w.data(),
                     b.data(), out.data());
    std::vector<double> ref(n);
    for (long r = 0; r < lay.rows; ++r) {
      double v[H];
      for (int c = 0; c < H; ++c) v[c] = double(x[r * H + c]) + d[r * H + c] + (bp ? bp[c] : 0.0);
      LayerNormRef(v, w.data(), b.data(), ref.data() + r * H);
    }
    EXPECT_LT(RelErr(out, ref), 2e-6) << (bp ? "with bias" : "without bias");
  }
}

TEST(NvrtcKernelsHost, MeanPoolL2MatchesDouble) {
  const Layout lay({1, 17, 300}, /*gap=*/5);
  const auto y = Random(static_cast<size_t>(lay.rows) * H, 61, -3, 3);
  std::vector<float> out(lay.n() * H);
  host::MeanPoolL2(y.data(), lay.start.data(), lay.len.data(), lay.n(), out.data());
  std::vector<double> ref(out.size());
  for (int s = 0; s < lay.n(); ++s) {
    double e[H], norm = 0;
    for (int c = 0; c < H; ++c) {
      e[c] = 0;
      for (int t = 0; t < lay.len[s]; ++t) e[c] += y[(lay.start[s] + t) * H + c];
      e[c] /= lay.len[s];
      norm += e[c] * e[c];
    }
    for (int c = 0; c < H; ++c) ref[s * H + c] = e[c] / std::max(std::sqrt(norm), 1e-12);
  }
  EXPECT_LT(RelErr(out, ref), 1e-6);
}

}  // namespace
}  // namespace lam::cuda
