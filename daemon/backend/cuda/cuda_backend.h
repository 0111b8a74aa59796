// SPDX-License-Identifier: MIT
// The CUDA executor behind the Backend interface (built into liblam_cuda_backend.so, never into
// lamd itself; see cuda_module.h). Create uploads the model's plan tensors (PackedModel) once and
// loads the NVRTC-compiled kernels of lam_kernels.cuh for the device's architecture. Compile
// builds a bucket's plan (plan.h), allocates its device arena, pinned staging and cuBLASLt
// workspace, picks a cuBLASLt algorithm per projection and captures the whole plan into one CUDA
// graph. Run writes the batch's meta table into pinned memory, replays the graph and copies the
// embeddings out: no compilation, no allocation. Every failed CUDA call fails that call with
// BACKEND_FAILED and its text; nothing aborts.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_module.h"
#include "backend/cuda/plan.h"

namespace lam::cuda {

class CudaBackend final : public backend::Backend {
 public:
  // Errors: UNSUPPORTED (no driver or device), PackedModel's errors, BACKEND_FAILED.
  static Result<std::unique_ptr<CudaBackend>> Create(const engine::ModelWeights& weights,
                                                     const CudaBackendOptions& options);
  ~CudaBackend() override;

  const char* name() const override { return "cuda"; }
  Result<std::unique_ptr<backend::Executable>> Compile(const backend::Bucket& bucket) override;
  Status Run(backend::Executable& exe, std::span<const engine::TokenSpan> batch,
             float* out) override;
  int embedding_dim() const override { return LAM_HIDDEN; }
  std::string device_identity() const override;  // "cuda:0/sm_90/NVIDIA H200"
  std::string driver_identity() const override;  // "driver-12080"

  const std::string& device_name() const { return device_name_; }
  const std::string& arch() const { return arch_; }
  // True when Create loaded the kernel image from the disk cache instead of compiling it.
  bool kernels_from_cache() const { return kernels_from_cache_; }
  GemmPrecision precision() const { return precision_; }
  const PackedModel& packed() const { return *packed_; }

  // For the GPU tests: runs the ops [0, n_ops) of `exe`'s plan for `batch` one by one (no graph)
  // and copies buffer `id` back into host memory (`plan.buf(id).floats` floats).
  Status RunOpsAndRead(backend::Executable& exe, std::span<const engine::TokenSpan> batch,
                       size_t n_ops, BufId id, std::vector<float>* host);

 private:
  struct Impl;
  class Exe;
  explicit CudaBackend(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
  std::unique_ptr<PackedModel> packed_;
  int device_ = 0;
  std::string device_name_, arch_;
  bool kernels_from_cache_ = false;
  GemmPrecision precision_ = GemmPrecision::kFp32;
};

}  // namespace lam::cuda
