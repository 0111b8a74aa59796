// SPDX-License-Identifier: MIT
// Precision modes of the CPU backends. fp32 (the default) computes everything in fp32 and is
// bit-exact across runs and batches. bf16 runs the projection and FFN GEMMs with bf16 inputs
// (activations rounded to nearest even per tile, weights once at load) and fp32 accumulation
// and output; mixers, attention, norms and pooling stay fp32. bf16 runs only where oneDNN has
// native kernels for it (AVX512_BF16 or AMX): lamd never emulates it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace lam::cpu {

enum class Precision { kFp32, kBf16 };

// "fp32" | "bf16".
const char* PrecisionName(Precision p);

// The ISA oneDNN dispatches to on this CPU (dnnl::get_effective_cpu_isa, which also honours
// ONEDNN_MAX_CPU_ISA and dnnl::set_max_cpu_isa), in oneDNN's spelling: "avx2",
// "avx512_core_bf16", "avx512_core_amx", ...
std::string OnednnIsaName();

// OK when oneDNN runs bf16 matmuls natively here (its ISA is avx512_core_bf16 or
// avx512_core_amx); otherwise UNSUPPORTED with a message naming the missing instruction set and
// the ISA oneDNN found.
Status CheckNativeBf16();

// dst[i] = src[i] rounded to the nearest bf16, ties to even (NaN stays a quiet NaN): the
// rounding of AVX512_BF16's vcvtneps2bf16 and of oneDNN's reorders, without its flush of
// denormals.
void ConvertToBf16(const float* src, size_t n, uint16_t* dst);

}  // namespace lam::cpu
