// SPDX-License-Identifier: MIT
#include "backend/cpu/cpu_precision.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <cstring>

namespace lam::cpu {

const char* PrecisionName(Precision p) { return p == Precision::kBf16 ? "bf16" : "fp32"; }

std::string OnednnIsaName() {
  using dnnl::cpu_isa;
  switch (dnnl::get_effective_cpu_isa()) {
    case cpu_isa::sse41: return "sse41";
    case cpu_isa::avx: return "avx";
    case cpu_isa::avx2: return "avx2";
    case cpu_isa::avx512_mic: return "avx512_mic";
    case cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case cpu_isa::avx512_core: return "avx512_core";
    case cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case cpu_isa::avx2_vnni: return "avx2_vnni";
    case cpu_isa::all: break;
  }
  return "unknown";
}

Status CheckNativeBf16() {
  // Not an ordered comparison: the values are feature masks, and avx2_vnni (0x407) is
  // numerically above avx512_core_amx without any bf16 support.
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  if (isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx) return Status::Ok();
  return Status(LAM_STATUS_UNSUPPORTED,
                "precision bf16 needs a CPU with AVX512_BF16 or AMX (oneDNN ISA avx512_core_bf16 or "
                "avx512_core_amx); oneDNN's ISA on this CPU is " +
                    OnednnIsaName() + ", so bf16 would only be emulated");
}

void ConvertToBf16(const float* src, size_t n, uint16_t* dst) {
  for (size_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, &src[i], sizeof(u));
    const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
    // Adding 0x7fff plus the lowest kept bit rounds to nearest, ties to even; it carries into
    // the exponent where it should (up to infinity).
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    dst[i] = static_cast<uint16_t>(nan ? ((u >> 16) | 0x40u) : rounded);
  }
}

}  // namespace lam::cpu
