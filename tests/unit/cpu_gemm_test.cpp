// SPDX-License-Identifier: MIT
// The fixed-height tile GEMMs: correct, and a row's bits do not depend on its position in the
// tile, on the other rows, or on the tile height (the basis of bitwise batch invariance).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cpu/cpu_exec_common.h"
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

// Random [n, k] weights and [n] bias for each of four GEMM specs, packed for the full GEMM, with
// the column-half views of cpu_exec_common.
struct SplitFixture {
  GemmPrimitive full[4][2];
  SplitGemm split[4];
  bool usable = false;
  std::vector<float> w[4], bias[4];
  dnnl::memory packed[4], bmem[4];
  SplitWeights halves[4];

  void Build(const dnnl::engine& eng, const GemmSpec (&specs)[4], uint32_t seed) {
    bool tail = false;
    ASSERT_TRUE(CreateLayerGemms(eng, specs, {full[0], full[1], full[2], full[3]}, &tail).ok());
    ASSERT_TRUE(tail);
    ASSERT_TRUE(CreateSplitGemms(eng, specs, split, &usable).ok());
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd;
    for (int i = 0; i < 4; ++i) {
      w[i].resize(static_cast<size_t>(specs[i].n) * specs[i].k);
      bias[i].resize(static_cast<size_t>(specs[i].n));
      for (auto& x : w[i]) x = 0.05f * nd(rng);
      for (auto& x : bias[i]) x = 0.1f * nd(rng);
      auto p = PackWeights(eng, full[i][0], w[i].data());
      ASSERT_TRUE(p.ok());
      packed[i] = std::move(p).value();
      if (specs[i].bias) bmem[i] = dnnl::memory(full[i][0].bias_desc(), eng, bias[i].data());
      const Status sliced = MakeSplitWeights(eng, split[i], packed[i], specs[i].bias ? bias[i].data() : nullptr, &halves[i]);
      // oneDNN's packed layout depends on the ISA it picks; where halves are not slices of it the
      // backends run unsplit (CpuBackend::split_layout_error), so there is nothing to check here.
      if (!sliced.ok() && sliced.message().find("is not a slice") != std::string::npos) {
        GTEST_SKIP() << "oneDNN's packed weights are not sliceable on this CPU: " << sliced.message();
      }
      ASSERT_TRUE(sliced.ok()) << sliced.ToString();
    }
  }
};

// LAM's four layer GEMMs (cpu_backend) and BERT's (cpu_bert).
constexpr GemmSpec kLamSpecs[4] = {{kDm, kZCols, false, 0}, {kDm, kDm, false, 0}, {kDm, kFfn, true, 2}, {kFfn, kDm, true, 0}};
constexpr GemmSpec kBertSpecs[4] = {{kDm, kQkv, true, 0}, {kDm, kDm, true, 0}, {kDm, kFfn, true, 1}, {kFfn, kDm, true, 0}};

// Small batches run each GEMM as two column halves on two threads (cpu_exec_common.h); their
// rows must carry exactly the bits of the full-width GEMM that large batches use, at both tile
// heights, or a sequence's embedding would depend on its batch.
TEST(CpuGemmTest, ColumnHalvesGiveTheFullGemmBits) {
  CpuThreads threads(1);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  for (const auto* specs : {&kLamSpecs, &kBertSpecs}) {
    threads.Execute([&] {
      SplitFixture fx;
      fx.Build(eng, *specs, 7);
      if (::testing::Test::IsSkipped() || ::testing::Test::HasFatalFailure()) return;
      ASSERT_TRUE(fx.usable);
      std::mt19937 rng(11);
      std::normal_distribution<float> nd;
      for (int i = 0; i < 4; ++i) {
        const GemmSpec& spec = (*specs)[i];
        const SplitGemm& sg = fx.split[i];
        // Whole column blocks, half 0 the larger, and the halves' weights are slices of the full
        // packed matrix.
        EXPECT_EQ(sg.n, spec.n);
        EXPECT_EQ(sg.n0 % kSplitAlign, 0);
        EXPECT_GE(sg.n0, spec.n - sg.n0);
        EXPECT_GT(spec.n - sg.n0, 0);
        std::vector<float> src(static_cast<size_t>(kTileRows) * spec.k);
        for (auto& x : src) x = nd(rng);
        for (int kind = 0; kind < 2; ++kind) {
          const size_t rows = TileRowsOf(kind);
          auto slot = GemmSlot::Create(eng, fx.full[i][kind]);
          ASSERT_TRUE(slot.ok());
          std::vector<float> ref(rows * spec.n), got(rows * spec.n, -1.0f);
          ASSERT_TRUE(slot->Execute(fx.full[i][kind], src.data(), fx.packed[i], spec.bias ? &fx.bmem[i] : nullptr, ref.data()).ok());
          for (int h = 0; h < 2; ++h) {
            auto hs = GemmSlot::Create(eng, sg.half[kind][h]);
            ASSERT_TRUE(hs.ok());
            std::vector<float> part(rows * sg.cols(h));
            ASSERT_TRUE(hs->Execute(sg.half[kind][h], src.data(), fx.halves[i].w[h], fx.halves[i].bias(h), part.data()).ok());
            ScatterColumns(part.data(), sg.cols(h), rows, got.data(), static_cast<size_t>(spec.n), sg.col0(h));
          }
          size_t differing = 0;
          for (size_t j = 0; j < ref.size(); ++j) differing += std::memcmp(&ref[j], &got[j], sizeof(float)) != 0;
          EXPECT_EQ(differing, 0u) << "K=" << spec.k << " N=" << spec.n << " split at " << sg.n0 << ", "
                                   << rows << "-row tiles";
        }
      }
    });
  }
}

// The start-up check the backends run before they use the halves: it accepts the real halves and
// rejects halves that do not hold the full matrix's columns.
TEST(CpuGemmTest, SplitVerificationAcceptsTrueHalvesAndRejectsOthers) {
  CpuThreads threads(1);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  threads.Execute([&] {
    SplitFixture fx;
    fx.Build(eng, kLamSpecs, 3);
    if (::testing::Test::IsSkipped() || ::testing::Test::HasFatalFailure()) return;
    ASSERT_TRUE(fx.usable);
    const dnnl::memory* packed[4] = {&fx.packed[0], &fx.packed[1], &fx.packed[2], &fx.packed[3]};
    const dnnl::memory* bias[4] = {nullptr, nullptr, &fx.bmem[2], &fx.bmem[3]};
    const float* w[4] = {fx.w[0].data(), fx.w[1].data(), fx.w[2].data(), fx.w[3].data()};
    bool match = false;
    ASSERT_TRUE(VerifySplitGemms(eng, {fx.full[0], fx.full[1], fx.full[2], fx.full[3]}, fx.split, w, packed, bias,
                                 {&fx.halves[0], &fx.halves[1], &fx.halves[2], &fx.halves[3]}, &match)
                    .ok());
    EXPECT_TRUE(match);
    // FFN2's halves swapped: the slices are not what packing those columns gives.
    SplitWeights swapped = fx.halves[3];
    std::swap(swapped.w[0], swapped.w[1]);
    ASSERT_TRUE(VerifySplitGemms(eng, {fx.full[0], fx.full[1], fx.full[2], fx.full[3]}, fx.split, w, packed, bias,
                                 {&fx.halves[0], &fx.halves[1], &fx.halves[2], &swapped}, &match)
                    .ok());
    EXPECT_FALSE(match);
    // One weight changed after packing: the slices no longer hold those columns.
    std::vector<float> other = fx.w[1];
    other[5] += 1.0f;
    const float* w2[4] = {fx.w[0].data(), other.data(), fx.w[2].data(), fx.w[3].data()};
    ASSERT_TRUE(VerifySplitGemms(eng, {fx.full[0], fx.full[1], fx.full[2], fx.full[3]}, fx.split, w2, packed, bias,
                                 {&fx.halves[0], &fx.halves[1], &fx.halves[2], &fx.halves[3]}, &match)
                    .ok());
    EXPECT_FALSE(match);
  });
}

}  // namespace
}  // namespace lam::cpu
