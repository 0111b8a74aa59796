// SPDX-License-Identifier: MIT
// The host executor: runs a bucket's plan (plan.h) on the CPU with the same task bodies the CUDA
// kernels run (lam_kernels.cuh, one-lane HostTeam) and oneDNN's sgemm for the projections. It
// exists to verify the GPU forward pass without a GPU (tests/unit/plan_host_test.cpp compares
// it with the CPU backend) and to be the op-by-op reference of the GPU tests. Single-threaded
// and unoptimised on purpose; not a serving backend.
#pragma once

#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "backend/cuda/plan.h"

namespace lam::cuda {

class HostExecutor {
 public:
  // Builds the bucket's plan and allocates its arena. `model` must outlive the executor. With
  // kTf32 every projection rounds its inputs (activations and weights) to TF32 first, as the CUDA
  // executor's tensor-core GEMMs do, and accumulates in fp32: the fast mode's numbers, on the CPU.
  static Result<std::unique_ptr<HostExecutor>> Create(const PackedModel& model, const backend::Bucket& bucket,
                                                      GemmPrecision precision = GemmPrecision::kFp32);

  const Plan& plan() const { return plan_; }

  // Fills the run's meta table for `batch` (FillMeta's errors). Ops run after it see this batch.
  Status Begin(std::span<const engine::TokenSpan> batch);
  // Runs one op of plan() over the batch of the last Begin.
  Status RunOp(const Op& op);
  // Begin, every op, then the embeddings (batch.size() x 384) into out.
  Status Run(std::span<const engine::TokenSpan> batch, float* out);

  const float* buffer(BufId id) const { return arena_.data() + plan_.buf(id).offset; }
  float* buffer(BufId id) { return arena_.data() + plan_.buf(id).offset; }
  const std::vector<int>& meta() const { return meta_; }
  lamk::PlanMeta Meta() const { return plan_.Meta(meta_.data()); }

 private:
  HostExecutor(const PackedModel& model, Plan plan, GemmPrecision precision);
  // kTf32: weight tensor `id` rounded to TF32, made on first use.
  const float* Tf32Weights(int id, size_t count);
  const float* T(int id) const { return id >= 0 ? model_.tensor(id).data : nullptr; }

  const PackedModel& model_;
  Plan plan_;
  std::vector<float> arena_;
  std::vector<int> meta_;
  std::vector<float> scratch_;  // a team's shared memory
  GemmPrecision precision_;
  std::vector<float> rounded_in_;                           // kTf32: a GEMM's input rows
  std::unordered_map<int, std::vector<float>> rounded_w_;  // kTf32: weights by tensor id
};

}  // namespace lam::cuda
