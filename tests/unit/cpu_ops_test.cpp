// SPDX-License-Identifier: MIT
// Per-row CPU ops against simple double-precision loops (lam-model.md 3, 4.1, 4.5, 5).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/cpu_math.h"
#include "backend/cpu/cpu_ops.h"
#include "engine/synthetic_model.h"

namespace lam::cpu {
namespace {

std::vector<float> Random(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

double Sig(double x) { return 1.0 / (1.0 + std::exp(-x)); }

TEST(CpuMathTest, ExpSigmoidSiluAreAccurate) {
  for (double x = -80.0; x <= 80.0; x += 0.0137) {
    const float xf = static_cast<float>(x);
    const double want = std::exp(static_cast<double>(xf));
    EXPECT_NEAR(ExpF(xf) / want, 1.0, 4e-7) << x;
    EXPECT_NEAR(SigmoidF(xf), Sig(xf), 2e-7) << x;
    EXPECT_NEAR(SiluF(xf), xf * Sig(xf), 2e-7 * std::max(1.0, std::abs(x))) << x;
  }
  EXPECT_EQ(SigmoidF(-200.0f) >= 0.0f, true);
  EXPECT_EQ(SigmoidF(200.0f), 1.0f);
}

TEST(CpuLayoutTest, PaddingAndChunkRulesMatchTheSpecTable) {
  EXPECT_EQ(LayerPaddedLength(1), 1);
  EXPECT_EQ(LayerPaddedLength(63), 63);
  EXPECT_EQ(LayerPaddedLength(64), 64);
  EXPECT_EQ(LayerPaddedLength(65), 96);
  EXPECT_EQ(LayerPaddedLength(100), 128);
  EXPECT_EQ(LayerPaddedLength(200), 224);
  EXPECT_EQ(LayerPaddedLength(8000), 8000);
  // lam-model.md 4.1 step 7 table: (L', R32, R64T, F128).
  const int table[][4] = {{33, 33, 33, 33},  {64, 32, 64, 64},     {96, 32, 96, 96},
                          {128, 32, 64, 128}, {224, 32, 224, 224}, {256, 32, 64, 128},
                          {8000, 32, 64, 8000}, {8160, 32, 8160, 8160}, {8192, 32, 64, 128}};
  for (const auto& row : table) {
    EXPECT_EQ(ChunkLength(row[0], 32), row[1]) << row[0];
    EXPECT_EQ(ChunkLength(row[0], 64), row[2]) << row[0];
    EXPECT_EQ(ChunkLength(row[0], 128), row[3]) << row[0];
  }
}

TEST(CpuOpsTest, EmbedRowWithAndWithoutPositionInterpolation) {
  engine::SyntheticModel m(engine::Variant::kF128, 5, 1, 100);
  const auto& w = m.weights();
  for (int len : {7, 512, 513, 8192}) {
    for (int t : {0, 1, len / 3, len - 1}) {
      std::vector<float> got(kDm);
      EmbedRow(w, 42, t, len, got.data());
      std::vector<double> x(kDm);
      for (int i = 0; i < kDm; ++i) {
        double pos;
        if (len <= 512) {
          pos = w.pos[t * kDm + i];
        } else {
          const float s = 511.0f / static_cast<float>(len - 1);
          const float p = static_cast<float>(t) * s;
          const int lo = static_cast<int>(p), hi = std::min(lo + 1, 511);
          const double f = p - static_cast<float>(lo);
          pos = (1 - f) * w.pos[lo * kDm + i] + f * w.pos[hi * kDm + i];
        }
        x[i] = w.word[42 * kDm + i] + pos + w.type[i];
      }
      double mu = 0, var = 0;
      for (double v : x) mu += v / kDm;
      for (double v : x) var += (v - mu) * (v - mu) / kDm;
      for (int i = 0; i < kDm; ++i) {
        const double want = (x[i] - mu) / std::sqrt(var + 1e-12) * w.emb_ln_w[i] + w.emb_ln_b[i];
        ASSERT_NEAR(got[i], want, 2e-5) << "len " << len << " t " << t << " i " << i;
      }
    }
  }
}

TEST(CpuOpsTest, FrontRowConvSiluNormsAndScalars) {
  const auto conv_w = Random(4 * kQkv, 1, 0.5f), conv_b = Random(kQkv, 2, 0.1f);
  const auto fdb = Random(kHeads, 3), fdb2 = Random(kHeads, 4), sdb = Random(kHeads, 5), sdb2 = Random(kHeads, 6);
  FrontParams p{conv_w.data(), conv_b.data(), fdb.data(), fdb2.data(), sdb.data(), sdb2.data()};
  const auto z = Random(4 * kZCols, 7, 2.0f);
  for (int missing = -1; missing < 4; ++missing) {
    if (missing == 2) continue;  // the token itself always exists
    const float* taps[4];
    for (int j = 0; j < 4; ++j) taps[j] = j == missing ? nullptr : z.data() + j * kZCols;
    std::vector<float> f(kFCols), s(kSCols);
    FrontRow(taps, p, f.data(), s.data());
    const float* zt = taps[2];
    std::vector<double> act(kQkv);
    for (int c = 0; c < kQkv; ++c) {
      double acc = conv_b[c];
      for (int j = 0; j < 4; ++j)
        if (taps[j]) acc += static_cast<double>(conv_w[j * kQkv + c]) * taps[j][c];
      act[c] = acc * Sig(acc);
    }
    for (int h = 0; h < kHeads; ++h) {
      const double beta = Sig(zt[kZbeta + h]);
      EXPECT_NEAR(s[kSbeta + h], beta, 1e-6);
      EXPECT_NEAR(s[kSfg + h], Sig(zt[kZfg + h]), 1e-6);
      EXPECT_NEAR(s[kSsg + h], Sig(zt[kZsg + h]), 1e-6);
      EXPECT_NEAR(s[kSfd + h], Sig(static_cast<double>(zt[kZfd + h]) + fdb[h] + fdb2[h]), 1e-6);
      EXPECT_NEAR(s[kSsd + h], Sig(static_cast<double>(zt[kZsd + h]) + sdb[h] + sdb2[h]), 1e-6);
      double nq = 0, nk = 0;
      for (int d = 0; d < kHd; ++d) {
        nq += act[h * kHd + d] * act[h * kHd + d];
        nk += act[kDm + h * kHd + d] * act[kDm + h * kHd + d];
      }
      nq = std::max(std::sqrt(nq), 1e-12);
      nk = std::max(std::sqrt(nk), 1e-12);
      for (int d = 0; d < kHd; ++d) {
        EXPECT_NEAR(f[kFq + h * kHd + d], act[h * kHd + d] / nq, 2e-6);
        EXPECT_NEAR(f[kFk + h * kHd + d], act[kDm + h * kHd + d] / nk, 2e-6);
        EXPECT_NEAR(f[kFv + h * kHd + d], beta * act[2 * kDm + h * kHd + d], 2e-6);
      }
    }
  }
}

TEST(CpuOpsTest, GatedRmsNormAndLayerNormAndPooling) {
  auto o = Random(kDm, 8, 3.0f);
  const auto g = Random(kDm, 9, 2.0f), w = Random(kHd, 10);
  const auto orig = o;
  GatedRmsNormRow(o.data(), g.data(), w.data());
  for (int h = 0; h < kHeads; ++h) {
    double ms = 0;
    for (int d = 0; d < kHd; ++d) ms += static_cast<double>(orig[h * kHd + d]) * orig[h * kHd + d] / kHd;
    for (int d = 0; d < kHd; ++d) {
      const double want = orig[h * kHd + d] / std::sqrt(ms + 1e-5) * w[d] * Sig(g[h * kHd + d]);
      ASSERT_NEAR(o[h * kHd + d], want, 2e-6);
    }
  }
  const auto a = Random(kDm, 11, 5.0f), b = Random(kDm, 12), gam = Random(kDm, 13), bet = Random(kDm, 14);
  std::vector<float> y(kDm);
  AddLayerNormRow(a.data(), b.data(), gam.data(), bet.data(), 1e-12f, y.data());
  double mu = 0, var = 0;
  for (int i = 0; i < kDm; ++i) mu += (static_cast<double>(a[i]) + b[i]) / kDm;
  for (int i = 0; i < kDm; ++i) var += (a[i] + b[i] - mu) * (a[i] + b[i] - mu) / kDm;
  for (int i = 0; i < kDm; ++i) {
    ASSERT_NEAR(y[i], (a[i] + b[i] - mu) / std::sqrt(var + 1e-12) * gam[i] + bet[i], 1e-5);
  }
  const auto rows = Random(5 * kDm, 15);
  std::vector<float> e(kDm);
  PoolRows(rows.data(), 5, e.data());
  std::vector<double> m(kDm, 0.0);
  double n2 = 0;
  for (int t = 0; t < 5; ++t)
    for (int i = 0; i < kDm; ++i) m[i] += rows[t * kDm + i] / 5.0;
  for (double v : m) n2 += v * v;
  for (int i = 0; i < kDm; ++i) ASSERT_NEAR(e[i], m[i] / std::sqrt(n2), 1e-7);
}

}  // namespace
}  // namespace lam::cpu
