// SPDX-License-Identifier: MIT
// libFuzzer target: config.json contents. ParseModelConfig either refuses them with a status
// naming config.json or returns a configuration inside the ranges the engine computes.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "engine/model_loader.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "model_config_fuzz: invariant violated: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lam::engine;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = ParseModelConfig(text);
  if (!config.ok()) {
    Check(config.status().code() == LAM_STATUS_MODEL_INVALID, "an error other than MODEL_INVALID");
    Check(config.status().message().rfind("config.json: ", 0) == 0, "an error not naming config.json");
    return 0;
  }
  const ModelConfig& c = *config;
  Check(c.family == Family::kLam || c.family == Family::kBert, "unknown family");
  Check(c.hidden == 384 && c.heads == 12 && c.head_dim == 32 && c.intermediate == 1536,
        "architecture other than 384/12x32/1536 accepted");
  Check(c.layers >= 1 && c.layers <= 64, "layer count out of range");
  Check(c.vocab_size >= 1 && c.vocab_size <= (1 << 22), "vocabulary size out of range");
  Check(c.position_table >= 1 && c.max_tokens >= 1 && c.max_tokens <= 8192, "lengths out of range");
  Check(std::isfinite(c.layer_norm_eps) && c.layer_norm_eps > 0.0f && c.layer_norm_eps <= 1e-3f,
        "layer_norm_eps outside (0, 1e-3]");
  if (c.family == Family::kBert) {
    Check(c.variant == Variant::kNone, "a BERT config with a LAM variant");
    Check(c.max_tokens == c.position_table, "BERT max_tokens differs from its position table");
  }
  // Parsing is a pure function of the text.
  auto again = ParseModelConfig(text);
  Check(again.ok() && again->layers == c.layers && again->vocab_size == c.vocab_size &&
            again->variant == c.variant && again->max_tokens == c.max_tokens,
        "parsing the same text twice differs");
  return 0;
}
