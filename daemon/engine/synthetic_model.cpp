// SPDX-License-Identifier: MIT
#include "engine/synthetic_model.h"

#include <cmath>

namespace lam::engine {
namespace {

// splitmix64: a portable generator, so the weights do not depend on the standard library.
uint64_t Next(uint64_t* s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in [-1, 1).
float Uniform(uint64_t* s) {
  return static_cast<float>(static_cast<double>(Next(s) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

}  // namespace

const float* SyntheticModel::Add(size_t n, float scale, float mean, uint64_t* state) {
  auto buf = std::make_unique<float[]>(n);
  for (size_t i = 0; i < n; ++i) buf[i] = mean + scale * Uniform(state);
  storage_.push_back(std::move(buf));
  return storage_.back().get();
}

SyntheticModel::SyntheticModel(Variant variant, uint64_t seed, int layers, int vocab) {
  uint64_t s = seed;
  ModelConfig& c = weights_.config;
  c.family = Family::kLam;
  c.variant = variant;
  c.layers = layers;
  c.vocab_size = vocab;
  const size_t dm = c.hidden, hh = c.heads, ii = c.intermediate;
  // Uniform(-a, a) has std a/sqrt(3); projections get std ~ 1/sqrt(fan_in).
  const float proj = std::sqrt(3.0f / static_cast<float>(dm));
  weights_.word = Add(static_cast<size_t>(vocab) * dm, 1.0f, 0.0f, &s);
  weights_.pos = Add(static_cast<size_t>(c.position_table) * dm, 0.5f, 0.0f, &s);
  weights_.type = Add(2 * dm, 0.2f, 0.0f, &s);
  weights_.emb_ln_w = Add(dm, 0.2f, 1.0f, &s);
  weights_.emb_ln_b = Add(dm, 0.1f, 0.0f, &s);
  const bool r32 = variant == Variant::kR32;
  for (int l = 0; l < layers; ++l) {
    LamLayerWeights w;
    w.q = Add(dm * dm, proj, 0.0f, &s);
    w.k = Add(dm * dm, proj, 0.0f, &s);
    w.v = Add(dm * dm, proj, 0.0f, &s);
    w.g = Add(dm * dm, proj, 0.0f, &s);
    w.o = Add(dm * dm, proj, 0.0f, &s);
    w.conv_q_w = Add(dm * 4, 0.6f, 0.0f, &s);
    w.conv_q_b = Add(dm, 0.1f, 0.0f, &s);
    w.conv_k_w = Add(dm * 4, 0.6f, 0.0f, &s);
    w.conv_k_b = Add(dm, 0.1f, 0.0f, &s);
    w.conv_v_w = Add(dm * 4, 0.6f, 0.0f, &s);
    w.conv_v_b = Add(dm, 0.1f, 0.0f, &s);
    w.beta = Add(hh * dm, proj, 0.0f, &s);
    w.fgate = Add(hh * dm, proj, 0.0f, &s);
    w.sgate = Add(hh * dm, proj, 0.0f, &s);
    w.fdecay_w = Add(hh * dm, proj, 0.0f, &s);
    w.fdecay_b = Add(hh, 0.2f, 0.0f, &s);
    w.fdecay_bias2 = Add(hh, 0.2f, -1.2f, &s);
    w.sdecay_w = Add(hh * dm, proj, 0.0f, &s);
    w.sdecay_b = Add(hh, 0.2f, 0.0f, &s);
    w.sdecay_bias2 = Add(hh, 0.2f, -0.16f, &s);
    w.flux_w_per_head = !r32;
    w.flux_w = Add(r32 ? 32 * 32 : hh * 32 * 32, 0.3f, 0.0f, &s);
    w.flux_temp = Add(hh, 0.5f, 1.0f, &s);  // distinct per head: exposes the R32 index quirk
    w.flux_net1_w = Add(16 * 65, 0.4f, 0.0f, &s);
    w.flux_net1_b = Add(16, 0.2f, 0.0f, &s);
    w.flux_net2_w = Add(16, 0.8f, 0.0f, &s);
    w.flux_net2_b = Add(1, 0.2f, 0.0f, &s);
    if (!r32) {
      w.tflux_net1_w = Add(16 * 64, 0.5f, 0.0f, &s);
      w.tflux_net1_b = Add(16, 0.2f, 0.0f, &s);
      w.tflux_net2_w = Add(16, 0.8f, 0.0f, &s);
      w.tflux_net2_b = Add(1, 0.2f, 0.0f, &s);
    }
    w.onorm_w = Add(32, 0.2f, 1.0f, &s);
    w.ln1_w = Add(dm, 0.2f, 1.0f, &s);
    w.ln1_b = Add(dm, 0.1f, 0.0f, &s);
    w.ffn1_w = Add(ii * dm, proj, 0.0f, &s);
    w.ffn1_b = Add(ii, 0.1f, 0.0f, &s);
    w.ffn2_w = Add(dm * ii, std::sqrt(3.0f / static_cast<float>(ii)), 0.0f, &s);
    w.ffn2_b = Add(dm, 0.1f, 0.0f, &s);
    w.ln2_w = Add(dm, 0.2f, 1.0f, &s);
    w.ln2_b = Add(dm, 0.1f, 0.0f, &s);
    weights_.lam_layers.push_back(w);
  }
}

}  // namespace lam::engine
