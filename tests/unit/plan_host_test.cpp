// SPDX-License-Identifier: MIT
// The CUDA backend's plan, run by the host executor (the kernels' host bodies + oneDNN sgemm),
// against the CPU backend: every LAM variant and BERT, whole forward passes on ragged batches
// whose lengths cover every chunk layout (single chunks, multi-chunk, layer padding, position
// interpolation past 512). This is the GPU forward pass, verified without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_bert.h"
#include "backend/cuda/host_executor.h"
#include "backend/cuda/plan.h"
#include "engine/synthetic_model.h"
#include "random_bert.h"

namespace lam::cuda {
namespace {

constexpr int kVocab = 1000;
constexpr int kDim = LAM_HIDDEN;

std::vector<std::vector<int32_t>> Sequences(const std::vector<int>& lengths, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::vector<int32_t>> seqs;
  for (int len : lengths) {
    std::vector<int32_t> ids(static_cast<size_t>(len));
    for (auto& id : ids) id = static_cast<int32_t>(rng() % kVocab);
    ids.front() = 101;
    ids.back() = 102;
    seqs.push_back(std::move(ids));
  }
  return seqs;
}

std::vector<engine::TokenSpan> Spans(const std::vector<std::vector<int32_t>>& seqs) {
  std::vector<engine::TokenSpan> spans;
  for (const auto& s : seqs) spans.push_back({s.data(), s.size()});
  return spans;
}

backend::Bucket BucketFor(const std::vector<int>& lengths) {
  int tokens = 0;
  for (int l : lengths) tokens += l;
  return backend::Bucket{static_cast<int>(lengths.size()) + 3, tokens + 17};
}

// Per embedding: cosine >= 0.99999 and max |a - b| / max |b| <= 1e-4 (the GPU contract), and,
// since host and CPU backend both run exact fp32 and measure ~7e-7 apart, max relative error
// <= 1e-5 here, which catches far smaller mistakes.
void ExpectClose(const std::vector<float>& got, const std::vector<float>& want, size_t n,
                 const std::vector<int>& lengths) {
  double worst_cos = 1.0, worst_rel = 0.0;
  for (size_t b = 0; b < n; ++b) {
    const float* a = got.data() + b * kDim;
    const float* r = want.data() + b * kDim;
    double dot = 0, na = 0, nr = 0, err = 0, scale = 0;
    for (int i = 0; i < kDim; ++i) {
      ASSERT_TRUE(std::isfinite(a[i])) << "sequence " << b << " (length " << lengths[b] << ") element " << i;
      dot += double(a[i]) * r[i];
      na += double(a[i]) * a[i];
      nr += double(r[i]) * r[i];
      err = std::max(err, std::abs(double(a[i]) - r[i]));
      scale = std::max(scale, std::abs(double(r[i])));
    }
    const double cosine = dot / std::sqrt(na * nr);
    EXPECT_GE(cosine, 0.99999) << "sequence " << b << " (length " << lengths[b] << ")";
    EXPECT_LE(err / scale, 1e-4) << "sequence " << b << " (length " << lengths[b] << ")";
    EXPECT_LE(err / scale, 1e-5) << "sequence " << b << " (length " << lengths[b] << ")";
    worst_cos = std::min(worst_cos, cosine);
    worst_rel = std::max(worst_rel, err / scale);
  }
  std::printf("[ measured ] worst cosine 1 - %.3g, worst max relative error %.3g\n", 1.0 - worst_cos, worst_rel);
}

void CompareWithCpu(const engine::ModelWeights& w, backend::Backend& cpu, const std::vector<int>& lengths,
                    uint32_t seed) {
  const auto seqs = Sequences(lengths, seed);
  const auto spans = Spans(seqs);
  const backend::Bucket bucket = BucketFor(lengths);

  auto packed = PackedModel::Create(w);
  ASSERT_TRUE(packed.ok()) << packed.status().ToString();
  auto exec = HostExecutor::Create(**packed, bucket);
  ASSERT_TRUE(exec.ok()) << exec.status().ToString();
  std::vector<float> got(spans.size() * kDim, 0.0f);
  const Status st = (*exec)->Run(spans, got.data());
  ASSERT_TRUE(st.ok()) << st.ToString();

  auto exe = cpu.Compile(bucket);
  ASSERT_TRUE(exe.ok()) << exe.status().ToString();
  std::vector<float> want(spans.size() * kDim, 0.0f);
  const Status cst = cpu.Run(**exe, spans, want.data());
  ASSERT_TRUE(cst.ok()) << cst.ToString();
  ExpectClose(got, want, spans.size(), lengths);
}

void CompareLam(engine::Variant variant, const std::vector<int>& lengths) {
  engine::SyntheticModel model(variant, 7 + static_cast<uint64_t>(variant), /*layers=*/2, kVocab);
  auto cpu = cpu::CpuBackend::Create(model.weights(), cpu::CpuBackendOptions{});
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  CompareWithCpu(model.weights(), **cpu, lengths, 11);
}

// Lengths per variant: one chunk (<= 63, and L' not a multiple of C0), several chunks, layer
// padding (L % 32 != 0 with L >= 64), and one sequence past the 512-row position table.
TEST(PlanHostTest, F128ForwardMatchesCpuBackendOnARaggedBatch) {
  // 256: two independent 128-blocks; 200 (L' 224) and 300 (L' 320): one long chunk.
  CompareLam(engine::Variant::kF128, {1, 5, 33, 64, 100, 200, 256, 300, 600});
}

TEST(PlanHostTest, R64TForwardMatchesCpuBackendOnARaggedBatch) {
  // 100 (L' 128) and 256: several 64-chunks; 130 (L' 160) and 200 (L' 224): a single scanned chunk.
  CompareLam(engine::Variant::kR64T, {2, 40, 64, 100, 130, 200, 256, 530});
}

TEST(PlanHostTest, R32ForwardMatchesCpuBackendOnARaggedBatch) {
  // 33..63: one dense chunk of L; >= 64: 32-chunks over L', with the cross coupling from chunk 2.
  CompareLam(engine::Variant::kR32, {1, 31, 63, 64, 100, 161, 290, 520});
}

TEST(PlanHostTest, BertForwardMatchesCpuBertBackendOnARaggedBatch) {
  enginetest::RandomBert model(5, /*layers=*/2, kVocab, /*max_tokens=*/512);
  auto cpu = cpu::CpuBertBackend::Create(model.weights(), 0);
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  CompareWithCpu(model.weights(), **cpu, {1, 7, 64, 130, 512, 3}, 13);
}

TEST(PlanHostTest, RoundToTf32KeepsTenMantissaBitsRoundingTiesAwayFromZero) {
  const float ulp = std::ldexp(1.0f, -10);  // TF32's spacing at 1
  EXPECT_EQ(RoundToTf32(1.0f), 1.0f);
  EXPECT_EQ(RoundToTf32(1.0f + ulp), 1.0f + ulp);
  EXPECT_EQ(RoundToTf32(1.0f + ulp / 2), 1.0f + ulp);    // tie: away from zero
  EXPECT_EQ(RoundToTf32(-1.0f - ulp / 2), -1.0f - ulp);  // also for negatives
  EXPECT_EQ(RoundToTf32(1.0f + ulp / 4), 1.0f);
  EXPECT_EQ(RoundToTf32(1.0f + ulp * 3 / 4), 1.0f + ulp);
  EXPECT_EQ(RoundToTf32(0.0f), 0.0f);
  EXPECT_TRUE(std::isinf(RoundToTf32(std::numeric_limits<float>::infinity())));
  EXPECT_TRUE(std::isnan(RoundToTf32(std::numeric_limits<float>::quiet_NaN())));
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> d(-100.0f, 100.0f);
  for (int i = 0; i < 10000; ++i) {
    const float x = d(rng), t = RoundToTf32(x);
    uint32_t bits;
    std::memcpy(&bits, &t, sizeof(bits));
    ASSERT_EQ(bits & 0x1fffu, 0u) << x;
    ASSERT_LE(std::abs(t - x), std::abs(x) * std::ldexp(1.0f, -11) * 1.0001f) << x;
  }
}

// The fast mode's contract (cosine >= 0.999 against fp32) for every model, on the host executor
// rounding what the tensor cores round; and the rounding is really applied (results differ).
void CompareTf32(const engine::ModelWeights& w, backend::Backend& cpu, const std::vector<int>& lengths) {
  const auto seqs = Sequences(lengths, 17);
  const auto spans = Spans(seqs);
  const backend::Bucket bucket = BucketFor(lengths);
  auto packed = PackedModel::Create(w);
  ASSERT_TRUE(packed.ok()) << packed.status().ToString();
  auto exec = HostExecutor::Create(**packed, bucket, GemmPrecision::kTf32);
  ASSERT_TRUE(exec.ok()) << exec.status().ToString();
  std::vector<float> got(spans.size() * kDim, 0.0f), want(spans.size() * kDim, 0.0f);
  ASSERT_TRUE((*exec)->Run(spans, got.data()).ok());
  auto exe = cpu.Compile(bucket);
  ASSERT_TRUE(exe.ok()) << exe.status().ToString();
  ASSERT_TRUE(cpu.Run(**exe, spans, want.data()).ok());
  double worst = 1.0, max_diff = 0.0;
  for (size_t b = 0; b < spans.size(); ++b) {
    double dot = 0, na = 0, nr = 0;
    for (int i = 0; i < kDim; ++i) {
      const double a = got[b * kDim + i], r = want[b * kDim + i];
      ASSERT_TRUE(std::isfinite(a));
      dot += a * r;
      na += a * a;
      nr += r * r;
      max_diff = std::max(max_diff, std::abs(a - r));
    }
    const double cosine = dot / std::sqrt(na * nr);
    EXPECT_GE(cosine, 0.999) << "sequence " << b << " (length " << lengths[b] << ")";
    worst = std::min(worst, cosine);
  }
  EXPECT_GT(max_diff, 1e-6) << "tf32 gave the fp32 results: the rounding was not applied";
  std::printf("[ measured ] tf32 vs fp32: worst cosine 1 - %.3g, max |difference| %.3g\n", 1.0 - worst, max_diff);
}

TEST(PlanHostTest, Tf32StaysWithinTheFastModeBoundForEveryModel) {
  for (engine::Variant v : {engine::Variant::kF128, engine::Variant::kR64T, engine::Variant::kR32}) {
    SCOPED_TRACE(engine::variant_name(v));
    engine::SyntheticModel model(v, 7 + static_cast<uint64_t>(v), /*layers=*/2, kVocab);
    auto cpu = cpu::CpuBackend::Create(model.weights(), cpu::CpuBackendOptions{});
    ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
    CompareTf32(model.weights(), **cpu, {1, 33, 100, 256, 530});
  }
  enginetest::RandomBert model(5, /*layers=*/2, kVocab, /*max_tokens=*/512);
  auto cpu = cpu::CpuBertBackend::Create(model.weights(), 0);
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  CompareTf32(model.weights(), **cpu, {1, 7, 130, 512});
}

TEST(PlanHostTest, BuffersDoNotOverlapAndFitTheBucket) {
  engine::SyntheticModel model(engine::Variant::kR32, 1, 1, kVocab);
  auto packed = PackedModel::Create(model.weights());
  ASSERT_TRUE(packed.ok());
  auto plan = BuildPlan(**packed, backend::Bucket{4, 100});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->rows_cap, 100 + 31 * 4);
  std::vector<std::pair<size_t, size_t>> spans;
  for (const auto& b : plan->buffers) {
    if (b.floats == 0) continue;
    EXPECT_EQ(b.offset % 64, 0u);
    EXPECT_LE(b.offset + b.floats, plan->arena_floats);
    spans.emplace_back(b.offset, b.offset + b.floats);
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i) EXPECT_LE(spans[i - 1].second, spans[i].first);
  // One input projection, front end, prepare, run, rmsnorm, 3 GEMMs, 2 LNs for the layer.
  EXPECT_EQ(plan->ops.size(), 1u + 10u + 1u) << plan->Describe();
  EXPECT_EQ(plan->ops.front().kind, OpKind::kEmbed);
  EXPECT_EQ(plan->ops.back().kind, OpKind::kPool);
}

TEST(PlanHostTest, MetaTableRejectsBatchesTheBucketCannotHold) {
  engine::SyntheticModel model(engine::Variant::kF128, 1, 1, kVocab);
  auto packed = PackedModel::Create(model.weights());
  ASSERT_TRUE(packed.ok());
  auto plan = BuildPlan(**packed, backend::Bucket{2, 64});
  ASSERT_TRUE(plan.ok());
  std::vector<int> table(plan->meta_ints);
  const auto seqs = Sequences({40, 30}, 3);
  EXPECT_EQ(FillMeta(*plan, kVocab, Spans(seqs), table.data()).code(), LAM_STATUS_INVALID_ARG);
  const auto three = Sequences({2, 2, 2}, 3);
  EXPECT_EQ(FillMeta(*plan, kVocab, Spans(three), table.data()).code(), LAM_STATUS_INVALID_ARG);
  auto bad = Sequences({5}, 3);
  bad[0][2] = kVocab;
  EXPECT_EQ(FillMeta(*plan, kVocab, Spans(bad), table.data()).code(), LAM_STATUS_TOKEN_OUT_OF_RANGE);
  EXPECT_EQ(FillMeta(*plan, kVocab, {}, table.data()).code(), LAM_STATUS_EMPTY_BATCH);
  // A good batch: rows and chunks per sequence from its own length.
  const auto ok = Sequences({20, 44}, 3);
  ASSERT_TRUE(FillMeta(*plan, kVocab, Spans(ok), table.data()).ok());
  const lamk::PlanMeta m = plan->Meta(table.data());
  EXPECT_EQ(m.nseq(), 2);
  EXPECT_EQ(m.nrows(), 64);
  EXPECT_EQ(m.seq_row0(1), 20);
  EXPECT_EQ(m.row_seq(63), 1);
  EXPECT_EQ(m.row_t(63), 43);
}

TEST(PlanHostTest, RecurrentPaddingRowsAreMaterialisedAndZeroedBetweenLayers) {
  engine::SyntheticModel model(engine::Variant::kR32, 3, 2, kVocab);
  auto packed = PackedModel::Create(model.weights());
  ASSERT_TRUE(packed.ok());
  auto exec = HostExecutor::Create(**packed, backend::Bucket{2, 200});
  ASSERT_TRUE(exec.ok());
  const auto seqs = Sequences({70, 3}, 5);  // L' = 96: 26 zero rows
  ASSERT_TRUE((*exec)->Begin(Spans(seqs)).ok());
  const lamk::PlanMeta m = (*exec)->Meta();
  EXPECT_EQ(m.seq_seg(0), 96);
  EXPECT_EQ(m.seq_nchunks(0), 3);
  EXPECT_EQ(m.nrows(), 99);
  const Plan& plan = (*exec)->plan();
  // Run up to (and including) layer 0's second LayerNorm: the padding rows must be zero again.
  size_t i = 0;
  int lns = 0;
  for (; i < plan.ops.size() && lns < 2; ++i) {
    ASSERT_TRUE((*exec)->RunOp(plan.ops[i]).ok()) << plan.ops[i].Name();
    if (plan.ops[i].kind == OpKind::kResidualLn) ++lns;
  }
  const float* x = (*exec)->buffer(BufId::kX);
  for (int r = 70; r < 96; ++r) {
    for (int c = 0; c < kDim; ++c) ASSERT_EQ(x[r * kDim + c], 0.0f) << r;
  }
  for (int c = 0; c < kDim; ++c) EXPECT_NE(x[69 * kDim + c], 0.0f);
}

}  // namespace
}  // namespace lam::cuda
