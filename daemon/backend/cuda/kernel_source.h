// SPDX-License-Identifier: MIT
// The NVRTC kernel text (lam_kernels.cuh, embedded at build time) and the kernels it defines.
#pragma once

#include <array>
#include <string_view>

namespace lam::cuda {

// The exact bytes of lam_kernels.cuh as built into this binary.
std::string_view KernelSource();
// XXH3-128 of KernelSource() (hex), computed once.
const std::string& KernelSourceHash();

// extern "C" kernels every cubin must contain (symbol names in the cubin's ELF).
inline constexpr std::array<std::string_view, 18> kKernelNames = {
    "lam_embed_ln",      "lam_qkv_conv",    "lam_f128_scan",  "lam_gated_rmsnorm",
    "lam_bias_gelu2",    "lam_residual_ln", "lam_mean_pool_l2",
    // The plan kernels (plan.h, the CUDA executor).
    "lam_plan_embed", "lam_plan_front", "lam_plan_f128_scan", "lam_plan_r64t_single",
    "lam_plan_rec_prepare", "lam_plan_rec_run", "lam_plan_gated_rmsnorm", "lam_plan_residual_ln",
    "lam_plan_attention", "lam_plan_pool", "lam_plan_bias_act"};

}  // namespace lam::cuda
