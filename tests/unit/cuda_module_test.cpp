// SPDX-License-Identifier: MIT
// The CUDA backend module as lamd sees it: found next to the binaries, its ABI checked, and on a
// host without a GPU it refuses with a reason (the engine then serves on the CPU backend).
#include <gtest/gtest.h>

#if LAM_HAVE_CUDA
#include "backend/cuda/cuda_driver.h"
#include "backend/cuda/cuda_module.h"
#include "engine/engine.h"
#include "engine/synthetic_model.h"

namespace lam::cuda {
namespace {

TEST(CudaModuleTest, LoadsFromTheBuildTreeWithThisBuildsAbi) {
  auto module = LoadCudaModule();
  ASSERT_TRUE(module.ok()) << module.status().ToString();
  EXPECT_EQ((*module)->abi, kCudaModuleAbi);
  EXPECT_EQ((*module)->weights_size, sizeof(engine::ModelWeights));
  ASSERT_NE((*module)->create_backend, nullptr);
  ASSERT_NE((*module)->precompile, nullptr);
}

TEST(CudaModuleTest, WithoutADeviceCreateRefusesWithAReason) {
  if (DeviceCount() > 0) GTEST_SKIP() << "a CUDA device is present (tests/gpu covers this host)";
  auto module = LoadCudaModule();
  ASSERT_TRUE(module.ok()) << module.status().ToString();
  engine::SyntheticModel model(engine::Variant::kF128, 1, 1, 1000);
  std::unique_ptr<backend::Backend> b;
  const Status st = (*module)->create_backend(model.weights(), CudaBackendOptions{}, &b);
  EXPECT_EQ(st.code(), LAM_STATUS_UNSUPPORTED);
  EXPECT_NE(st.message().find("no CUDA device"), std::string::npos) << st.ToString();
  EXPECT_EQ(b, nullptr);
}

TEST(CudaModuleTest, PrecompileRunsThroughTheModule) {
  auto module = LoadCudaModule();
  ASSERT_TRUE(module.ok()) << module.status().ToString();
  // No buckets: refused before any NVRTC work (the compile itself is nvrtc_compile_test's).
  auto r = (*module)->precompile("fp", "sm_90", {}, "/nonexistent", 1 << 20);
  EXPECT_EQ(r.status().code(), LAM_STATUS_INVALID_ARG);
}

}  // namespace
}  // namespace lam::cuda
#else
TEST(CudaModuleTest, BuiltWithoutTheCudaToolkit) { GTEST_SKIP() << "no CUDA toolkit in this build"; }
#endif
