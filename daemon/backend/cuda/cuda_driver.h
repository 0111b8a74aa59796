// SPDX-License-Identifier: MIT
// The CUDA driver API, opened at run time with dlopen("libcuda.so.1"). Linking libcuda would make
// lamd (and every test binary) fail to start on a machine without the NVIDIA driver; lamd must
// instead start, log that no GPU is present and serve on the CPU backend.
#pragma once

#include <cuda.h>

#include <string>

#include "common/status.h"

namespace lam::cuda {

struct DriverApi {
  decltype(&::cuInit) Init = nullptr;
  decltype(&::cuDriverGetVersion) DriverGetVersion = nullptr;
  decltype(&::cuDeviceGetCount) DeviceGetCount = nullptr;
  decltype(&::cuDeviceGet) DeviceGet = nullptr;
  decltype(&::cuDeviceGetAttribute) DeviceGetAttribute = nullptr;
  decltype(&::cuDevicePrimaryCtxRetain) DevicePrimaryCtxRetain = nullptr;
  decltype(&::cuDevicePrimaryCtxRelease) DevicePrimaryCtxRelease = nullptr;
  decltype(&::cuCtxSetCurrent) CtxSetCurrent = nullptr;
  decltype(&::cuCtxSynchronize) CtxSynchronize = nullptr;
  decltype(&::cuModuleLoadData) ModuleLoadData = nullptr;
  decltype(&::cuModuleUnload) ModuleUnload = nullptr;
  decltype(&::cuModuleGetFunction) ModuleGetFunction = nullptr;
  decltype(&::cuLaunchKernel) LaunchKernel = nullptr;
  decltype(&::cuMemAlloc) MemAlloc = nullptr;
  decltype(&::cuMemFree) MemFree = nullptr;
  decltype(&::cuMemcpyHtoD) MemcpyHtoD = nullptr;
  decltype(&::cuMemcpyDtoH) MemcpyDtoH = nullptr;
  decltype(&::cuGetErrorString) GetErrorString = nullptr;
  // Streams, pinned staging and graphs (the CUDA executor, cuda_backend.cpp).
  decltype(&::cuStreamCreate) StreamCreate = nullptr;
  decltype(&::cuStreamDestroy) StreamDestroy = nullptr;
  decltype(&::cuStreamSynchronize) StreamSynchronize = nullptr;
  decltype(&::cuStreamBeginCapture) StreamBeginCapture = nullptr;
  decltype(&::cuStreamEndCapture) StreamEndCapture = nullptr;
  decltype(&::cuGraphInstantiateWithFlags) GraphInstantiate = nullptr;
  decltype(&::cuGraphLaunch) GraphLaunch = nullptr;
  decltype(&::cuGraphExecDestroy) GraphExecDestroy = nullptr;
  decltype(&::cuGraphDestroy) GraphDestroy = nullptr;
  decltype(&::cuMemcpyHtoDAsync) MemcpyHtoDAsync = nullptr;
  decltype(&::cuMemcpyDtoHAsync) MemcpyDtoHAsync = nullptr;
  decltype(&::cuMemHostAlloc) MemHostAlloc = nullptr;
  decltype(&::cuMemFreeHost) MemFreeHost = nullptr;
  decltype(&::cuMemGetInfo) MemGetInfo = nullptr;
  decltype(&::cuDeviceGetName) DeviceGetName = nullptr;

  // "CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)" style text for `rc`.
  std::string ErrorText(CUresult rc) const;
  // OK, or BACKEND_FAILED "<what>: <error text>".
  Status Check(CUresult rc, const std::string& what) const;
};

// The process-wide driver API table, or nullptr when libcuda.so.1 (or one of the entry points
// above) is unavailable. Loaded once; thread-safe.
const DriverApi* Driver();

// cuDriverGetVersion as a string ("13000"), or "none" without a driver.
std::string DriverVersionString();

// Number of CUDA devices (0 without a driver or when cuInit fails).
int DeviceCount();

// "sm_90" for device `ordinal`; NOT_FOUND / BACKEND_FAILED otherwise.
Result<std::string> DeviceArch(int ordinal);

}  // namespace lam::cuda
