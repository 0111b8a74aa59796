// SPDX-License-Identifier: MIT
// The fixed-height tile GEMMs: correct, and a row's bits do not depend on its position in the
// tile, on the other rows, or on the tile height (the basis of bitwise batch invariance).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "backend/cpu/cpu_exec_common.h"
#include "backend/cpu/cpu_gemm.h"
#include "backend/cpu/cpu_precision.h"
#include "backend/cpu/cpu_threading.h"

namespace lam::cpu {
namespace {

// x as the GEMM sees it: itself in fp32, rounded to the nearest bf16 in bf16 precision.
std::vector<float> AsComputed(const std::vector<float>& x, Precision p) {
  if (p == Precision::kFp32) return x;
  std::vector<uint16_t> h(x.size());
  ConvertToBf16(x.data(), x.size(), h.data());
  std::vector<float> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const uint32_t u = static_cast<uint32_t>(h[i]) << 16;
    std::memcpy(&out[i], &u, sizeof(u));
  }
  return out;
}

// Correct against a double-precision loop over the operands as computed (bf16 products are exact
// in fp32, so bf16 precision must meet the fp32 accumulation bound too), and a row's bits do not
// depend on its position, its neighbours or the tile height.
void CheckTileRows(Precision precision) {
  CpuThreads threads(1);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  for (GemmSpec spec : {GemmSpec{kDm, kZCols, false, 0}, GemmSpec{kDm, kFfn, true, 2}, GemmSpec{kFfn, kDm, true, 0}}) {
    spec.precision = precision;
    threads.Execute([&] {
      std::mt19937 rng(spec.k + spec.n);
      std::normal_distribution<float> nd;
      std::vector<float> w(static_cast<size_t>(spec.n) * spec.k), bias(static_cast<size_t>(spec.n));
      for (auto& x : w) x = 0.05f * nd(rng);
      for (auto& x : bias) x = 0.1f * nd(rng);
      const std::vector<float> w_used = AsComputed(w, precision);
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
      EXPECT_EQ(prim->src_desc().data_type(),
                precision == Precision::kBf16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32);
      EXPECT_EQ(prim->dst_desc().data_type(), dnnl::memory::data_type::f32);
      std::vector<float> row(static_cast<size_t>(spec.k));
      for (auto& x : row) x = nd(rng);
      const std::vector<float> row_used = AsComputed(row, precision);
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
            for (int i = 0; i < spec.k; ++i) acc += static_cast<double>(row_used[i]) * w_used[static_cast<size_t>(o) * spec.k + i];
            for (int gl = 0; gl < spec.gelus; ++gl) acc = 0.5 * acc * (1.0 + std::erf(acc / std::sqrt(2.0)));
            EXPECT_NEAR(out[o], acc, 1e-4 * std::max(1.0, std::abs(acc)));
          }
        } else {
          EXPECT_EQ(0, std::memcmp(first.data(), out, first.size() * sizeof(float))) << "K=" << spec.k << " N=" << spec.n << " row " << pos;
        }
      }
      // The tail tiles of kTailRows rows give the same bits as the full tiles (kTailRows is a
      // kind every machine CI runs accepts; TailKinds* below covers the others).
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

TEST(CpuGemmTest, TileRowsAreBitwiseIndependentOfPositionAndNeighbours) { CheckTileRows(Precision::kFp32); }

TEST(CpuGemmTest, Bf16TileRowsAccumulateInFp32AndAreBitwiseIndependentOfPositionAndNeighbours) {
  const Status native = CheckNativeBf16();
  if (!native.ok()) GTEST_SKIP() << native.message();
  CheckTileRows(Precision::kBf16);
}

TEST(CpuGemmTest, ConvertToBf16RoundsToNearestEvenAndKeepsNaN) {
  auto bits = [](float f) {
    uint16_t h;
    ConvertToBf16(&f, 1, &h);
    return h;
  };
  EXPECT_EQ(bits(1.0f), 0x3f80);
  EXPECT_EQ(bits(-2.5f), 0xc020);
  EXPECT_EQ(bits(1.0f + 0x1p-8f), 0x3f80);               // tie between 0x3f80 and 0x3f81: even
  EXPECT_EQ(bits(1.0f + 3 * 0x1p-8f), 0x3f82);           // tie between 0x3f81 and 0x3f82: even
  EXPECT_EQ(bits(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);    // above the tie: up
  EXPECT_EQ(bits(std::numeric_limits<float>::max()), 0x7f80);  // rounds to infinity
  EXPECT_EQ(bits(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(bits(-0.0f), 0x8000);
  const uint16_t nan = bits(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7f80, 0x7f80);
  EXPECT_NE(nan & 0x007f, 0);
  uint32_t snan_bits = 0x7f800001u;  // a signalling NaN whose payload sits in the dropped bits
  float snan;
  std::memcpy(&snan, &snan_bits, sizeof(snan));
  EXPECT_NE(bits(snan) & 0x007f, 0) << "a NaN must not become infinity";
  // Random values: the nearer of the two bf16 neighbours, ties to the even one.
  std::mt19937 rng(5);
  std::uniform_int_distribution<uint32_t> any;
  std::vector<float> x(100000);
  for (auto& v : x) {
    do {
      const uint32_t u = any(rng);
      std::memcpy(&v, &u, sizeof(v));
    } while (!std::isfinite(v) || std::abs(v) > 1e38f);
  }
  std::vector<uint16_t> h(x.size());
  ConvertToBf16(x.data(), x.size(), h.data());
  for (size_t i = 0; i < x.size(); ++i) {
    uint32_t u;
    std::memcpy(&u, &x[i], sizeof(u));
    const uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u;
    float flo, fhi;
    std::memcpy(&flo, &lo, sizeof(flo));
    std::memcpy(&fhi, &hi, sizeof(fhi));
    const double dlo = std::abs(static_cast<double>(x[i]) - flo), dhi = std::abs(static_cast<double>(fhi) - x[i]);
    const uint32_t want = dlo < dhi ? lo : dhi < dlo ? hi : ((lo >> 16) & 1u) == 0 ? lo : hi;
    ASSERT_EQ(h[i], want >> 16) << "x = " << x[i];
  }
}

// Random [n, k] weights and [n] bias for each of four GEMM specs, packed for the full GEMM, with
// the column-half views of cpu_exec_common.
struct SplitFixture {
  GemmPrimitive full[4][kTileKinds];
  SplitGemm split[4];
  TileKinds kinds = 0;
  bool usable = false;
  std::vector<float> w[4], bias[4];
  dnnl::memory packed[4], bmem[4];
  SplitWeights halves[4];

  void Build(const dnnl::engine& eng, const GemmSpec (&specs)[4], uint32_t seed) {
    ASSERT_TRUE(CreateLayerGemms(eng, specs, {full[0], full[1], full[2], full[3]}, &kinds).ok());
    ASSERT_TRUE(HasKind(kinds, TailKindOf(kTailRows)));
    ASSERT_TRUE(CreateSplitGemms(eng, specs, split, &kinds, &usable).ok());
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
      // Views of the full packed matrix where oneDNN's layout keeps column blocks whole
      // (brgemm), otherwise each half packed on its own (gemm:jit's plain row-major weights).
      const Status sliced = MakeSplitWeights(eng, split[i], packed[i], w[i].data(),
                                             specs[i].bias ? bias[i].data() : nullptr, &halves[i]);
      ASSERT_TRUE(sliced.ok()) << sliced.ToString();
    }
  }
};

// LAM's four layer GEMMs (cpu_backend) and BERT's (cpu_bert).
constexpr GemmSpec kLamSpecs[4] = {{kDm, kZCols, false, 0}, {kDm, kDm, false, 0}, {kDm, kFfn, true, 2}, {kFfn, kDm, true, 0}};
constexpr GemmSpec kBertSpecs[4] = {{kDm, kQkv, true, 0}, {kDm, kDm, true, 0}, {kDm, kFfn, true, 1}, {kFfn, kDm, true, 0}};

// Small batches run each GEMM as two column halves on two threads (cpu_exec_common.h); their
// rows must carry exactly the bits of the full-width GEMM that large batches use, at every tile
// kind in use, or a sequence's embedding would depend on its batch.
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
        // Whole column blocks, half 0 the larger; the halves' weights are slices of the full
        // packed matrix or (owned_bytes) packed on their own.
        EXPECT_EQ(sg.n, spec.n);
        EXPECT_EQ(sg.n0 % kSplitAlign, 0);
        EXPECT_GE(sg.n0, spec.n - sg.n0);
        EXPECT_GT(spec.n - sg.n0, 0);
        const size_t half_bytes = sg.half[0][0].weights_desc().get_size() + sg.half[0][1].weights_desc().get_size();
        EXPECT_TRUE(fx.halves[i].owned_bytes == 0 || fx.halves[i].owned_bytes == half_bytes)
            << fx.halves[i].owned_bytes << " bytes owned, halves weigh " << half_bytes;
        std::vector<float> src(static_cast<size_t>(kTileRows) * spec.k);
        for (auto& x : src) x = nd(rng);
        for (int kind = 0; kind < kTileKinds; ++kind) {
          if (!HasKind(fx.kinds, kind)) continue;
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
    TileKinds kinds = fx.kinds;
    ASSERT_TRUE(VerifySplitGemms(eng, {fx.full[0], fx.full[1], fx.full[2], fx.full[3]}, fx.split, w, packed, bias,
                                 {&fx.halves[0], &fx.halves[1], &fx.halves[2], &fx.halves[3]}, &kinds, &match)
                    .ok());
    EXPECT_TRUE(match);
    EXPECT_EQ(kinds, fx.kinds);  // every kind's halves were made and checked like the full GEMMs
    // FFN2's halves swapped: the slices are not what packing those columns gives.
    SplitWeights swapped = fx.halves[3];
    std::swap(swapped.w[0], swapped.w[1]);
    ASSERT_TRUE(VerifySplitGemms(eng, {fx.full[0], fx.full[1], fx.full[2], fx.full[3]}, fx.split, w, packed, bias,
                                 {&fx.halves[0], &fx.halves[1], &fx.halves[2], &swapped}, &kinds, &match)
                    .ok());
    EXPECT_FALSE(match);
    // One weight changed after packing: the slices no longer hold those columns.
    std::vector<float> other = fx.w[1];
    other[5] += 1.0f;
    const float* w2[4] = {fx.w[0].data(), other.data(), fx.w[2].data(), fx.w[3].data()};
    ASSERT_TRUE(VerifySplitGemms(eng, {fx.full[0], fx.full[1], fx.full[2], fx.full[3]}, fx.split, w2, packed, bias,
                                 {&fx.halves[0], &fx.halves[1], &fx.halves[2], &fx.halves[3]}, &kinds, &match)
                    .ok());
    EXPECT_FALSE(match);
  });
}

// The start-up selection of tail tile kinds (CreateLayerGemms) keeps exactly the kinds whose
// rows carry the full tiles' bits, found here independently: a row at every position of tiles
// of every height, and among random neighbours, against the same row in a full tile. A rejected kind must really
// differ for some GEMM (so the check cannot quietly cost speed), and the kTailRows kind is
// accepted on every machine CI runs.
TEST(CpuGemmTest, TailKindsAreExactlyThoseWithTheFullTilesBits) {
  CpuThreads threads(1);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  for (const auto* specs : {&kLamSpecs, &kBertSpecs}) {
    threads.Execute([&] {
      GemmPrimitive full[4][kTileKinds];
      TileKinds kinds = 0;
      ASSERT_TRUE(CreateLayerGemms(eng, *specs, {full[0], full[1], full[2], full[3]}, &kinds).ok());
      EXPECT_TRUE(HasKind(kinds, 0));
      EXPECT_TRUE(HasKind(kinds, TailKindOf(kTailRows)));
      std::mt19937 rng(23);
      std::normal_distribution<float> nd;
      bool same[kTileKinds];
      std::fill(same, same + kTileKinds, true);
      for (int i = 0; i < 4; ++i) {
        const GemmSpec& spec = (*specs)[i];
        std::vector<float> w(static_cast<size_t>(spec.n) * spec.k), bias(static_cast<size_t>(spec.n));
        for (auto& x : w) x = 0.05f * nd(rng);
        for (auto& x : bias) x = 0.1f * nd(rng);
        auto ref_prim = GemmPrimitive::Create(eng, spec);
        ASSERT_TRUE(ref_prim.ok());
        auto packed = PackWeights(eng, *ref_prim, w.data());
        ASSERT_TRUE(packed.ok());
        dnnl::memory bmem(ref_prim->bias_desc(), eng, bias.data());
        const dnnl::memory* b = spec.bias ? &bmem : nullptr;
        auto ref_slot = GemmSlot::Create(eng, *ref_prim);
        ASSERT_TRUE(ref_slot.ok());
        std::vector<float> row(static_cast<size_t>(spec.k));
        for (auto& x : row) x = nd(rng);
        std::vector<float> src(static_cast<size_t>(kTileRows) * spec.k), dst(static_cast<size_t>(kTileRows) * spec.n);
        for (auto& x : src) x = nd(rng);
        std::memcpy(&src[static_cast<size_t>(kTileRows - 1) * spec.k], row.data(), row.size() * sizeof(float));
        ASSERT_TRUE(ref_slot->Execute(*ref_prim, src.data(), *packed, b, dst.data()).ok());
        const std::vector<float> want(dst.end() - spec.n, dst.end());
        for (int kind = 1; kind < kTileKinds; ++kind) {
          const int h = TileRowsOf(kind);
          auto prim = GemmPrimitive::Create(eng, spec, h);
          ASSERT_TRUE(prim.ok());
          if (!(prim->weights_desc() == ref_prim->weights_desc())) {
            same[kind] = false;
            continue;
          }
          auto slot = GemmSlot::Create(eng, *prim);
          ASSERT_TRUE(slot.ok());
          // The row at every position at once, then among random neighbours.
          for (int pos = 0; pos < h; ++pos) {
            std::memcpy(&src[static_cast<size_t>(pos) * spec.k], row.data(), row.size() * sizeof(float));
          }
          ASSERT_TRUE(slot->Execute(*prim, src.data(), *packed, b, dst.data()).ok());
          for (int pos = 0; pos < h; ++pos) {
            if (std::memcmp(want.data(), &dst[static_cast<size_t>(pos) * spec.n], want.size() * sizeof(float)) != 0) {
              same[kind] = false;
            }
          }
          for (auto& x : src) x = nd(rng);
          std::memcpy(&src[static_cast<size_t>(h / 2) * spec.k], row.data(), row.size() * sizeof(float));
          ASSERT_TRUE(slot->Execute(*prim, src.data(), *packed, b, dst.data()).ok());
          if (std::memcmp(want.data(), &dst[static_cast<size_t>(h / 2) * spec.n], want.size() * sizeof(float)) != 0) {
            same[kind] = false;
          }
        }
      }
      for (int kind = 1; kind < kTileKinds; ++kind) {
        EXPECT_EQ(HasKind(kinds, kind), same[kind]) << TileRowsOf(kind) << "-row tiles, K of GEMM 0 = "
                                                    << (*specs)[0].k << ", N = " << (*specs)[0].n;
        // Accepted kinds have primitives, rejected ones none.
        EXPECT_EQ(static_cast<bool>(full[0][kind].primitive()), HasKind(kinds, kind)) << TileRowsOf(kind);
      }
    });
  }
}

// The plans the tile tests use: full tiles only, full + 16-row tails, the kinds oneDNN 2.6's AVX2
// sgemm accepts (4j rows with 4j mod 6 in {0, 4}) and every kind.
struct TestPlans {
  static TileKinds Bit(int rows) { return TileKinds{1} << TailKindOf(rows); }
  static TileKinds Avx2() {
    TileKinds k = 1;
    for (int h : {4, 12, 16, 24, 28, 36, 40, 48, 52, 60}) k |= Bit(h);
    return k;
  }
  const TilePlan full_only;
  const TilePlan sixteen{Bit(16)};
  const TilePlan avx2_plan{Avx2()};
  const TilePlan all{~TileKinds{0} >> (32 - kTileKinds)};
};

// The tail plan: tiles of usable kinds only, covering the remainder within its block, at the
// least cost (padded rows + TilePlan::kTileCostRows per tile, checked by brute force).
TEST(CpuGemmTest, TilePlanCoversTheRemainderWithTheCheapestUsableTiles) {
  const TestPlans plans;
  const auto& [full_only, sixteen, avx2_plan, all] = plans;
  EXPECT_EQ(full_only.usable(), 1u);
  EXPECT_EQ(full_only.Describe(5), "64");
  EXPECT_EQ(sixteen.Describe(21), "16+16");
  EXPECT_EQ(sixteen.Describe(33), "16+16+16");
  EXPECT_EQ(sixteen.Describe(49), "64");
  EXPECT_EQ(avx2_plan.Describe(21), "24");
  EXPECT_EQ(avx2_plan.Describe(7), "4+4");
  EXPECT_EQ(avx2_plan.Describe(3), "4");
  EXPECT_EQ(avx2_plan.Describe(61), "64");
  EXPECT_EQ(all.Describe(21), "24");
  EXPECT_EQ(all.Describe(8), "8");
  for (const TilePlan* plan : {&full_only, &sixteen, &avx2_plan, &all}) {
    // cheapest[r]: the least cost of covering r rows with usable kinds, by exhaustive search.
    std::vector<int> cheapest(kTileRows, 1 << 20);
    cheapest[0] = 0;
    for (int r = 1; r < kTileRows; ++r) {
      for (int kind = 0; kind < kTileKinds; ++kind) {
        if (!HasKind(plan->usable(), kind)) continue;
        const int h = TileRowsOf(kind);
        cheapest[r] = std::min(cheapest[r], h + TilePlan::kTileCostRows + (h >= r ? 0 : cheapest[r - h]));
      }
    }
    for (int r = 1; r < kTileRows; ++r) {
      const int n = plan->TailTiles(static_cast<size_t>(r));
      ASSERT_GE(n, 1);
      int next = 0, cost = 0;
      for (int i = 0; i < n; ++i) {
        const int kind = plan->TailKind(static_cast<size_t>(r), i);
        EXPECT_TRUE(HasKind(plan->usable(), kind)) << r;
        EXPECT_EQ(plan->TailStart(static_cast<size_t>(r), i), next) << r;  // tiles abut, in order
        next += TileRowsOf(kind);
        cost += TileRowsOf(kind) + TilePlan::kTileCostRows;
      }
      EXPECT_GE(next, r) << plan->Describe(static_cast<size_t>(r));
      EXPECT_LE(next, kTileRows) << plan->Describe(static_cast<size_t>(r));
      EXPECT_EQ(cost, cheapest[r]) << r << " rows as " << plan->Describe(static_cast<size_t>(r));
    }
  }
  // A run's tiles: full tiles, then the remainder's plan, each tile starting where the last ended.
  TiledRun run;
  run.rows = 64 * 3 + 21;
  run.PlanTiles(avx2_plan);
  ASSERT_EQ(run.ntiles, 4u);
  int kind = -1;
  EXPECT_EQ(run.TileStart(2, &kind), 128u);
  EXPECT_EQ(kind, 0);
  EXPECT_EQ(run.TileStart(3, &kind), 192u);
  EXPECT_EQ(TileRowsOf(kind), 24);
  EXPECT_EQ(run.TileEnd(192, kind), run.rows);
  run.rows = 128;
  run.PlanTiles(avx2_plan);
  EXPECT_EQ(run.ntiles, 2u);
}

// Exact covers: usable tail kinds whose heights sum to r, the cheapest (by brute force), largest
// first; none where no sum of usable heights is r.
TEST(CpuGemmTest, ExactCoversAreTheCheapestSumsOfUsableTails) {
  const TestPlans plans;
  const auto& [full_only, sixteen, avx2_plan, all] = plans;
  EXPECT_EQ(avx2_plan.ExactTiles(8), 2);   // 4+4 (8 is not usable)
  EXPECT_EQ(avx2_plan.ExactTiles(20), 2);  // 16+4
  EXPECT_EQ(avx2_plan.ExactTiles(21), -1);
  EXPECT_EQ(sixteen.ExactTiles(48), 3);
  EXPECT_EQ(sixteen.ExactTiles(40), -1);
  EXPECT_EQ(full_only.ExactTiles(0), 0);
  EXPECT_EQ(full_only.ExactTiles(4), -1);
  for (const TilePlan* plan : {&full_only, &sixteen, &avx2_plan, &all}) {
    std::vector<int> cheapest(kTileRows, -1);
    cheapest[0] = 0;
    for (int r = 1; r < kTileRows; ++r) {
      for (int kind = 1; kind < kTileKinds; ++kind) {
        const int h = TileRowsOf(kind);
        if (!HasKind(plan->usable(), kind) || h > r || cheapest[r - h] < 0) continue;
        const int c = h + TilePlan::kTileCostRows + cheapest[r - h];
        if (cheapest[r] < 0 || c < cheapest[r]) cheapest[r] = c;
      }
    }
    for (int r = 0; r < kTileRows; ++r) {
      const int n = plan->ExactTiles(static_cast<size_t>(r));
      if (cheapest[r] < 0) {
        EXPECT_EQ(n, -1) << r;
        continue;
      }
      ASSERT_GE(n, 0) << r;
      int sum = 0, cost = 0, prev = kTileRows;
      for (int i = 0; i < n; ++i) {
        const int kind = plan->ExactKind(static_cast<size_t>(r), i);
        EXPECT_TRUE(kind != 0 && HasKind(plan->usable(), kind)) << r;
        EXPECT_LE(TileRowsOf(kind), prev) << r << ": not largest first";
        prev = TileRowsOf(kind);
        sum += TileRowsOf(kind);
        cost += TileRowsOf(kind) + TilePlan::kTileCostRows;
      }
      EXPECT_EQ(sum, r);
      EXPECT_EQ(cost, cheapest[r]) << r;
    }
  }
}

// Time to run a run's tiles when `threads` threads each claim the next tile in list order (what
// ForRange does), counting a tile as its rows plus TilePlan::kTileCostRows.
size_t ListScheduleSpan(const TiledRun& run, int threads) {
  std::vector<size_t> busy(static_cast<size_t>(threads), 0);
  for (size_t t = 0; t < run.ntiles; ++t) {
    int kind = 0;
    (void)run.TileStart(t, &kind);
    *std::min_element(busy.begin(), busy.end()) += static_cast<size_t>(TileRowsOf(kind) + TilePlan::kTileCostRows);
  }
  return *std::max_element(busy.begin(), busy.end());
}

// Balanced parts: for any batch and thread count the tiles cover every row once (padding only
// past the last row, within the whole blocks the buffers hold), largest first; on 2 threads the
// threads never finish later than with the plain plan, and a batch of 7 full tiles (one thread
// running 4 while the other waits) now ends with both at about 3.5.
TEST(CpuGemmTest, BalancedPartsCoverEveryRowOnceAndEndTogether) {
  const TestPlans plans;
  const auto& [full_only, sixteen, avx2_plan, all] = plans;
  size_t improved = 0;
  for (const TilePlan* plan : {&full_only, &sixteen, &avx2_plan, &all}) {
    for (int threads : {1, 2, 3, 4, 16}) {
      for (size_t rows = 1; rows <= 1500; rows += (rows < 300 ? 1 : 7)) {
        TiledRun run, plain;
        run.rows = plain.rows = rows;
        run.ReserveTiles(rows, threads);
        run.PlanTiles(*plan, threads);
        plain.PlanTiles(*plan, 1);
        ASSERT_EQ(run.ntiles, run.tiles.size());
        std::vector<std::pair<size_t, size_t>> spans;
        int prev = kTileRows;
        for (size_t t = 0; t < run.ntiles; ++t) {
          int kind = 0;
          const size_t r0 = run.TileStart(t, &kind);
          ASSERT_TRUE(HasKind(plan->usable(), kind));
          EXPECT_LE(TileRowsOf(kind), prev) << "tiles not largest first";
          prev = TileRowsOf(kind);
          spans.push_back({r0, r0 + static_cast<size_t>(TileRowsOf(kind))});
        }
        std::sort(spans.begin(), spans.end());
        size_t next = 0;
        for (const auto& [b, e] : spans) {
          ASSERT_EQ(b, next) << rows << " rows on " << threads << " threads: a gap or an overlap";
          ASSERT_LT(b, rows);
          next = e;
        }
        EXPECT_GE(next, rows);
        EXPECT_LE(next, (rows + kTileRows - 1) / kTileRows * kTileRows) << rows << " rows: past the buffers";
        if (threads == 2 && plan == &avx2_plan) {
          const size_t span = ListScheduleSpan(run, 2), before = ListScheduleSpan(plain, 2);
          EXPECT_LE(span, before + 2 * TilePlan::kTileCostRows) << rows << " rows";
          if (span < before) ++improved;
        }
      }
    }
  }
  EXPECT_GT(improved, 100u);
  TiledRun seven;
  seven.rows = 7 * 64;
  seven.PlanTiles(avx2_plan, 2);
  EXPECT_LE(ListScheduleSpan(seven, 2), 7 * 66 / 2 + 8u);
  TiledRun plain_seven;
  plain_seven.rows = 7 * 64;
  plain_seven.PlanTiles(avx2_plan, 1);
  EXPECT_EQ(ListScheduleSpan(plain_seven, 2), 4 * 66u);
}

}  // namespace
}  // namespace lam::cpu
