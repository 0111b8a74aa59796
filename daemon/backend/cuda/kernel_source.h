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
inline constexpr std::array<std::string_view, 7> kKernelNames = {
    "lam_embed_ln",      "lam_qkv_conv",    "lam_f128_scan",  "lam_gated_rmsnorm",
    "lam_bias_gelu2",    "lam_residual_ln", "lam_mean_pool_l2"};

}  // namespace lam::cuda
