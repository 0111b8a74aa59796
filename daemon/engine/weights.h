// SPDX-License-Identifier: MIT
// Non-owning views of a model's tensors (fp32, row-major, PyTorch [out, in] layout).
// The loader fills them with pointers into the memory-mapped model.safetensors; tests may
// point them at their own buffers. Names follow lam-model.md section 7.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace lam::engine {

enum class Family { kLam, kBert };
enum class Variant { kF128, kR64T, kR32, kNone };  // kNone for Family::kBert

const char* family_name(Family f) noexcept;    // "lam" | "bert"
const char* variant_name(Variant v) noexcept;  // "f128" | "r64t" | "r32" | "none"

// Architecture constants from config.json (validated by the loader).
struct ModelConfig {
  Family family = Family::kLam;
  Variant variant = Variant::kF128;
  int hidden = 384;         // D_m
  int layers = 6;
  int heads = 12;           // H
  int head_dim = 32;        // d = hidden / heads
  int intermediate = 1536;  // I
  int vocab_size = 30522;
  int position_table = 512;  // rows of the position table
  int max_tokens = 8192;     // longest sequence served (LAM: 8192; BERT: 512)
  float layer_norm_eps = 1e-12f;
};

// One LAM layer (EnhancedHierarchicalDeltaNet + FFN + two LayerNorms).
// Pointers that a variant does not use may be null (e.g. flux tensors for F128 are
// still present in v1 checkpoints and are validated, but never read by F128).
struct LamLayerWeights {
  // DeltaNet projections, [384, 384] each, no bias.
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  const float* g = nullptr;
  const float* o = nullptr;
  // Depthwise convs: weight [384, 1, 4], bias [384].
  const float* conv_q_w = nullptr;
  const float* conv_q_b = nullptr;
  const float* conv_k_w = nullptr;
  const float* conv_k_b = nullptr;
  const float* conv_v_w = nullptr;
  const float* conv_v_b = nullptr;
  // Per-head scalar projections, [12, 384], no bias.
  const float* beta = nullptr;
  const float* fgate = nullptr;
  const float* sgate = nullptr;
  // Decays (R32/R64T): weight [12, 384], linear bias [12], extra bias [12].
  const float* fdecay_w = nullptr;
  const float* fdecay_b = nullptr;
  const float* fdecay_bias2 = nullptr;
  const float* sdecay_w = nullptr;
  const float* sdecay_b = nullptr;
  const float* sdecay_bias2 = nullptr;
  // Resonance flux (R32/R64T): W [12, 32, 32] (v1) or [32, 32] (R32), temp [12],
  // net1 [16, 65] + [16], net2 [1, 16] + [1].
  const float* flux_w = nullptr;
  bool flux_w_per_head = true;  // false for the R32 [32, 32] layout
  const float* flux_temp = nullptr;
  const float* flux_net1_w = nullptr;
  const float* flux_net1_b = nullptr;
  const float* flux_net2_w = nullptr;
  const float* flux_net2_b = nullptr;
  // Token flux (R64T): net1 [16, 64] + [16], net2 [1, 16] + [1]. Null in R32 layouts.
  const float* tflux_net1_w = nullptr;
  const float* tflux_net1_b = nullptr;
  const float* tflux_net2_w = nullptr;
  const float* tflux_net2_b = nullptr;
  // Gated RMSNorm weight [32].
  const float* onorm_w = nullptr;
  // Block: LN1 [384]x2, FFN1 [1536, 384] + [1536], FFN2 [384, 1536] + [384], LN2 [384]x2.
  const float* ln1_w = nullptr;
  const float* ln1_b = nullptr;
  const float* ffn1_w = nullptr;
  const float* ffn1_b = nullptr;
  const float* ffn2_w = nullptr;
  const float* ffn2_b = nullptr;
  const float* ln2_w = nullptr;
  const float* ln2_b = nullptr;
};

// One BERT encoder layer (all-MiniLM-L6-v2): softmax self-attention with biases.
struct BertLayerWeights {
  const float* q_w = nullptr;  // [384, 384]
  const float* q_b = nullptr;  // [384]
  const float* k_w = nullptr;
  const float* k_b = nullptr;
  const float* v_w = nullptr;
  const float* v_b = nullptr;
  const float* attn_out_w = nullptr;  // attention.output.dense [384, 384]
  const float* attn_out_b = nullptr;
  const float* ln1_w = nullptr;  // attention.output.LayerNorm
  const float* ln1_b = nullptr;
  const float* ffn1_w = nullptr;  // intermediate.dense [1536, 384]
  const float* ffn1_b = nullptr;
  const float* ffn2_w = nullptr;  // output.dense [384, 1536]
  const float* ffn2_b = nullptr;
  const float* ln2_w = nullptr;  // output.LayerNorm
  const float* ln2_b = nullptr;
};

struct ModelWeights {
  ModelConfig config;
  const float* word = nullptr;  // [vocab, 384]
  const float* pos = nullptr;   // [position_table, 384]
  const float* type = nullptr;  // [2, 384]; row 0 used
  const float* emb_ln_w = nullptr;
  const float* emb_ln_b = nullptr;
  std::vector<LamLayerWeights> lam_layers;    // family kLam
  std::vector<BertLayerWeights> bert_layers;  // family kBert
};

// Every tensor the model's family and variant compute with is wired (non-null), and the LAM
// resonance-flux layout matches the variant. MODEL_INVALID naming the layer and tensor
// otherwise. Each backend calls it before it packs or reorders weights.
Status CheckWeightsWired(const ModelWeights& w);

}  // namespace lam::engine
