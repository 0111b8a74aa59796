// SPDX-License-Identifier: MIT
// Scalar maths for the CPU backend's elementwise ops, written so that GCC vectorises loops that
// call them (no libm calls, no branches). Every row goes through the same code, so results do not
// depend on where a row sits in a batch.
#pragma once

#include <cmath>
#include <cstdint>

namespace lam::cpu {

// e^x with ~1 ulp relative error on [-87.3, 88.3] (clamped outside): range reduction by ln 2
// and a degree-6 minimax polynomial (the classic single-precision coefficients). V is float
// (VI int32_t) or a GNU vector of floats (VI the int32_t vector of as many lanes), so a kernel
// can run the same steps on whole vectors (cpu_attention.cpp). Always inlined, and vectors by
// reference: a kernel built for another ISA must neither call out for it nor pass a vector in
// an ISA-dependent ABI.
template <typename V, typename VI>
__attribute__((always_inline)) inline void ExpSteps(const V& in, V* out) {
  const V lo = V{} - 87.3f, hi = V{} + 88.3f;
  V x = in < lo ? lo : in;
  x = x > hi ? hi : x;
  // Round x / ln 2 to the nearest integer with the 1.5 * 2^23 trick (std::floor does not
  // vectorise under the default -ftrapping-math); the integer sits in the low mantissa bits.
  const V shift = V{} + 12582912.0f;
  const V shifted = x * 1.44269504088896341f + shift;
  const V n = shifted - shift;
  const VI ni = __builtin_bit_cast(VI, shifted) - __builtin_bit_cast(VI, shift);
  V r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  V p = V{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const V e = p * r * r + r + 1.0f;
  *out = e * __builtin_bit_cast(V, (ni + 127) << 23);
}

inline float ExpF(float x) {
  float e;
  ExpSteps<float, int32_t>(x, &e);
  return e;
}

inline float SigmoidF(float x) { return 1.0f / (1.0f + ExpF(-x)); }
inline float SiluF(float x) { return x * SigmoidF(x); }

}  // namespace lam::cpu
