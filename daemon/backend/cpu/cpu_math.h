// SPDX-License-Identifier: MIT
// Scalar maths for the CPU backend's elementwise ops, written so that GCC vectorises loops that
// call them (no libm calls, no branches). Every row goes through the same code, so results do not
// depend on where a row sits in a batch.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace lam::cpu {

// e^x with ~1 ulp relative error on [-87.3, 88.3] (clamped outside): range reduction by ln 2
// and a degree-6 minimax polynomial (the classic single-precision coefficients).
inline float ExpF(float x) {
  x = std::min(std::max(x, -87.3f), 88.3f);
  // Round x / ln 2 to the nearest integer with the 1.5 * 2^23 trick (std::floor does not
  // vectorise under the default -ftrapping-math); the integer sits in the low mantissa bits.
  constexpr float kShift = 12582912.0f;
  const float shifted = x * 1.44269504088896341f + kShift;
  const float n = shifted - kShift;
  const int32_t ni = std::bit_cast<int32_t>(shifted) - std::bit_cast<int32_t>(kShift);
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.0f;
  return e * std::bit_cast<float>((ni + 127) << 23);
}

inline float SigmoidF(float x) { return 1.0f / (1.0f + ExpF(-x)); }
inline float SiluF(float x) { return x * SigmoidF(x); }

}  // namespace lam::cpu
