// SPDX-License-Identifier: MIT
#include "backend/cuda/nvrtc_compiler.h"

#include <nvrtc.h>

#include <chrono>
#include <memory>

#include "backend/cuda/kernel_source.h"
#include "cache/cache_key.h"

namespace lam::cuda {
namespace {

struct ProgramDeleter {
  void operator()(nvrtcProgram p) const { nvrtcDestroyProgram(&p); }
};
using ProgramPtr = std::unique_ptr<std::remove_pointer_t<nvrtcProgram>, ProgramDeleter>;

std::string JoinOptions(const std::vector<std::string>& options) {
  std::string s;
  for (const auto& o : options) {
    if (!s.empty()) s += ' ';
    s += o;
  }
  return s;
}

}  // namespace

int ArchNumber(const std::string& arch) {
  if (arch.size() < 5 || arch.compare(0, 3, "sm_") != 0) return -1;
  size_t end = arch.size();
  if (arch.back() == 'a' || arch.back() == 'f') --end;
  if (end - 3 < 2 || end - 3 > 4) return -1;
  int n = 0;
  for (size_t i = 3; i < end; ++i) {
    if (arch[i] < '0' || arch[i] > '9') return -1;
    n = n * 10 + (arch[i] - '0');
  }
  return n;
}

std::string NvrtcVersion() {
  int major = 0, minor = 0;
  if (nvrtcVersion(&major, &minor) != NVRTC_SUCCESS) return "nvrtc-unknown";
  return "nvrtc-" + std::to_string(major) + "." + std::to_string(minor);
}

std::vector<std::string> NvrtcSupportedArchs() {
  int n = 0;
  std::vector<std::string> out;
  if (nvrtcGetNumSupportedArchs(&n) != NVRTC_SUCCESS || n <= 0) return out;
  std::vector<int> archs(static_cast<size_t>(n));
  if (nvrtcGetSupportedArchs(archs.data()) != NVRTC_SUCCESS) return out;
  for (int a : archs) out.push_back("sm_" + std::to_string(a));
  return out;
}

std::vector<std::string> CompileOptions(const BucketSpec& spec, const std::string& arch) {
  // No --use_fast_math: GELU is the exact erf form and norms must match the fp32 reference.
  std::vector<std::string> options = {"--gpu-architecture=" + arch, "-std=c++17",
                                      "--extra-device-vectorization"};
  for (auto& d : spec.Defines()) options.push_back(std::move(d));
  return options;
}

std::string CompileSourceHash(const std::vector<std::string>& options) {
  std::string text(KernelSource());
  text += "\n// options: ";
  text += JoinOptions(options);
  return cache::Xxh128Hex(text.data(), text.size());
}

Result<Cubin> CompileProgram(const std::string& source, const std::string& program_name,
                             const std::vector<std::string>& options) {
  Cubin out;
  out.program_name = program_name;
  out.options = options;
  const auto t0 = std::chrono::steady_clock::now();
  nvrtcProgram raw = nullptr;
  nvrtcResult rc = nvrtcCreateProgram(&raw, source.c_str(), out.program_name.c_str(), 0, nullptr,
                                      nullptr);
  if (rc != NVRTC_SUCCESS) {
    return Status(LAM_STATUS_BACKEND_FAILED, "nvrtcCreateProgram(" + out.program_name +
                                                 "): " + nvrtcGetErrorString(rc));
  }
  ProgramPtr prog(raw);
  std::vector<const char*> argv;
  for (const auto& o : out.options) argv.push_back(o.c_str());
  rc = nvrtcCompileProgram(prog.get(), static_cast<int>(argv.size()), argv.data());

  size_t log_size = 0;
  if (nvrtcGetProgramLogSize(prog.get(), &log_size) == NVRTC_SUCCESS && log_size > 1) {
    out.log.resize(log_size);
    if (nvrtcGetProgramLog(prog.get(), out.log.data()) != NVRTC_SUCCESS) out.log.clear();
    while (!out.log.empty() && (out.log.back() == '\0' || out.log.back() == '\n')) out.log.pop_back();
  }
  if (rc != NVRTC_SUCCESS) {
    return Status(LAM_STATUS_BACKEND_FAILED,
                  "NVRTC failed to compile " + out.program_name + " (" + nvrtcGetErrorString(rc) +
                      ") with options [" + JoinOptions(out.options) + "]:\n" + out.log);
  }
  size_t size = 0;
  rc = nvrtcGetCUBINSize(prog.get(), &size);
  if (rc != NVRTC_SUCCESS || size == 0) {
    return Status(LAM_STATUS_BACKEND_FAILED, "nvrtcGetCUBINSize(" + out.program_name + "): " +
                                                 (rc != NVRTC_SUCCESS ? nvrtcGetErrorString(rc)
                                                                      : "no cubin (virtual architecture?)"));
  }
  out.image.resize(size);
  rc = nvrtcGetCUBIN(prog.get(), reinterpret_cast<char*>(out.image.data()));
  if (rc != NVRTC_SUCCESS) {
    return Status(LAM_STATUS_BACKEND_FAILED, "nvrtcGetCUBIN(" + out.program_name + "): " +
                                                 nvrtcGetErrorString(rc));
  }
  out.compile_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

Result<Cubin> CompileBucket(const BucketSpec& spec, const std::string& arch) {
  LAM_RETURN_IF_ERROR(spec.Validate());
  const int sm = ArchNumber(arch);
  if (sm < 0) {
    return Status(LAM_STATUS_INVALID_ARG,
                  "CUDA architecture '" + arch + "' is not of the form sm_<NN> (e.g. sm_90)");
  }
  const std::vector<std::string> supported = NvrtcSupportedArchs();
  bool known = false;
  for (const auto& a : supported) known = known || a == "sm_" + std::to_string(sm);
  if (!known) {
    return Status(LAM_STATUS_UNSUPPORTED, NvrtcVersion() + " cannot generate code for " + arch +
                                              "; supported: " + JoinOptions(supported));
  }

  const std::vector<std::string> options = CompileOptions(spec, arch);
  LAM_ASSIGN_OR_RETURN(Cubin out, CompileProgram(std::string(KernelSource()),
                                                 "lam_kernels_" + spec.Name() + "_" + arch + ".cu",
                                                 options));
  out.arch = arch;
  out.bucket = spec.Name();
  out.source_hash = CompileSourceHash(options);
  return out;
}

}  // namespace lam::cuda
