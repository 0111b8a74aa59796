// SPDX-License-Identifier: MIT
// Random BERT weights with all-MiniLM-L6-v2's shapes, for the CPU BERT tests and the CUDA plan's
// host-executor tests.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "backend/cpu/cpu_layout.h"
#include "engine/weights.h"

namespace lam::enginetest {

// Random BERT weights with MiniLM's shapes and realistic scales.
class RandomBert {
 public:
  RandomBert(uint64_t seed, int layers, int vocab = 1000, int max_tokens = 512) : rng_(seed) {
    auto& c = w_.config;
    c.family = engine::Family::kBert;
    c.variant = engine::Variant::kNone;
    c.layers = layers;
    c.vocab_size = vocab;
    c.position_table = 512;
    c.max_tokens = max_tokens;
    w_.word = Add(static_cast<size_t>(vocab) * cpu::kDm, 0.6f, 0.0f);
    w_.pos = Add(512 * cpu::kDm, 0.3f, 0.0f);
    w_.type = Add(2 * cpu::kDm, 0.1f, 0.0f);
    w_.emb_ln_w = Add(cpu::kDm, 0.1f, 1.0f);
    w_.emb_ln_b = Add(cpu::kDm, 0.05f, 0.0f);
    for (int l = 0; l < layers; ++l) {
      engine::BertLayerWeights L;
      const float s = 1.0f / std::sqrt(static_cast<float>(cpu::kDm));
      L.q_w = Add(cpu::kDm * cpu::kDm, 1.6f * s, 0.0f);  // scores of order 1-3: non-trivial softmax
      L.q_b = Add(cpu::kDm, 0.1f, 0.0f);
      L.k_w = Add(cpu::kDm * cpu::kDm, 1.6f * s, 0.0f);
      L.k_b = Add(cpu::kDm, 0.1f, 0.0f);
      L.v_w = Add(cpu::kDm * cpu::kDm, s, 0.0f);
      L.v_b = Add(cpu::kDm, 0.1f, 0.0f);
      L.attn_out_w = Add(cpu::kDm * cpu::kDm, s, 0.0f);
      L.attn_out_b = Add(cpu::kDm, 0.1f, 0.0f);
      L.ln1_w = Add(cpu::kDm, 0.1f, 1.0f);
      L.ln1_b = Add(cpu::kDm, 0.05f, 0.0f);
      L.ffn1_w = Add(cpu::kFfn * cpu::kDm, s, 0.0f);
      L.ffn1_b = Add(cpu::kFfn, 0.1f, 0.0f);
      L.ffn2_w = Add(cpu::kDm * cpu::kFfn, 1.0f / std::sqrt(static_cast<float>(cpu::kFfn)), 0.0f);
      L.ffn2_b = Add(cpu::kDm, 0.1f, 0.0f);
      L.ln2_w = Add(cpu::kDm, 0.1f, 1.0f);
      L.ln2_b = Add(cpu::kDm, 0.05f, 0.0f);
      w_.bert_layers.push_back(L);
    }
  }
  const engine::ModelWeights& weights() const { return w_; }
  engine::ModelWeights& mutable_weights() { return w_; }

 private:
  const float* Add(size_t n, float scale, float mean) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    auto p = std::make_unique<float[]>(n);
    for (size_t i = 0; i < n; ++i) p[i] = mean + scale * nd(rng_);
    storage_.push_back(std::move(p));
    return storage_.back().get();
  }
  std::mt19937_64 rng_;
  std::vector<std::unique_ptr<float[]>> storage_;
  engine::ModelWeights w_;
};

}  // namespace lam::enginetest
