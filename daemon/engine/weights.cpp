// SPDX-License-Identifier: MIT
#include "engine/weights.h"

#include <string>

namespace lam::engine {
namespace {

Status Missing(const char* family, size_t layer, const char* name) {
  return Status(LAM_STATUS_MODEL_INVALID,
                std::string(family) + std::to_string(layer) + ": tensor " + name + " is missing");
}

}  // namespace

Status CheckWeightsWired(const ModelWeights& w) {
  const ModelConfig& c = w.config;
  for (size_t l = 0; l < w.bert_layers.size(); ++l) {
    const auto& L = w.bert_layers[l];
#define LAM_REQUIRE_(field) \
  if (L.field == nullptr) return Missing("bert layer ", l, #field)
    LAM_REQUIRE_(q_w); LAM_REQUIRE_(q_b); LAM_REQUIRE_(k_w); LAM_REQUIRE_(k_b);
    LAM_REQUIRE_(v_w); LAM_REQUIRE_(v_b); LAM_REQUIRE_(attn_out_w); LAM_REQUIRE_(attn_out_b);
    LAM_REQUIRE_(ln1_w); LAM_REQUIRE_(ln1_b); LAM_REQUIRE_(ffn1_w); LAM_REQUIRE_(ffn1_b);
    LAM_REQUIRE_(ffn2_w); LAM_REQUIRE_(ffn2_b); LAM_REQUIRE_(ln2_w); LAM_REQUIRE_(ln2_b);
#undef LAM_REQUIRE_
  }
  const bool recurrent = c.variant != Variant::kF128;
  for (size_t l = 0; l < w.lam_layers.size(); ++l) {
    const auto& L = w.lam_layers[l];
#define LAM_REQUIRE_(field) \
  if (L.field == nullptr) return Missing("layer ", l, #field)
    LAM_REQUIRE_(q); LAM_REQUIRE_(k); LAM_REQUIRE_(v); LAM_REQUIRE_(g); LAM_REQUIRE_(o);
    LAM_REQUIRE_(conv_q_w); LAM_REQUIRE_(conv_q_b); LAM_REQUIRE_(conv_k_w); LAM_REQUIRE_(conv_k_b);
    LAM_REQUIRE_(conv_v_w); LAM_REQUIRE_(conv_v_b); LAM_REQUIRE_(beta); LAM_REQUIRE_(fgate);
    LAM_REQUIRE_(sgate); LAM_REQUIRE_(onorm_w); LAM_REQUIRE_(ln1_w); LAM_REQUIRE_(ln1_b);
    LAM_REQUIRE_(ffn1_w); LAM_REQUIRE_(ffn1_b); LAM_REQUIRE_(ffn2_w); LAM_REQUIRE_(ffn2_b);
    LAM_REQUIRE_(ln2_w); LAM_REQUIRE_(ln2_b);
    if (recurrent) {
      LAM_REQUIRE_(fdecay_w); LAM_REQUIRE_(fdecay_b); LAM_REQUIRE_(fdecay_bias2);
      LAM_REQUIRE_(sdecay_w); LAM_REQUIRE_(sdecay_b); LAM_REQUIRE_(sdecay_bias2);
      LAM_REQUIRE_(flux_w); LAM_REQUIRE_(flux_temp); LAM_REQUIRE_(flux_net1_w);
      LAM_REQUIRE_(flux_net1_b); LAM_REQUIRE_(flux_net2_w); LAM_REQUIRE_(flux_net2_b);
      if (L.flux_w_per_head != (c.variant != Variant::kR32)) {
        return Status(LAM_STATUS_MODEL_INVALID, "layer " + std::to_string(l) +
                                                    ": resonance_flux.W_bilinear layout does not match variant " +
                                                    variant_name(c.variant));
      }
    }
    if (c.variant == Variant::kR64T) {
      LAM_REQUIRE_(tflux_net1_w); LAM_REQUIRE_(tflux_net1_b); LAM_REQUIRE_(tflux_net2_w);
      LAM_REQUIRE_(tflux_net2_b);
    }
#undef LAM_REQUIRE_
  }
  return Status::Ok();
}

}  // namespace lam::engine
