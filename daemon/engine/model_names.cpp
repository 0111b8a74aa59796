// SPDX-License-Identifier: MIT
#include "engine/model_names.h"

#include <utility>

namespace lam::engine {
namespace {

using Shape = std::vector<int64_t>;

class SpecList {
 public:
  void Add(std::string name, Shape shape, TensorRole role, const float** dst, bool required = true,
           std::vector<std::string> alternatives = {}) {
    specs_.push_back(TensorSpec{std::move(name), std::move(alternatives), std::move(shape), role,
                                dst, required});
  }
  // Linear weight + bias pair with a common key stem ("x.weight", "x.bias").
  void AddLinear(const std::string& stem, Shape w_shape, const float** w, const float** b,
                 bool required = true, const std::string& alt_stem = "") {
    const int64_t out = w_shape[0];
    Add(stem + ".weight", std::move(w_shape), TensorRole::kProjection, w, required,
        Alt(alt_stem, ".weight"));
    Add(stem + ".bias", {out}, TensorRole::kBias, b, required, Alt(alt_stem, ".bias"));
  }
  void AddNorm(const std::string& stem, int64_t n, const float** w, const float** b,
               bool required = true, const std::string& alt_stem = "") {
    Add(stem + ".weight", {n}, TensorRole::kLayerNormWeight, w, required, Alt(alt_stem, ".weight"));
    Add(stem + ".bias", {n}, TensorRole::kLayerNormBias, b, required, Alt(alt_stem, ".bias"));
  }
  std::vector<TensorSpec> Take() { return std::move(specs_); }

 private:
  static std::vector<std::string> Alt(const std::string& stem, const char* suffix) {
    if (stem.empty()) return {};
    return {stem + suffix};
  }
  std::vector<TensorSpec> specs_;
};

}  // namespace

std::string LamBilinearKey(int layer) {
  return "deltanet_layers." + std::to_string(layer) + ".resonance_flux.W_bilinear";
}

std::vector<TensorSpec> LamTensorSpecs(const ModelConfig& c, LamLayout layout, ModelWeights* w) {
  const int64_t D = c.hidden, H = c.heads, d = c.head_dim, I = c.intermediate;
  const bool recurrent = c.variant == Variant::kR32 || c.variant == Variant::kR64T;
  const bool token_flux = c.variant == Variant::kR64T;
  SpecList s;
  s.Add("teacher_model.embeddings.word_embeddings.weight", {c.vocab_size, D}, TensorRole::kEmbedding,
        &w->word, true, {"embeddings.word_embeddings.weight"});
  s.Add("teacher_model.embeddings.position_embeddings.weight", {c.position_table, D},
        TensorRole::kEmbedding, &w->pos, true, {"embeddings.position_embeddings.weight"});
  s.Add("teacher_model.embeddings.token_type_embeddings.weight", {2, D}, TensorRole::kEmbedding,
        &w->type, true, {"embeddings.token_type_embeddings.weight"});
  s.AddNorm("teacher_model.embeddings.LayerNorm", D, &w->emb_ln_w, &w->emb_ln_b, true,
            "embeddings.LayerNorm");

  w->lam_layers.assign(static_cast<size_t>(c.layers), LamLayerWeights{});
  for (int i = 0; i < c.layers; ++i) {
    LamLayerWeights& l = w->lam_layers[static_cast<size_t>(i)];
    l.flux_w_per_head = layout == LamLayout::kV1;
    const std::string p = "deltanet_layers." + std::to_string(i) + ".";
    s.Add(p + "q_proj.weight", {D, D}, TensorRole::kProjection, &l.q);
    s.Add(p + "k_proj.weight", {D, D}, TensorRole::kProjection, &l.k);
    s.Add(p + "v_proj.weight", {D, D}, TensorRole::kProjection, &l.v);
    s.Add(p + "g_proj.weight", {D, D}, TensorRole::kProjection, &l.g);
    s.Add(p + "o_proj.weight", {D, D}, TensorRole::kProjection, &l.o);
    s.Add(p + "q_conv1d.conv.weight", {D, 1, 4}, TensorRole::kConvWeight, &l.conv_q_w);
    s.Add(p + "q_conv1d.conv.bias", {D}, TensorRole::kConvBias, &l.conv_q_b);
    s.Add(p + "k_conv1d.conv.weight", {D, 1, 4}, TensorRole::kConvWeight, &l.conv_k_w);
    s.Add(p + "k_conv1d.conv.bias", {D}, TensorRole::kConvBias, &l.conv_k_b);
    s.Add(p + "v_conv1d.conv.weight", {D, 1, 4}, TensorRole::kConvWeight, &l.conv_v_w);
    s.Add(p + "v_conv1d.conv.bias", {D}, TensorRole::kConvBias, &l.conv_v_b);
    s.Add(p + "b_proj.weight", {H, D}, TensorRole::kProjection, &l.beta);
    s.Add(p + "fast_gate_proj.weight", {H, D}, TensorRole::kProjection, &l.fgate);
    s.Add(p + "slow_gate_proj.weight", {H, D}, TensorRole::kProjection, &l.sgate);
    // Decays and resonance flux: read by R32/R64T; F128 checkpoints carry them unused.
    s.AddLinear(p + "fast_decay_proj", {H, D}, &l.fdecay_w, &l.fdecay_b, recurrent);
    s.Add(p + "fast_decay_bias", {H}, TensorRole::kFastDecayBias, &l.fdecay_bias2, recurrent);
    s.AddLinear(p + "slow_decay_proj", {H, D}, &l.sdecay_w, &l.sdecay_b, recurrent);
    s.Add(p + "slow_decay_bias", {H}, TensorRole::kSlowDecayBias, &l.sdecay_bias2, recurrent);
    s.Add(p + "resonance_flux.W_bilinear",
          layout == LamLayout::kV1 ? Shape{H, d, d} : Shape{d, d}, TensorRole::kBilinear,
          &l.flux_w, recurrent);
    s.Add(p + "resonance_flux.temp", {H}, TensorRole::kTemperature, &l.flux_temp, recurrent);
    s.AddLinear(p + "resonance_flux.flux_net.0", {16, 2 * d + 1}, &l.flux_net1_w, &l.flux_net1_b,
                recurrent);
    s.AddLinear(p + "resonance_flux.flux_net.2", {1, 16}, &l.flux_net2_w, &l.flux_net2_b, recurrent);
    if (layout == LamLayout::kV1) {
      s.AddLinear(p + "resonance_flux.token_flux_proj.0", {16, 2 * d}, &l.tflux_net1_w,
                  &l.tflux_net1_b, token_flux);
      s.AddLinear(p + "resonance_flux.token_flux_proj.2", {1, 16}, &l.tflux_net2_w, &l.tflux_net2_b,
                  token_flux);
    }
    s.Add(p + "o_norm.weight", {d}, TensorRole::kLayerNormWeight, &l.onorm_w);
    s.Add(p + "o_norm.gate", {d}, TensorRole::kLayerNormWeight, nullptr, false);

    // Block FFN and norms: MiniLM's (teacher) keys, or the v1 duplicates / tweak overrides.
    const std::string t = "teacher_model.encoder.layer." + std::to_string(i) + ".";
    const std::string n = std::to_string(i);
    s.AddNorm(t + "attention.output.LayerNorm", D, &l.ln1_w, &l.ln1_b, true, "deltanet_norms." + n);
    s.AddLinear(t + "intermediate.dense", {I, D}, &l.ffn1_w, &l.ffn1_b, true,
                "deltanet_ffns." + n + ".dense");
    s.AddLinear(t + "output.dense", {D, I}, &l.ffn2_w, &l.ffn2_b, true, "output_dense_layers." + n);
    s.AddNorm(t + "output.LayerNorm", D, &l.ln2_w, &l.ln2_b, true, "ffn_norms." + n);
    // MiniLM's self-attention, replaced by the DeltaNet layer: present in v1, never read.
    for (const char* m : {"attention.self.query", "attention.self.key", "attention.self.value",
                          "attention.output.dense"}) {
      s.AddLinear(t + m, {D, D}, nullptr, nullptr, false);
    }
  }
  s.AddLinear("teacher_model.pooler.dense", {D, D}, nullptr, nullptr, false, "pooler.dense");
  return s.Take();
}

std::vector<TensorSpec> BertTensorSpecs(const ModelConfig& c, const std::string& prefix,
                                        int type_rows, ModelWeights* w) {
  const int64_t D = c.hidden, I = c.intermediate;
  SpecList s;
  const std::string e = prefix + "embeddings.";
  s.Add(e + "word_embeddings.weight", {c.vocab_size, D}, TensorRole::kEmbedding, &w->word);
  s.Add(e + "position_embeddings.weight", {c.position_table, D}, TensorRole::kEmbedding, &w->pos);
  s.Add(e + "token_type_embeddings.weight", {type_rows, D}, TensorRole::kEmbedding, &w->type);
  s.AddNorm(e + "LayerNorm", D, &w->emb_ln_w, &w->emb_ln_b);
  w->bert_layers.assign(static_cast<size_t>(c.layers), BertLayerWeights{});
  for (int i = 0; i < c.layers; ++i) {
    BertLayerWeights& l = w->bert_layers[static_cast<size_t>(i)];
    const std::string p = prefix + "encoder.layer." + std::to_string(i) + ".";
    s.AddLinear(p + "attention.self.query", {D, D}, &l.q_w, &l.q_b);
    s.AddLinear(p + "attention.self.key", {D, D}, &l.k_w, &l.k_b);
    s.AddLinear(p + "attention.self.value", {D, D}, &l.v_w, &l.v_b);
    s.AddLinear(p + "attention.output.dense", {D, D}, &l.attn_out_w, &l.attn_out_b);
    s.AddNorm(p + "attention.output.LayerNorm", D, &l.ln1_w, &l.ln1_b);
    s.AddLinear(p + "intermediate.dense", {I, D}, &l.ffn1_w, &l.ffn1_b);
    s.AddLinear(p + "output.dense", {D, I}, &l.ffn2_w, &l.ffn2_b);
    s.AddNorm(p + "output.LayerNorm", D, &l.ln2_w, &l.ln2_b);
  }
  s.AddLinear(prefix + "pooler.dense", {D, D}, nullptr, nullptr, false);
  return s.Take();
}

}  // namespace lam::engine
