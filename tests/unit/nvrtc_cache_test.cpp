// SPDX-License-Identifier: MIT
// Cubins through the disk cache: first call compiles and stores, the second loads; a corrupt or
// wrong entry is rebuilt; Precompile fills a directory for an architecture without a GPU.
#include <gtest/gtest.h>

#if LAM_HAVE_CUDA
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "backend/cuda/cubin_cache.h"
#include "backend/cuda/cuda_driver.h"
#include "backend/cuda/kernel_source.h"
#include "cache/disk_cache.h"
#include "cache/precompile.h"

namespace lam::cuda {
namespace {

namespace fs = std::filesystem;
constexpr char kModel[] = "6c616d2d626173652d7631";

class NvrtcCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::string(LAM_TEST_DATA_DIR) + "/nvrtc_cache/" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-" +
           std::to_string(::getpid());
    fs::remove_all(dir_);
    cache::DiskCacheOptions o;
    o.dir = dir_;
    auto c = cache::DiskCache::Open(o);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cache_ = std::move(c).value();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string dir_;
  std::unique_ptr<cache::DiskCache> cache_;
};

TEST_F(NvrtcCacheTest, KeyCoversToolkitArchBucketAndSource) {
  const BucketSpec spec = BucketSpec::Padded(8, 64);
  const cache::CacheKey k = CubinCacheKey(spec, "sm_90", kModel);
  EXPECT_TRUE(k.Validate().ok());
  EXPECT_EQ(k.backend, "cuda");
  EXPECT_EQ(k.device, "sm_90");
  EXPECT_EQ(k.toolkit, NvrtcVersion());
  EXPECT_EQ(k.toolkit.rfind("nvrtc-", 0), 0u);
  EXPECT_EQ(k.driver, "any");
  EXPECT_EQ(k.bucket, "s8xL64");
  EXPECT_EQ(k.model_fingerprint, kModel);
  EXPECT_EQ(k.source_hash, CompileSourceHash(CompileOptions(spec, "sm_90")));
  EXPECT_NE(CubinCacheKey(spec, "sm_80", kModel).Hash(), k.Hash());
  EXPECT_NE(CubinCacheKey(BucketSpec::Padded(8, 128), "sm_90", kModel).Hash(), k.Hash());
  EXPECT_NE(CubinCacheKey(spec, "sm_90", "other").Hash(), k.Hash());
  // Without a driver here the version reads "none"; with one, a number. Never empty.
  const std::string driver = DriverVersionString();
  EXPECT_FALSE(driver.empty());
  if (DeviceCount() == 0) {
    EXPECT_TRUE(driver == "none" || driver.find_first_not_of("0123456789") == std::string::npos);
  }
}

TEST_F(NvrtcCacheTest, CompilesOnceThenLoadsAndRebuildsCorruptEntries) {
  const BucketSpec spec = BucketSpec::Padded(8, 64);
  auto first = CompileOrLoad(spec, "sm_90", kModel, *cache_);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->disk_hit);
  EXPECT_GT(first->compile_ms, 0.0);
  EXPECT_TRUE(first->store_status.ok());
  std::printf("[ timing   ] s8xL64 sm_90: compile %.0f ms\n", first->compile_ms);
  const std::string path = cache_->PathFor(CubinCacheKey(spec, "sm_90", kModel));
  ASSERT_TRUE(fs::exists(path));

  // A restarted daemon (new DiskCache on the same directory) loads instead of compiling.
  cache::DiskCacheOptions o;
  o.dir = dir_;
  auto reopened = cache::DiskCache::Open(o);
  ASSERT_TRUE(reopened.ok());
  auto second = CompileOrLoad(spec, "sm_90", kModel, **reopened);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_TRUE(second->disk_hit);
  EXPECT_EQ(second->compile_ms, 0.0);
  EXPECT_EQ(second->cubin.image, first->cubin.image);
  EXPECT_EQ(second->cubin.source_hash, first->cubin.source_hash);
  EXPECT_EQ((*reopened)->stats().hits, 1u);
  std::printf("[ timing   ] s8xL64 sm_90: load %.2f ms\n", second->load_ms);

  // Flip one payload byte: the store rejects it, CompileOrLoad rebuilds and re-stores.
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-100, std::ios::end);
    f.put('\x5a');
  }
  auto third = CompileOrLoad(spec, "sm_90", kModel, *cache_);
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_FALSE(third->disk_hit);
  EXPECT_EQ(third->cubin.image, first->cubin.image);  // NVRTC is deterministic
  EXPECT_EQ(cache_->stats().corrupt_rejected, 1u);
  auto fourth = CompileOrLoad(spec, "sm_90", kModel, *cache_);
  ASSERT_TRUE(fourth.ok());
  EXPECT_TRUE(fourth->disk_hit);
}

TEST_F(NvrtcCacheTest, ValidEntryWithTheWrongImageIsRebuilt) {
  // An intact entry (right key, good checksum) whose payload is not a cubin for the arch, as a
  // buggy or foreign writer could leave: the cubin check refuses it before the driver sees it.
  const BucketSpec spec = BucketSpec::Padded(8, 64);
  const cache::CacheKey key = CubinCacheKey(spec, "sm_90", kModel);
  const std::vector<uint8_t> junk(4096, 0x7f);
  ASSERT_TRUE(cache_->Put(key, junk).ok());
  EXPECT_FALSE(ValidateCubin(junk, "sm_90").ok());
  auto r = CompileOrLoad(spec, "sm_90", kModel, *cache_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->disk_hit);
  EXPECT_TRUE(ValidateCubin(r->cubin.image, "sm_90").ok());
  EXPECT_FALSE(ValidateCubin(r->cubin.image, "sm_80").ok());
  auto again = cache_->Get(key);
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ(**again, r->cubin.image);
}

TEST_F(NvrtcCacheTest, PrecompileFillsADirectoryWithoutAGpu) {
  const std::string dir = dir_ + "/fleet";
  const std::vector<BucketSpec> buckets = {BucketSpec::Padded(8, 64), BucketSpec::Packed(2048, 512)};
  auto report = cache::Precompile(kModel, "sm_90", buckets, dir);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->size(), 2u);
  for (const auto& b : *report) {
    EXPECT_FALSE(b.already_cached);
    EXPECT_GT(b.compile_ms, 0.0);
    EXPECT_GT(b.cubin_bytes, 0u);
    EXPECT_TRUE(fs::exists(b.file)) << b.file;
    std::printf("[ timing   ] precompile %s sm_90: %.0f ms, %llu bytes\n", b.bucket.c_str(),
                b.compile_ms, static_cast<unsigned long long>(b.cubin_bytes));
  }
  EXPECT_EQ((*report)[1].bucket, "t2048xL512");
  // A second run finds everything; a serving process on that directory gets disk hits.
  auto again = cache::Precompile(kModel, "sm_90", buckets, dir);
  ASSERT_TRUE(again.ok());
  for (const auto& b : *again) EXPECT_TRUE(b.already_cached) << b.bucket;
  cache::DiskCacheOptions o;
  o.dir = dir;
  auto serving = cache::DiskCache::Open(o);
  ASSERT_TRUE(serving.ok());
  auto loaded = CompileOrLoad(buckets[1], "sm_90", kModel, **serving);
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->disk_hit);

  auto bad = cache::Precompile(kModel, "sm_9", buckets, dir);
  EXPECT_EQ(bad.status().code(), LAM_STATUS_INVALID_ARG);
  auto none = cache::Precompile(kModel, "sm_90", {}, dir);
  EXPECT_EQ(none.status().code(), LAM_STATUS_INVALID_ARG);
}

// What CudaBackend::Create loads: compiled and stored by the first start, loaded (no NVRTC) by the
// next, and compiled every time without a cache.
TEST_F(NvrtcCacheTest, PlanKernelsAreCompiledOnceThenLoadedFromTheCache) {
  auto first = LoadPlanKernels("sm_90", cache_.get());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->disk_hit);
  EXPECT_GT(first->compile_ms, 0.0);
  EXPECT_TRUE(first->store_status.ok()) << first->store_status.ToString();
  EXPECT_TRUE(ValidateCubin(first->cubin.image, "sm_90").ok());
  const cache::CacheKey key = CubinCacheKey(PlanKernelSpec(), "sm_90", kPlanKernelsModel);
  EXPECT_TRUE(fs::exists(cache_->PathFor(key)));

  auto second = LoadPlanKernels("sm_90", cache_.get());
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_TRUE(second->disk_hit);
  EXPECT_EQ(second->compile_ms, 0.0);
  EXPECT_EQ(second->cubin.image, first->cubin.image);
  std::printf("[ timing   ] plan kernels sm_90: compiled in %.0f ms, loaded in %.2f ms\n", first->compile_ms,
              second->load_ms);

  // Another architecture is another image.
  auto other = LoadPlanKernels("sm_80", cache_.get());
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_FALSE(other->disk_hit);
  EXPECT_TRUE(ValidateCubin(other->cubin.image, "sm_80").ok());

  auto uncached = LoadPlanKernels("sm_90", nullptr);
  ASSERT_TRUE(uncached.ok()) << uncached.status().ToString();
  EXPECT_FALSE(uncached->disk_hit);
  EXPECT_EQ(uncached->cubin.image, first->cubin.image);

  auto bad = LoadPlanKernels("sm_9", cache_.get());
  EXPECT_EQ(bad.status().code(), LAM_STATUS_INVALID_ARG);
}

// `lamd --precompile` on a machine without a GPU fills exactly the entry a CUDA lamd loads.
TEST_F(NvrtcCacheTest, LamdPrecompileFillsWhatTheBackendLoads) {
  const char* bin = std::getenv("LAM_BIN_DIR");
  if (bin == nullptr) GTEST_SKIP() << "LAM_BIN_DIR is not set (run through ctest)";
  const std::string lamd = std::string(bin) + "/lamd";
  ASSERT_TRUE(fs::exists(lamd)) << lamd;
  const std::string dir = dir_ + "/fleet";
  const std::string cmd = lamd + " --precompile --arch sm_90 --cache-dir " + dir + " 2>&1";
  for (const bool warm : {false, true}) {
    FILE* p = ::popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[512];
    while (std::fgets(buf, sizeof(buf), p) != nullptr) out += buf;
    const int rc = ::pclose(p);
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find(warm ? "already cached" : "compiled"), std::string::npos) << out;
  }
  cache::DiskCacheOptions o;
  o.dir = dir;
  auto serving = cache::DiskCache::Open(o);
  ASSERT_TRUE(serving.ok()) << serving.status().ToString();
  auto loaded = LoadPlanKernels("sm_90", serving->get());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_TRUE(loaded->disk_hit);

  // A --model that does not load fails the precompile with its reason.
  FILE* p = ::popen((lamd + " --precompile --arch sm_90 --cache-dir " + dir + " --model /nonexistent-model 2>&1").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  EXPECT_NE(::pclose(p), 0) << out;
  EXPECT_NE(out.find("lamd --precompile:"), std::string::npos) << out;
}

}  // namespace
}  // namespace lam::cuda

#else
#include "cache/precompile.h"
TEST(NvrtcCache, PrecompileNeedsTheToolkit) {
  auto r = lam::cache::Precompile("m", "sm_90", {}, "/tmp/unused");
  EXPECT_EQ(r.status().code(), LAM_STATUS_UNSUPPORTED);
}
#endif
