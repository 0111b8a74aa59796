// SPDX-License-Identifier: MIT
#include "backend/cuda/cuda_driver.h"

#include <dlfcn.h>
#include <spdlog/spdlog.h>

#include <mutex>

namespace lam::cuda {
namespace {

template <typename Fn>
bool Resolve(void* lib, const char* name, Fn* fn) {
  *fn = reinterpret_cast<Fn>(::dlsym(lib, name));
  if (*fn == nullptr) spdlog::warn("cuda: libcuda.so.1 lacks {}", name);
  return *fn != nullptr;
}

const DriverApi* LoadDriver() {
  void* lib = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    spdlog::debug("cuda: no driver: {}", ::dlerror());
    return nullptr;
  }
  static DriverApi api;
  // Versioned names: the unversioned symbols are the legacy ABIs.
  bool ok = Resolve(lib, "cuInit", &api.Init);
  ok = Resolve(lib, "cuDriverGetVersion", &api.DriverGetVersion) && ok;
  ok = Resolve(lib, "cuDeviceGetCount", &api.DeviceGetCount) && ok;
  ok = Resolve(lib, "cuDeviceGet", &api.DeviceGet) && ok;
  ok = Resolve(lib, "cuDeviceGetAttribute", &api.DeviceGetAttribute) && ok;
  ok = Resolve(lib, "cuDevicePrimaryCtxRetain", &api.DevicePrimaryCtxRetain) && ok;
  ok = Resolve(lib, "cuDevicePrimaryCtxRelease_v2", &api.DevicePrimaryCtxRelease) && ok;
  ok = Resolve(lib, "cuCtxSetCurrent", &api.CtxSetCurrent) && ok;
  ok = Resolve(lib, "cuCtxSynchronize", &api.CtxSynchronize) && ok;
  ok = Resolve(lib, "cuModuleLoadData", &api.ModuleLoadData) && ok;
  ok = Resolve(lib, "cuModuleUnload", &api.ModuleUnload) && ok;
  ok = Resolve(lib, "cuModuleGetFunction", &api.ModuleGetFunction) && ok;
  ok = Resolve(lib, "cuLaunchKernel", &api.LaunchKernel) && ok;
  ok = Resolve(lib, "cuMemAlloc_v2", &api.MemAlloc) && ok;
  ok = Resolve(lib, "cuMemFree_v2", &api.MemFree) && ok;
  ok = Resolve(lib, "cuMemcpyHtoD_v2", &api.MemcpyHtoD) && ok;
  ok = Resolve(lib, "cuMemcpyDtoH_v2", &api.MemcpyDtoH) && ok;
  ok = Resolve(lib, "cuGetErrorString", &api.GetErrorString) && ok;
  ok = Resolve(lib, "cuStreamCreate", &api.StreamCreate) && ok;
  ok = Resolve(lib, "cuStreamDestroy_v2", &api.StreamDestroy) && ok;
  ok = Resolve(lib, "cuStreamSynchronize", &api.StreamSynchronize) && ok;
  ok = Resolve(lib, "cuStreamBeginCapture_v2", &api.StreamBeginCapture) && ok;
  ok = Resolve(lib, "cuStreamEndCapture", &api.StreamEndCapture) && ok;
  ok = Resolve(lib, "cuGraphInstantiateWithFlags", &api.GraphInstantiate) && ok;
  ok = Resolve(lib, "cuGraphLaunch", &api.GraphLaunch) && ok;
  ok = Resolve(lib, "cuGraphExecDestroy", &api.GraphExecDestroy) && ok;
  ok = Resolve(lib, "cuGraphDestroy", &api.GraphDestroy) && ok;
  ok = Resolve(lib, "cuMemcpyHtoDAsync_v2", &api.MemcpyHtoDAsync) && ok;
  ok = Resolve(lib, "cuMemcpyDtoHAsync_v2", &api.MemcpyDtoHAsync) && ok;
  ok = Resolve(lib, "cuMemHostAlloc", &api.MemHostAlloc) && ok;
  ok = Resolve(lib, "cuMemFreeHost", &api.MemFreeHost) && ok;
  ok = Resolve(lib, "cuMemGetInfo_v2", &api.MemGetInfo) && ok;
  ok = Resolve(lib, "cuDeviceGetName", &api.DeviceGetName) && ok;
  if (!ok) return nullptr;  // the library stays loaded; it is process-lifetime anyway
  return &api;
}

}  // namespace

std::string DriverApi::ErrorText(CUresult rc) const {
  const char* text = nullptr;
  if (GetErrorString != nullptr && GetErrorString(rc, &text) == CUDA_SUCCESS && text != nullptr) {
    return std::string(text) + " (CUresult " + std::to_string(static_cast<int>(rc)) + ")";
  }
  return "CUresult " + std::to_string(static_cast<int>(rc));
}

Status DriverApi::Check(CUresult rc, const std::string& what) const {
  if (rc == CUDA_SUCCESS) return Status::Ok();
  return Status(LAM_STATUS_BACKEND_FAILED, what + ": " + ErrorText(rc));
}

const DriverApi* Driver() {
  static const DriverApi* api = LoadDriver();
  return api;
}

std::string DriverVersionString() {
  const DriverApi* api = Driver();
  int v = 0;
  if (api == nullptr || api->DriverGetVersion(&v) != CUDA_SUCCESS || v <= 0) return "none";
  return std::to_string(v);
}

int DeviceCount() {
  const DriverApi* api = Driver();
  if (api == nullptr) return 0;
  static std::once_flag once;
  static CUresult init = CUDA_SUCCESS;
  std::call_once(once, [&] { init = api->Init(0); });
  int n = 0;
  if (init != CUDA_SUCCESS || api->DeviceGetCount(&n) != CUDA_SUCCESS) return 0;
  return n;
}

Result<std::string> DeviceArch(int ordinal) {
  const DriverApi* api = Driver();
  if (api == nullptr || ordinal < 0 || ordinal >= DeviceCount()) {
    return Status(LAM_STATUS_NOT_FOUND, "no CUDA device " + std::to_string(ordinal));
  }
  CUdevice dev = 0;
  LAM_RETURN_IF_ERROR(api->Check(api->DeviceGet(&dev, ordinal), "cuDeviceGet"));
  int major = 0, minor = 0;
  LAM_RETURN_IF_ERROR(api->Check(
      api->DeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev),
      "cuDeviceGetAttribute(major)"));
  LAM_RETURN_IF_ERROR(api->Check(
      api->DeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev),
      "cuDeviceGetAttribute(minor)"));
  return "sm_" + std::to_string(major * 10 + minor);
}

}  // namespace lam::cuda
