// SPDX-License-Identifier: MIT
// Runs every NVRTC kernel of lam_kernels.cuh on the GPU (cubin loaded with cuModuleLoadData
// through the disk cache) and compares it with the same body run on the host (kernels_host.h).
// Skips cleanly without a CUDA device or driver.
#include <gtest/gtest.h>

#if LAM_HAVE_CUDA
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <vector>

#include "backend/cuda/cubin_cache.h"
#include "backend/cuda/cuda_driver.h"
#include "backend/cuda/kernels_host.h"
#include "cache/disk_cache.h"

namespace lam::cuda {
namespace {

constexpr int H = LAM_HIDDEN;

// Launch geometry (the runtime's dim3 is not used: this test talks to the driver API only).
struct Dim {
  unsigned x, y, z;
  Dim(unsigned x_, unsigned y_, unsigned z_) : x(x_), y(y_), z(z_) {}
};

std::vector<float> Random(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// max |a - b| / max(1, max |b|) over the first n elements.
double RelErr(const std::vector<float>& a, const std::vector<float>& b) {
  double err = 0, scale = 1;
  for (size_t i = 0; i < b.size(); ++i) {
    err = std::max(err, std::abs(double(a[i]) - double(b[i])));
    scale = std::max(scale, std::abs(double(b[i])));
  }
  return err / scale;
}

class GpuKernelsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (DeviceCount() == 0) return;
    api_ = Driver();
    auto arch = DeviceArch(0);
    ASSERT_TRUE(arch.ok()) << arch.status().ToString();
    ASSERT_EQ(api_->DeviceGet(&dev_, 0), CUDA_SUCCESS);
    ASSERT_EQ(api_->DevicePrimaryCtxRetain(&ctx_, dev_), CUDA_SUCCESS);
    ASSERT_EQ(api_->CtxSetCurrent(ctx_), CUDA_SUCCESS);
    cache::DiskCacheOptions o;
    o.dir = std::string(LAM_TEST_DATA_DIR) + "/gpu_kernels_" + std::to_string(::getpid());
    auto c = cache::DiskCache::Open(o);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    auto loaded = CompileOrLoad(BucketSpec::Packed(4096), *arch, "gpu-test", **c);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    std::printf("[ gpu      ] %s, t4096 cubin %zu bytes, compile %.0f ms\n", arch->c_str(),
                loaded->cubin.image.size(), loaded->compile_ms);
    const CUresult rc = api_->ModuleLoadData(&module_, loaded->cubin.image.data());
    ASSERT_EQ(rc, CUDA_SUCCESS) << api_->ErrorText(rc);
    std::filesystem::remove_all(o.dir);
  }
  static void TearDownTestSuite() {
    if (module_ != nullptr) api_->ModuleUnload(module_);
    if (ctx_ != nullptr) api_->DevicePrimaryCtxRelease(dev_);
    module_ = nullptr;
    ctx_ = nullptr;
  }
  void SetUp() override {
    if (DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
    ASSERT_NE(module_, nullptr);
    ASSERT_EQ(api_->CtxSetCurrent(ctx_), CUDA_SUCCESS);
  }
  void TearDown() override {
    for (CUdeviceptr p : allocs_) api_->MemFree(p);
    allocs_.clear();
  }

  template <typename T>
  CUdeviceptr Upload(const std::vector<T>& host) {
    CUdeviceptr p = 0;
    EXPECT_EQ(api_->MemAlloc(&p, std::max<size_t>(1, host.size() * sizeof(T))), CUDA_SUCCESS);
    allocs_.push_back(p);
    if (!host.empty()) {
      EXPECT_EQ(api_->MemcpyHtoD(p, host.data(), host.size() * sizeof(T)), CUDA_SUCCESS);
    }
    return p;
  }
  CUdeviceptr Zeros(size_t floats) { return Upload(std::vector<float>(floats, 0.0f)); }
  std::vector<float> Download(CUdeviceptr p, size_t floats) {
    std::vector<float> out(floats);
    EXPECT_EQ(api_->MemcpyDtoH(out.data(), p, floats * sizeof(float)), CUDA_SUCCESS);
    return out;
  }
  template <typename... Args>
  void Launch(const char* name, Dim grid, Dim block, Args... args) {
    CUfunction fn = nullptr;
    ASSERT_EQ(api_->ModuleGetFunction(&fn, module_, name), CUDA_SUCCESS) << name;
    void* params[] = {static_cast<void*>(&args)...};
    CUresult rc = api_->LaunchKernel(fn, grid.x, grid.y, grid.z, block.x, block.y, block.z, 0,
                                     nullptr, params, nullptr);
    ASSERT_EQ(rc, CUDA_SUCCESS) << name << ": " << api_->ErrorText(rc);
    rc = api_->CtxSynchronize();
    ASSERT_EQ(rc, CUDA_SUCCESS) << name << ": " << api_->ErrorText(rc);
  }

  struct Batch {
    std::vector<int> start, len;
    int rows = 0, max_len = 0;
    explicit Batch(std::vector<int> lengths) : len(std::move(lengths)) {
      for (int l : len) {
        start.push_back(rows);
        rows += l;
        max_len = std::max(max_len, l);
      }
    }
    int n() const { return static_cast<int>(len.size()); }
    Dim RowGrid() const {
      return Dim((max_len + LAM_ROWS_PER_BLOCK - 1) / LAM_ROWS_PER_BLOCK, static_cast<unsigned>(n()), 1);
    }
  };

  static inline const DriverApi* api_ = nullptr;
  static inline CUdevice dev_ = 0;
  static inline CUcontext ctx_ = nullptr;
  static inline CUmodule module_ = nullptr;
  std::vector<CUdeviceptr> allocs_;
};

const Dim kRowBlock(32, LAM_ROWS_PER_BLOCK, 1);

TEST_F(GpuKernelsTest, EmbedLayerNorm) {
  const Batch b({5, 700, 128});
  std::vector<float> word(static_cast<size_t>(LAM_VOCAB) * H, 0.0f);
  const auto used = Random(1000 * H, 1);
  std::copy(used.begin(), used.end(), word.begin());
  const auto pos = Random(LAM_POS_ROWS * H, 2), type0 = Random(H, 3);
  const auto w = Random(H, 4, 0.5f, 1.5f), bias = Random(H, 5);
  std::vector<int> ids(b.rows);
  std::mt19937 rng(6);
  for (int& id : ids) id = static_cast<int>(rng() % 1000);
  std::vector<float> want(static_cast<size_t>(b.rows) * H);
  host::EmbedLn(ids.data(), b.start.data(), b.len.data(), b.n(), word.data(), pos.data(),
                type0.data(), w.data(), bias.data(), want.data());
  const CUdeviceptr out = Zeros(want.size());
  Launch("lam_embed_ln", b.RowGrid(), kRowBlock, Upload(ids), Upload(b.start), Upload(b.len), b.n(),
         Upload(word), Upload(pos), Upload(type0), Upload(w), Upload(bias), out);
  EXPECT_LT(RelErr(Download(out, want.size()), want), 1e-5);
}

TEST_F(GpuKernelsTest, QkvConvAndF128Scan) {
  const Batch b({1, 7, 64, 100, 200, 256, 300});
  const size_t n = static_cast<size_t>(b.rows) * H;
  const auto proj = Random(static_cast<size_t>(b.rows) * LAM_QKV, 11);
  const auto logits = Random(static_cast<size_t>(b.rows) * LAM_GATES, 12, -3, 3);
  const auto cw = Random(LAM_QKV * 4, 13), cb = Random(LAM_QKV, 14, -0.2f, 0.2f);
  std::vector<float> q(n), k(n), v(n), g(static_cast<size_t>(b.rows) * LAM_GATES), o(n);
  host::QkvConv(proj.data(), logits.data(), b.start.data(), b.len.data(), b.n(), cw.data(),
                cb.data(), q.data(), k.data(), v.data(), g.data());
  host::F128Scan(q.data(), k.data(), v.data(), g.data(), b.start.data(), b.len.data(), b.n(),
                 o.data());
  const CUdeviceptr dstart = Upload(b.start), dlen = Upload(b.len);
  const CUdeviceptr dq = Zeros(n), dk = Zeros(n), dv = Zeros(n), dg = Zeros(g.size()),
                    dout = Zeros(n);
  Launch("lam_qkv_conv", b.RowGrid(), kRowBlock, Upload(proj), Upload(logits), dstart, dlen, b.n(),
         Upload(cw), Upload(cb), dq, dk, dv, dg);
  EXPECT_LT(RelErr(Download(dq, n), q), 1e-5);
  EXPECT_LT(RelErr(Download(dk, n), k), 1e-5);
  EXPECT_LT(RelErr(Download(dv, n), v), 1e-5);
  EXPECT_LT(RelErr(Download(dg, g.size()), g), 1e-6);
  // The scan reads the host's q/k/v/gates so that only the scan is compared.
  int max_chunks = 1;
  for (int L : b.len) {
    const int c = lamk::chunk_size(L, LAM_CHUNK);
    max_chunks = std::max(max_chunks, (L + c - 1) / c);
  }
  Launch("lam_f128_scan", Dim(max_chunks, LAM_HEADS, static_cast<unsigned>(b.n())), Dim(32, 1, 1), Upload(q), Upload(k),
         Upload(v), Upload(g), dstart, dlen, b.n(), dout);
  EXPECT_LT(RelErr(Download(dout, n), o), 1e-4);
}

TEST_F(GpuKernelsTest, GatedRmsNormResidualLayerNormAndGelu) {
  const Batch b({3, 33, 130});
  const size_t n = static_cast<size_t>(b.rows) * H;
  const auto o = Random(n, 31, -2, 2), gg = Random(n, 32, -4, 4), nw = Random(LAM_HEAD_DIM, 33);
  std::vector<float> want(n);
  host::GatedRmsNorm(o.data(), gg.data(), b.start.data(), b.len.data(), b.n(), nw.data(), want.data());
  const CUdeviceptr dstart = Upload(b.start), dlen = Upload(b.len);
  CUdeviceptr dout = Zeros(n);
  Launch("lam_gated_rmsnorm", b.RowGrid(), kRowBlock, Upload(o), Upload(gg), dstart, dlen, b.n(),
         Upload(nw), dout);
  EXPECT_LT(RelErr(Download(dout, n), want), 1e-5);

  const auto x = Random(n, 41), d = Random(n, 42), bias = Random(H, 43);
  const auto lw = Random(H, 44, 0.5f, 1.5f), lb = Random(H, 45);
  for (bool with_bias : {false, true}) {
    host::ResidualLn(x.data(), d.data(), with_bias ? bias.data() : nullptr, b.start.data(),
                     b.len.data(), b.n(), lw.data(), lb.data(), want.data());
    dout = Zeros(n);
    const CUdeviceptr dbias = with_bias ? Upload(bias) : CUdeviceptr{0};
    Launch("lam_residual_ln", b.RowGrid(), kRowBlock, Upload(x), Upload(d), dbias, dstart, dlen,
           b.n(), Upload(lw), Upload(lb), dout);
    EXPECT_LT(RelErr(Download(dout, n), want), 1e-5) << with_bias;
  }

  const int rows = b.rows;
  const auto fx = Random(static_cast<size_t>(rows) * LAM_FFN, 51, -6, 6), fb = Random(LAM_FFN, 52);
  std::vector<float> fwant(fx.size());
  host::BiasGelu2(fx.data(), fb.data(), rows, fwant.data());
  dout = Zeros(fx.size());
  Launch("lam_bias_gelu2", Dim(120, 1, 1), Dim(256, 1, 1), Upload(fx), Upload(fb), rows, dout);
  EXPECT_LT(RelErr(Download(dout, fx.size()), fwant), 1e-5);
}

TEST_F(GpuKernelsTest, MeanPoolL2) {
  const Batch b({1, 17, 300, 3000});  // 3318 rows: within the t4096 bucket
  const auto y = Random(static_cast<size_t>(b.rows) * H, 61, -3, 3);
  std::vector<float> want(static_cast<size_t>(b.n()) * H);
  host::MeanPoolL2(y.data(), b.start.data(), b.len.data(), b.n(), want.data());
  const CUdeviceptr dout = Zeros(want.size());
  Launch("lam_mean_pool_l2", Dim(static_cast<unsigned>(b.n()), 1, 1), Dim(H, 1, 1), Upload(y), Upload(b.start),
         Upload(b.len), b.n(), dout);
  EXPECT_LT(RelErr(Download(dout, want.size()), want), 1e-5);
}

}  // namespace
}  // namespace lam::cuda

#else
TEST(GpuKernelsTest, RequiresCudaToolkit) { GTEST_SKIP() << "built without the CUDA toolkit"; }
#endif
