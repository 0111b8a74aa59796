// SPDX-License-Identifier: MIT
// The fixed-height tile GEMMs: correct, and a row's bits do not depend on its position in the
// tile, on the other rows, or on the tile height (the basis of bitwise batch invariance).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cpu/cpu_gemm.h"
#include "backend/cpu/cpu_threading.h"

namespace lam::cpu {
namespace {

TEST(CpuGemmTest, TileRowsAreBitwiseIndependentOfPositionAndNeighbours) {
  CpuThreads threads(1);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  for (GemmSpec spec : {GemmSpec{kDm, kZCols, false, 0}, GemmSpec{kDm, kFfn, true, 2}, GemmSpec{kFfn, kDm, true, 0}}) {
    threads.Execute([&] {
      std::mt19937 rng(spec.k + spec.n);
      std::normal_distribution<float> nd;
      std::vector<float> w(static_cast<size_t>(spec.n) * spec.k), bias(static_cast<size_t>(spec.n));
      for (auto& x : w) x = 0.05f * nd(rng);
      for (auto& x : bias) x = 0.1f * nd(rng);
      auto prim = GemmPrimitive::Create(eng, spec);
      ASSERT_TRUE(prim.ok()) << prim.status().ToString();
      auto packed = PackWeights(eng, *prim, w.data());
      ASSERT_TRUE(packed.ok());
      dnnl::memory bmem(prim->bias_desc(), eng, bias.data());
      auto slot = GemmSlot::Create(eng, *prim);
      ASSERT_TRUE(slot.ok());
      auto prim16 = GemmPrimitive::Create(eng, spec, kTailRows);
      ASSERT_TRUE(prim16.ok());
      ASSERT_TRUE(prim16->weights_desc() == prim->weights_desc());  // same packed weights
      auto slot16 = GemmSlot::Create(eng, *prim16);
      ASSERT_TRUE(slot16.ok());
      std::vector<float> row(static_cast<size_t>(spec.k));
      for (auto& x : row) x = nd(rng);
      std::vector<float> first;
      for (int pos : {0, 1, 15, 16, 33, 63}) {
        std::vector<float> src(static_cast<size_t>(kTileRows) * spec.k), dst(static_cast<size_t>(kTileRows) * spec.n);
        for (auto& x : src) x = nd(rng);
        std::memcpy(&src[static_cast<size_t>(pos) * spec.k], row.data(), row.size() * sizeof(float));
        ASSERT_TRUE(slot->Execute(*prim, src.data(), *packed, spec.bias ? &bmem : nullptr, dst.data()).ok());
        const float* out = &dst[static_cast<size_t>(pos) * spec.n];
        if (first.empty()) {
          first.assign(out, out + spec.n);
          for (int o = 0; o < spec.n; o += 37) {
            double acc = spec.bias ? bias[o] : 0.0;
            for (int i = 0; i < spec.k; ++i) acc += static_cast<double>(row[i]) * w[static_cast<size_t>(o) * spec.k + i];
            for (int gl = 0; gl < spec.gelus; ++gl) acc = 0.5 * acc * (1.0 + std::erf(acc / std::sqrt(2.0)));
            EXPECT_NEAR(out[o], acc, 1e-4 * std::max(1.0, std::abs(acc)));
          }
        } else {
          EXPECT_EQ(0, std::memcmp(first.data(), out, first.size() * sizeof(float))) << "K=" << spec.k << " N=" << spec.n << " row " << pos;
        }
      }
      // The tail tiles of kTailRows rows give the same bits as the full tiles.
      for (int pos : {0, 7, kTailRows - 1}) {
        std::vector<float> src(static_cast<size_t>(kTailRows) * spec.k), dst(static_cast<size_t>(kTailRows) * spec.n);
        for (auto& x : src) x = nd(rng);
        std::memcpy(&src[static_cast<size_t>(pos) * spec.k], row.data(), row.size() * sizeof(float));
        ASSERT_TRUE(slot16->Execute(*prim16, src.data(), *packed, spec.bias ? &bmem : nullptr, dst.data()).ok());
        EXPECT_EQ(0, std::memcmp(first.data(), &dst[static_cast<size_t>(pos) * spec.n], first.size() * sizeof(float)))
            << "tail tile K=" << spec.k << " N=" << spec.n << " row " << pos;
      }
    });
  }
}

}  // namespace
}  // namespace lam::cpu
