// SPDX-License-Identifier: MIT
// Delta-rule cores: the O(L d^2) scan forms against the dense per-chunk forms (float) and a
// double-precision loop, causality of the scan, and the R64T single-chunk shortcut.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cpu/cpu_mixer.h"
#include "backend/cpu/cpu_ops.h"
#include "engine/synthetic_model.h"

namespace lam::cpu {
namespace {

// Front-end-like rows: unit q and k per head, v already scaled by beta, sigmoid scalars.
struct Rows {
  std::vector<float> f, s;
  int len;
};

Rows MakeRows(int len, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n;
  std::uniform_real_distribution<float> u(0.05f, 0.95f);
  Rows r{std::vector<float>(static_cast<size_t>(len) * kFCols), std::vector<float>(static_cast<size_t>(len) * kSCols), len};
  for (int t = 0; t < len; ++t) {
    float* s = &r.s[static_cast<size_t>(t) * kSCols];
    for (int c = 0; c < 72; ++c) s[c] = u(rng);  // up to kStau + 11
    float* f = &r.f[static_cast<size_t>(t) * kFCols];
    for (int h = 0; h < kHeads; ++h) {
      for (int part : {kFq, kFk}) {
        double n2 = 0;
        for (int d = 0; d < kHd; ++d) {
          f[part + h * kHd + d] = n(rng);
          n2 += f[part + h * kHd + d] * f[part + h * kHd + d];
        }
        for (int d = 0; d < kHd; ++d) f[part + h * kHd + d] /= static_cast<float>(std::sqrt(n2));
      }
      for (int d = 0; d < kHd; ++d) f[kFv + h * kHd + d] = s[kSbeta + h] * n(rng);
    }
  }
  return r;
}

// F128 chunk in double: T = I + A + SL(AA^T), u = T v, o = 0.1 fg P v + 0.9 sg P u.
std::vector<double> F128Double(const Rows& r, int h) {
  const int n = r.len;
  auto K = [&](int t, int d) { return static_cast<double>(r.f[static_cast<size_t>(t) * kFCols + kFk + h * kHd + d]); };
  auto Q = [&](int t, int d) { return static_cast<double>(r.f[static_cast<size_t>(t) * kFCols + kFq + h * kHd + d]); };
  auto V = [&](int t, int d) { return static_cast<double>(r.f[static_cast<size_t>(t) * kFCols + kFv + h * kHd + d]); };
  auto S = [&](int t, int c) { return static_cast<double>(r.s[static_cast<size_t>(t) * kSCols + c]); };
  std::vector<double> a(static_cast<size_t>(n) * n, 0.0), u(static_cast<size_t>(n) * kHd, 0.0), o(u.size());
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < i; ++j) {
      double dot = 0;
      for (int d = 0; d < kHd; ++d) dot += K(i, d) * K(j, d);
      a[i * n + j] = -S(i, kSbeta + h) * dot;
    }
  for (int i = 0; i < n; ++i)
    for (int j = 0; j <= i; ++j) {
      double t = (i == j) ? 1.0 : a[i * n + j];
      if (j < i)
        for (int m = 0; m < j; ++m) t += a[i * n + m] * a[j * n + m];
      for (int d = 0; d < kHd; ++d) u[i * kHd + d] += t * V(j, d);
    }
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j <= i; ++j) {
      double p = 0;
      for (int d = 0; d < kHd; ++d) p += Q(i, d) * K(j, d);
      for (int d = 0; d < kHd; ++d)
        o[i * kHd + d] += 0.1 * S(i, kSfg + h) * p * V(j, d) + 0.9 * S(i, kSsg + h) * p * u[j * kHd + d];
    }
  }
  return o;
}

TEST(CpuMixerTest, F128ScanMatchesDenseFormAndDoubleReference) {
  for (int len : {1, 2, 33, 128, 224}) {
    const Rows r = MakeRows(len, 100 + len);
    std::vector<float> scan(static_cast<size_t>(len) * kDm, 0.0f), dense(scan.size(), 0.0f);
    for (int h = 0; h < kHeads; ++h) {
      F128ScanChunk(r.f.data(), r.s.data(), scan.data(), len, h);
      F128DenseChunk(r.f.data(), r.s.data(), dense.data(), len, h);
    }
    for (int h : {0, 7}) {
      const auto want = F128Double(r, h);
      double max_err = 0, max_ref = 0;
      for (int t = 0; t < len; ++t)
        for (int d = 0; d < kHd; ++d) {
          const double w = want[t * kHd + d];
          max_ref = std::max(max_ref, std::abs(w));
          max_err = std::max(max_err, std::abs(scan[static_cast<size_t>(t) * kDm + h * kHd + d] - w));
          max_err = std::max(max_err, std::abs(dense[static_cast<size_t>(t) * kDm + h * kHd + d] - w));
        }
      EXPECT_LT(max_err, 2e-5 * std::max(1.0, max_ref)) << "len " << len << " head " << h;
    }
  }
}

TEST(CpuMixerTest, ScanIsCausalSoLongSingleChunksArePrefixExact) {
  // A single chunk of 8000 (F128 at L' = 8000) costs O(L d^2); its first rows equal the scan of
  // the prefix bit for bit.
  const Rows r = MakeRows(8000, 9);
  std::vector<float> full(static_cast<size_t>(8000) * kDm), prefix(static_cast<size_t>(300) * kDm);
  F128ScanChunk(r.f.data(), r.s.data(), full.data(), 8000, 3);
  F128ScanChunk(r.f.data(), r.s.data(), prefix.data(), 300, 3);
  for (int t = 0; t < 300; ++t) {
    ASSERT_EQ(0, std::memcmp(&full[static_cast<size_t>(t) * kDm + 3 * kHd], &prefix[static_cast<size_t>(t) * kDm + 3 * kHd], kHd * sizeof(float)));
  }
  for (int t = 0; t < 8000; t += 97) {
    for (int d = 0; d < kHd; ++d) ASSERT_TRUE(std::isfinite(full[static_cast<size_t>(t) * kDm + 3 * kHd + d]));
  }
}

TEST(CpuMixerTest, R64TSingleChunkScanEqualsTheDenseRecurrentPath) {
  engine::SyntheticModel m(engine::Variant::kR64T, 4, 1, 10);
  const auto& w = m.weights().lam_layers[0];
  for (int len : {5, 64}) {  // N = 1 either way; the dense path handles c <= 64
    const Rows r = MakeRows(len, 200 + len);
    const size_t n = static_cast<size_t>(len) * kDm;
    std::vector<float> scan(n, 0.0f), dense(n, 0.0f), u(n), wk(n);
    for (int h = 0; h < kHeads; ++h) {
      R64TSingleChunkScan(r.f.data(), r.s.data(), scan.data(), len, h);
      const float psi = RecurrentChunkPrepare(w, engine::Variant::kR64T, r.f.data(), r.s.data(), u.data(), wk.data(), len, h, 0, 1);
      const float cross = 0.05f + 0.1f * psi;
      std::vector<float> psis(kHeads, psi);
      RecurrentHeadRun(engine::Variant::kR64T, r.f.data(), r.s.data(), u.data(), wk.data(), dense.data(), len, 1, h, psis.data(), &cross);
    }
    for (size_t i = 0; i < n; ++i) ASSERT_NEAR(scan[i], dense[i], 2e-5 * std::max(1.0f, std::abs(dense[i]))) << i;
  }
}

TEST(CpuMixerTest, TokenFluxIsClampedSigmoidOfTheMlp) {
  engine::SyntheticModel m(engine::Variant::kR64T, 6, 1, 10);
  const auto& w = m.weights().lam_layers[0];
  std::vector<float> w1t(64 * 16);
  for (int o = 0; o < 16; ++o)
    for (int i = 0; i < 64; ++i) w1t[i * 16 + o] = w.tflux_net1_w[o * 64 + i];
  std::vector<float> kb(kHd), v(kHd);
  for (int i = 0; i < kHd; ++i) kb[i] = 0.05f * (i - 16), v[i] = -0.2f + 0.01f * i;
  double out = w.tflux_net2_b[0];
  for (int o = 0; o < 16; ++o) {
    double hs = w.tflux_net1_b[o];
    for (int i = 0; i < kHd; ++i) hs += w.tflux_net1_w[o * 64 + i] * kb[i] + w.tflux_net1_w[o * 64 + 32 + i] * v[i];
    out += w.tflux_net2_w[o] * hs / (1 + std::exp(-hs));
  }
  const double want = std::min(0.99, std::max(0.01, 1 / (1 + std::exp(-out))));
  EXPECT_NEAR(TokenFlux(w1t.data(), w.tflux_net1_b, w.tflux_net2_w, w.tflux_net2_b, kb.data(), v.data()), want, 1e-6);
}

}  // namespace
}  // namespace lam::cpu
