// SPDX-License-Identifier: MIT
// NVRTC specialisation of lam_kernels.cuh per bucket: the cubin is for the requested
// architecture and defines every kernel; options and errors are recorded. No GPU needed.
#include <gtest/gtest.h>

#if LAM_HAVE_CUDA
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>

#include "backend/cuda/bucket_spec.h"
#include "backend/cuda/cubin_inspect.h"
#include "backend/cuda/kernel_source.h"
#include "backend/cuda/nvrtc_compiler.h"

namespace lam::cuda {
namespace {

// Compiles each (bucket, arch) once per test binary; NVRTC takes seconds per program.
const Cubin& Compiled(const BucketSpec& spec, const std::string& arch) {
  static std::map<std::string, Cubin> done;
  const std::string id = spec.Name() + "/" + arch;
  auto it = done.find(id);
  if (it == done.end()) {
    auto r = CompileBucket(spec, arch);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) std::abort();
    std::printf("[ compile  ] %s for %s: %.0f ms, %zu bytes\n", spec.Name().c_str(), arch.c_str(),
                r->compile_ms, r->image.size());
    it = done.emplace(id, std::move(r).value()).first;
  }
  return it->second;
}

bool HasArch(const std::string& arch) {
  const auto archs = NvrtcSupportedArchs();
  return std::find(archs.begin(), archs.end(), arch) != archs.end();
}

TEST(NvrtcCompile, BucketNamesParseAndValidate) {
  EXPECT_EQ(BucketSpec::Padded(64, 128).Name(), "s64xL128");
  EXPECT_EQ(BucketSpec::Packed(4096).Name(), "t4096");
  EXPECT_EQ(BucketSpec::Packed(16384).Name(), "t16384");  // length capped at 8192 by default
  EXPECT_EQ(BucketSpec::Packed(4096, 512).Name(), "t4096xL512");
  for (const char* name : {"s64xL128", "t4096", "t4096xL512", "s1xL1"}) {
    auto b = BucketSpec::Parse(name);
    ASSERT_TRUE(b.ok()) << name << ": " << b.status().ToString();
    EXPECT_EQ(b->Name(), name);
  }
  for (const char* name : {"", "s64", "s64xL", "x64xL128", "s0xL128", "s064xL128", "t-5", "t4096xL8193"}) {
    auto b = BucketSpec::Parse(name);
    EXPECT_FALSE(b.ok()) << name;
    if (!b.ok()) {
      EXPECT_EQ(b.status().code(), LAM_STATUS_INVALID_ARG) << name;
    }
  }
  BucketSpec bad = BucketSpec::Padded(2, 8);
  bad.shape.head_dim = 64;
  EXPECT_NE(bad.Validate().message().find("shape.head_dim"), std::string::npos);
  bad = BucketSpec::Padded(70000, 8);
  EXPECT_NE(bad.Validate().message().find("max_seqs"), std::string::npos);
  const auto defines = BucketSpec::Padded(64, 128).Defines();
  EXPECT_NE(std::find(defines.begin(), defines.end(), "-DLAM_MAX_LEN=128"), defines.end());
  EXPECT_NE(std::find(defines.begin(), defines.end(), "-DLAM_MAX_TOKENS=8192"), defines.end());
  EXPECT_NE(std::find(defines.begin(), defines.end(), "-DLAM_CHUNK=128"), defines.end());
}

TEST(NvrtcCompile, CubinIsForTheRequestedArchAndHasEveryKernel) {
  for (const char* arch : {"sm_90", "sm_80", "sm_100"}) {  // H100/H200, A100, B200
    if (!HasArch(arch)) continue;
    const Cubin& c = Compiled(BucketSpec::Padded(64, 128), arch);
    EXPECT_EQ(c.arch, arch);
    EXPECT_EQ(c.bucket, "s64xL128");
    EXPECT_EQ(c.program_name, std::string("lam_kernels_s64xL128_") + arch + ".cu");
    EXPECT_EQ(c.options.front(), std::string("--gpu-architecture=") + arch);
    EXPECT_NE(std::find(c.options.begin(), c.options.end(), "-DLAM_MAX_SEQS=64"), c.options.end());
    EXPECT_EQ(c.source_hash.size(), 32u);
    EXPECT_GT(c.compile_ms, 0.0);
    ::testing::Test::RecordProperty(std::string("compile_ms_s64xL128_") + arch,
                                    std::to_string(static_cast<int>(c.compile_ms)));
    auto info = InspectCubin(c.image);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ("sm_" + std::to_string(info->sm), arch);
    for (std::string_view k : kKernelNames) {
      EXPECT_NE(std::find(info->functions.begin(), info->functions.end(), k), info->functions.end())
          << k << " missing for " << arch;
    }
  }
  EXPECT_TRUE(HasArch("sm_90")) << "this NVRTC cannot target H100/H200";
}

TEST(NvrtcCompile, EachBucketIsItsOwnSpecialisation) {
  const Cubin& a = Compiled(BucketSpec::Padded(64, 128), "sm_90");
  const Cubin& b = Compiled(BucketSpec::Packed(4096), "sm_90");
  EXPECT_NE(a.source_hash, b.source_hash);
  EXPECT_NE(a.image, b.image);  // the bucket limits are compiled in
  EXPECT_EQ(CompileSourceHash(CompileOptions(BucketSpec::Padded(64, 128), "sm_90")), a.source_hash);
  EXPECT_NE(CompileSourceHash(CompileOptions(BucketSpec::Padded(64, 128), "sm_80")), a.source_hash);
}

// cuobjdump (from the toolkit, or NVIDIA's PyPI wheel that tools/install-deps.sh installs) must
// see the requested arch and every kernel in the cubin, and agree with InspectCubin.
TEST(NvrtcCompile, CuobjdumpListsArchAndKernels) {
  const std::string tool = LAM_CUOBJDUMP;
  ASSERT_FALSE(tool.empty()) << "cuobjdump not found at configure time: run tools/install-deps.sh";
  ASSERT_EQ(::access(tool.c_str(), X_OK), 0) << tool << " is not executable";
  const Cubin& c = Compiled(BucketSpec::Padded(64, 128), "sm_90");
  const std::string path = std::string(LAM_TEST_DATA_DIR) + "/nvrtc_compile_" +
                           std::to_string(::getpid()) + ".cubin";
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(c.image.data()), static_cast<std::streamsize>(c.image.size()));
  auto run = [](const std::string& cmd) {
    std::string out;
    std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), ::pclose);
    std::array<char, 4096> buf;
    while (p && std::fgets(buf.data(), buf.size(), p.get())) out += buf.data();
    return out;
  };
  const std::string elf = run(tool + " --list-elf " + path + " 2>&1");
  // -elf (not -sass, which needs nvdisasm) lists each kernel's .text section.
  const std::string sections = run(tool + " -elf " + path + " 2>&1");
  std::filesystem::remove(path);
  EXPECT_NE(elf.find("sm_90"), std::string::npos) << elf;
  for (std::string_view k : kKernelNames) {
    EXPECT_NE(sections.find(".text." + std::string(k)), std::string::npos) << k << "\n" << sections;
  }
}

TEST(NvrtcCompile, BadArchitecturesAreClearErrors) {
  const BucketSpec spec = BucketSpec::Padded(1, 16);
  for (const char* arch : {"", "sm90", "compute_90", "sm_9", "sm_9x", "sm_90b"}) {
    auto r = CompileBucket(spec, arch);
    ASSERT_FALSE(r.ok()) << arch;
    EXPECT_EQ(r.status().code(), LAM_STATUS_INVALID_ARG) << arch;
    EXPECT_NE(r.status().message().find("sm_<NN>"), std::string::npos);
  }
  auto r = CompileBucket(spec, "sm_11");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), LAM_STATUS_UNSUPPORTED);
  EXPECT_NE(r.status().message().find("sm_90"), std::string::npos) << r.status().ToString();
  BucketSpec bad = spec;
  bad.shape.chunk = 100;
  r = CompileBucket(bad, "sm_90");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), LAM_STATUS_INVALID_ARG);
  EXPECT_NE(r.status().message().find("shape.chunk"), std::string::npos);
}

TEST(NvrtcCompile, CompileErrorsCarryTheNvrtcLog) {
  auto r = CompileProgram("extern \"C\" __global__ void broken(float* x) { x[0] = undefined_name; }",
                          "broken_test.cu", {"--gpu-architecture=sm_90"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), LAM_STATUS_BACKEND_FAILED);
  const Status st = r.status();
  const std::string& m = st.message();
  EXPECT_NE(m.find("broken_test.cu"), std::string::npos) << m;
  EXPECT_NE(m.find("--gpu-architecture=sm_90"), std::string::npos) << m;
  EXPECT_NE(m.find("undefined_name"), std::string::npos) << m;  // from the NVRTC log
  // The kernel text itself obeys the static_asserts for a shape the spec validation allows.
  auto v = CompileProgram(std::string(KernelSource()), "bad_shape.cu",
                          {"--gpu-architecture=sm_90", "-std=c++17", "-DLAM_HEAD_DIM=16"});
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("heads x head_dim"), std::string::npos) << v.status().ToString();
}

TEST(NvrtcCompile, InspectorRejectsDamagedImagesWithoutCrashing) {
  const Cubin& c = Compiled(BucketSpec::Padded(64, 128), "sm_90");
  EXPECT_FALSE(InspectCubin({}).ok());
  std::vector<uint8_t> img = c.image;
  img[18] = 3;  // e_machine = x86
  EXPECT_NE(InspectCubin(img).status().message().find("EM_CUDA"), std::string::npos);
  for (size_t cut = 0; cut < c.image.size(); cut += 61) {
    (void)InspectCubin(std::span<const uint8_t>(c.image.data(), cut));  // must not crash
  }
  std::mt19937 rng(5);
  for (int i = 0; i < 300; ++i) {
    img = c.image;
    for (int f = 0; f < 8; ++f) img[rng() % img.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
    (void)InspectCubin(img);  // ok or an error; never out-of-bounds (ASan builds check this)
  }
}

}  // namespace
}  // namespace lam::cuda

#else
TEST(NvrtcCompile, RequiresCudaToolkit) { GTEST_SKIP() << "built without the CUDA toolkit"; }
#endif
