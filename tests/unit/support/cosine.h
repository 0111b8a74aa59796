// SPDX-License-Identifier: MIT
// Cosine similarity of two embeddings, accumulated in double: the tests' measure of how close a
// precision mode (bf16, tf32) or another backend stays to an fp32 reference.
#pragma once

#include <cmath>

namespace lam::testing {

inline double Cosine(const float* a, const float* b, int n = 384) {
  double ab = 0, aa = 0, bb = 0;
  for (int i = 0; i < n; ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

}  // namespace lam::testing
