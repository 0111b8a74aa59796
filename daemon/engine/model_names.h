// SPDX-License-Identifier: MIT
// The tensor tables of the served checkpoints: key names, accepted alternative keys, shapes,
// and where the loader stores each pointer. One table serves the loader (what to look up),
// lam-mkmodel (what to write) and the tests (what to corrupt), so the three cannot drift.
//
// LAM keys are the original LAM-base-v1 state-dict keys (lam-model.md section 7); BERT keys are
// Hugging Face BertModel keys (optionally under a "bert." prefix).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/weights.h"

namespace lam::engine {

// What a tensor is; drives synthetic initialisation in lam-mkmodel.
enum class TensorRole {
  kEmbedding,        // word / position / token-type tables
  kProjection,       // [out, in] linear weight
  kBias,             // linear bias
  kLayerNormWeight,  // LayerNorm / RMSNorm gain
  kLayerNormBias,
  kConvWeight,       // depthwise conv [384, 1, 4]
  kConvBias,
  kFastDecayBias,    // extra decay bias (logit), starts at ln 0.3
  kSlowDecayBias,    // starts at ln 0.85
  kTemperature,      // resonance flux temperature: a raw divisor, must stay away from 0
  kBilinear,         // resonance flux W_bilinear
};

struct TensorSpec {
  std::string name;                       // canonical key (what lam-mkmodel writes)
  std::vector<std::string> alternatives;  // accepted, in order, when `name` is absent
  std::vector<int64_t> shape;
  TensorRole role = TensorRole::kProjection;
  const float** dst = nullptr;  // where the loader stores the pointer; null: never read
  bool required = true;         // absent (under every name) -> MODEL_INVALID
};

// LAM tensor layouts: v1 (LAM-base-v1 pytorch_model.bin: W_bilinear [12,32,32] + token flux)
// and R32 (lam_base.bin + lam_tweak.pt: W_bilinear [32,32], no token flux).
enum class LamLayout { kV1, kR32 };

// The LAM tensors for `config` (family kLam; variant decides which flux tensors are
// required). Resizes w->lam_layers to config.layers and points each spec's dst into `w`.
// Includes tensors real checkpoints carry but the engine never reads (MiniLM self-attention,
// pooler, o_norm.gate) as optional entries with dst == nullptr.
std::vector<TensorSpec> LamTensorSpecs(const ModelConfig& config, LamLayout layout,
                                       ModelWeights* w);

// The BERT tensors (HF BertModel keys with `prefix`, "" or "bert."); resizes w->bert_layers.
// `type_rows` is config.json's type_vocab_size (2 for MiniLM).
std::vector<TensorSpec> BertTensorSpecs(const ModelConfig& config, const std::string& prefix,
                                        int type_rows, ModelWeights* w);

// Key of layer 0's resonance-flux matrix (its shape tells the layout).
std::string LamBilinearKey(int layer);

}  // namespace lam::engine
