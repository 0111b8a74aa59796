// SPDX-License-Identifier: MIT
// Random in-memory LAM weights with realistic scales, for tests and `lam-bench --synthetic`
// (no model directory needed). Deterministic for a given seed within one build.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/weights.h"

namespace lam::engine {

class SyntheticModel {
 public:
  // `layers` may be reduced to keep tests fast; every other dimension is the LAM-base-v1 one
  // unless `vocab` is given. Variant kR32 uses the shared [32, 32] flux layout and no token flux.
  SyntheticModel(Variant variant, uint64_t seed, int layers = 6, int vocab = 30522);
  SyntheticModel(const SyntheticModel&) = delete;
  SyntheticModel& operator=(const SyntheticModel&) = delete;

  const ModelWeights& weights() const { return weights_; }
  ModelWeights& mutable_weights() { return weights_; }

 private:
  const float* Add(size_t n, float scale, float mean, uint64_t* state);

  std::vector<std::unique_ptr<float[]>> storage_;
  ModelWeights weights_;
};

}  // namespace lam::engine
