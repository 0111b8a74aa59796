// SPDX-License-Identifier: MIT
// Synthetic model directories: the exact LAM-base-v1 (or MiniLM) key names and shapes, filled
// with seeded random weights scaled like a trained model so that outputs are not degenerate.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace lam::mkmodel {

struct SynthOptions {
  std::string variant = "f128";  // f128 | r64t | r32 | bert
  uint64_t seed = 0;
  int layers = 6;
  int vocab_size = 30522;
  bool minimal = false;  // leave out tensors the engine never reads (MiniLM attention, pooler)
};

// Writes config.json, model.safetensors, vocab.txt and tokenizer_config.json into `out_dir`.
// The directory is assembled under a temporary name beside it and renamed into place, so a
// crash never leaves a half-written model. An existing `out_dir` is replaced only if `force`.
// The bytes depend only on the options.
Status WriteSyntheticModel(const SynthOptions& options, const std::string& out_dir, bool force);

}  // namespace lam::mkmodel
