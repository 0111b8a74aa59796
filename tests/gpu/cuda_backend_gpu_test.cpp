// SPDX-License-Identifier: MIT
// The CUDA executor against the host executor (op by op: the same plan, the same task bodies)
// and against the CPU backend (the full embedding through the bucket's CUDA graph), for every
// LAM variant and BERT on ragged batches. Skips cleanly without a CUDA device.
#include <gtest/gtest.h>
#include <unistd.h>

#if LAM_HAVE_CUDA
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <random>
#include <vector>

#include "../unit/random_bert.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_bert.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_driver.h"
#include "backend/cuda/host_executor.h"
#include "cache/disk_cache.h"
#include "engine/synthetic_model.h"
#include "unit/support/cosine.h"

namespace lam::cuda {
namespace {

constexpr int kVocab = 1000;

std::vector<std::vector<int32_t>> Sequences(const std::vector<int>& lengths, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::vector<int32_t>> out;
  for (int len : lengths) {
    std::vector<int32_t> ids(static_cast<size_t>(len));
    for (auto& id : ids) id = static_cast<int32_t>(rng() % kVocab);
    out.push_back(std::move(ids));
  }
  return out;
}

// Largest |a - b| / max(1, max |b|) over the rows the batch uses (rows_used x cols).
double RelErr(const float* a, const float* b, size_t n) {
  double err = 0, scale = 1;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(a[i]) && !std::isfinite(b[i])) continue;
    err = std::max(err, std::abs(double(a[i]) - double(b[i])));
    scale = std::max(scale, std::abs(double(b[i])));
  }
  return err / scale;
}

using lam::testing::Cosine;

void CompareAll(const engine::ModelWeights& w, backend::Backend& cpu, const std::vector<int>& lengths) {
  if (DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  const auto seqs = Sequences(lengths, 3);
  std::vector<engine::TokenSpan> spans;
  int tokens = 0;
  for (const auto& s : seqs) {
    spans.push_back({s.data(), s.size()});
    tokens += static_cast<int>(s.size());
  }
  const backend::Bucket bucket{static_cast<int>(lengths.size()) + 2, tokens + 40};
  auto gpu = CudaBackend::Create(w, CudaBackendOptions{});
  ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
  auto gexe = (*gpu)->Compile(bucket);
  ASSERT_TRUE(gexe.ok()) << gexe.status().ToString();
  auto host = HostExecutor::Create((*gpu)->packed(), bucket);
  ASSERT_TRUE(host.ok());
  ASSERT_TRUE((*host)->Begin(spans).ok());
  const Plan& plan = (*host)->plan();
  const int rows = (*host)->Meta().nrows();

  // Every op: the GPU's buffer after ops [0, i] against the host executor's.
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const Op& op = plan.ops[i];
    ASSERT_TRUE((*host)->RunOp(op).ok()) << op.Name();
    std::vector<float> dev;
    const Status st = (*gpu)->RunOpsAndRead(**gexe, spans, i + 1, op.out, &dev);
    ASSERT_TRUE(st.ok()) << op.Name() << ": " << st.ToString();
    const BufferSpec& b = plan.buf(op.out);
    const size_t n = op.out == BufId::kOut ? spans.size() * LAM_HIDDEN
                     : op.out == BufId::kPsi ? static_cast<size_t>((*host)->Meta().nchunks()) * LAM_HEADS
                                              : static_cast<size_t>(rows) * b.cols;
    const double err = RelErr(dev.data(), (*host)->buffer(op.out), n);
    std::printf("[ op       ] %-48s rel err %.3g\n", op.Name().c_str(), err);
    EXPECT_LE(err, 1e-3) << op.Name();
  }

  // The full embedding through the graph against the CPU backend, twice (replay).
  auto cexe = cpu.Compile(bucket);
  ASSERT_TRUE(cexe.ok());
  std::vector<float> want(spans.size() * LAM_HIDDEN), got(want.size());
  ASSERT_TRUE(cpu.Run(**cexe, spans, want.data()).ok());
  for (int rep = 0; rep < 2; ++rep) {
    const Status st = (*gpu)->Run(**gexe, spans, got.data());
    ASSERT_TRUE(st.ok()) << st.ToString();
    for (size_t b = 0; b < spans.size(); ++b) {
      const float* a = got.data() + b * LAM_HIDDEN;
      const float* r = want.data() + b * LAM_HIDDEN;
      EXPECT_GE(Cosine(a, r), 0.99999) << "sequence " << b << " length " << lengths[b];
      EXPECT_LE(RelErr(a, r, LAM_HIDDEN), 1e-4) << "sequence " << b << " length " << lengths[b];
    }
  }
}

void CompareLam(engine::Variant v, const std::vector<int>& lengths) {
  engine::SyntheticModel model(v, 21, /*layers=*/2, kVocab);
  auto cpu = cpu::CpuBackend::Create(model.weights(), cpu::CpuBackendOptions{});
  ASSERT_TRUE(cpu.ok());
  CompareAll(model.weights(), **cpu, lengths);
}

TEST(CudaBackendGpuTest, F128EveryOpAndEmbeddingMatch) { CompareLam(engine::Variant::kF128, {1, 33, 100, 256, 300, 600}); }
TEST(CudaBackendGpuTest, R64TEveryOpAndEmbeddingMatch) { CompareLam(engine::Variant::kR64T, {2, 64, 100, 200, 256, 530}); }
TEST(CudaBackendGpuTest, R32EveryOpAndEmbeddingMatch) { CompareLam(engine::Variant::kR32, {1, 63, 100, 161, 520}); }

TEST(CudaBackendGpuTest, BertEveryOpAndEmbeddingMatch) {
  enginetest::RandomBert model(5, 2, kVocab, 512);
  auto cpu = cpu::CpuBertBackend::Create(model.weights(), 0);
  ASSERT_TRUE(cpu.ok());
  CompareAll(model.weights(), **cpu, {1, 7, 130, 512});
}

TEST(CudaBackendGpuTest, ABatchThatDoesNotFitFailsWithAStatus) {
  if (DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  engine::SyntheticModel model(engine::Variant::kF128, 1, 1, kVocab);
  auto gpu = CudaBackend::Create(model.weights(), CudaBackendOptions{});
  ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
  auto exe = (*gpu)->Compile(backend::Bucket{1, 16});
  ASSERT_TRUE(exe.ok()) << exe.status().ToString();
  const auto seqs = Sequences({20}, 1);
  std::vector<engine::TokenSpan> spans{{seqs[0].data(), seqs[0].size()}};
  std::vector<float> out(LAM_HIDDEN);
  EXPECT_EQ((*gpu)->Run(**exe, spans, out.data()).code(), LAM_STATUS_INVALID_ARG);
}

// --precision tf32 (cuBLASLt FAST_TF32): within cosine 0.999 of the fp32 CPU backend (the mode's
// contract) and close to the host executor's emulation of the same rounding.
void CompareTf32(const engine::ModelWeights& w, backend::Backend& cpu, const std::vector<int>& lengths) {
  if (DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  const auto seqs = Sequences(lengths, 4);
  std::vector<engine::TokenSpan> spans;
  int tokens = 0;
  for (const auto& s : seqs) {
    spans.push_back({s.data(), s.size()});
    tokens += static_cast<int>(s.size());
  }
  const backend::Bucket bucket{static_cast<int>(lengths.size()), tokens};
  CudaBackendOptions o;
  o.precision = "tf32";
  auto gpu = CudaBackend::Create(w, o);
  ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
  EXPECT_EQ((*gpu)->precision(), GemmPrecision::kTf32);
  auto gexe = (*gpu)->Compile(bucket);
  ASSERT_TRUE(gexe.ok()) << gexe.status().ToString();
  auto host = HostExecutor::Create((*gpu)->packed(), bucket, GemmPrecision::kTf32);
  ASSERT_TRUE(host.ok());
  auto cexe = cpu.Compile(bucket);
  ASSERT_TRUE(cexe.ok());
  std::vector<float> got(spans.size() * LAM_HIDDEN), emulated(got.size()), fp32(got.size());
  ASSERT_TRUE((*gpu)->Run(**gexe, spans, got.data()).ok());
  ASSERT_TRUE((*host)->Run(spans, emulated.data()).ok());
  ASSERT_TRUE(cpu.Run(**cexe, spans, fp32.data()).ok());
  for (size_t b = 0; b < spans.size(); ++b) {
    const double to_fp32 = Cosine(got.data() + b * LAM_HIDDEN, fp32.data() + b * LAM_HIDDEN);
    const double to_emulated = Cosine(got.data() + b * LAM_HIDDEN, emulated.data() + b * LAM_HIDDEN);
    std::printf("[ tf32     ] length %d: cosine to fp32 1 - %.3g, to the host emulation 1 - %.3g\n", lengths[b],
                1.0 - to_fp32, 1.0 - to_emulated);
    EXPECT_GE(to_fp32, 0.999) << "length " << lengths[b];
    EXPECT_GE(to_emulated, 0.9999) << "length " << lengths[b];
  }
}

TEST(CudaBackendGpuTest, Tf32EmbeddingsStayWithinTheFastModeBound) {
  {
    engine::SyntheticModel model(engine::Variant::kF128, 21, /*layers=*/2, kVocab);
    auto cpu = cpu::CpuBackend::Create(model.weights(), cpu::CpuBackendOptions{});
    ASSERT_TRUE(cpu.ok());
    CompareTf32(model.weights(), **cpu, {1, 33, 256, 600});
  }
  enginetest::RandomBert model(5, 2, kVocab, 512);
  auto cpu = cpu::CpuBertBackend::Create(model.weights(), 0);
  ASSERT_TRUE(cpu.ok());
  CompareTf32(model.weights(), **cpu, {1, 7, 130, 512});
}

// A restart with the disk cache loads the kernel image the first start stored (no NVRTC) and
// computes the same bits.
TEST(CudaBackendGpuTest, ASecondStartLoadsTheKernelsFromTheDiskCache) {
  if (DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  const std::string dir = std::string(LAM_TEST_DATA_DIR) + "/cuda_restart-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  cache::DiskCacheOptions o;
  o.dir = dir;
  auto disk = cache::DiskCache::Open(o);
  ASSERT_TRUE(disk.ok()) << disk.status().ToString();
  engine::SyntheticModel model(engine::Variant::kF128, 1, 1, kVocab);
  CudaBackendOptions options;
  options.disk = disk->get();
  const auto seqs = Sequences({5, 40}, 2);
  std::vector<engine::TokenSpan> spans{{seqs[0].data(), seqs[0].size()}, {seqs[1].data(), seqs[1].size()}};
  std::vector<float> out[2];
  for (int start = 0; start < 2; ++start) {
    auto gpu = CudaBackend::Create(model.weights(), options);
    ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
    EXPECT_EQ((*gpu)->kernels_from_cache(), start == 1);
    auto exe = (*gpu)->Compile(backend::Bucket{2, 64});
    ASSERT_TRUE(exe.ok()) << exe.status().ToString();
    out[start].assign(2 * LAM_HIDDEN, 0.0f);
    ASSERT_TRUE((*gpu)->Run(**exe, spans, out[start].data()).ok());
  }
  EXPECT_EQ(out[0], out[1]);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lam::cuda
#else
TEST(CudaBackendGpuTest, BuiltWithoutTheCudaToolkit) { GTEST_SKIP() << "no CUDA toolkit in this build"; }
#endif
