// SPDX-License-Identifier: MIT
// Per-row elementwise ops of the LAM forward pass (lam-model.md sections 3, 4.1, 4.5, 5).
// Each function handles one token row (or one sequence for pooling) and is independent of any
// other row, which is what makes batching bitwise invariant.
#pragma once

#include <cstdint>

#include "backend/cpu/cpu_layout.h"
#include "engine/weights.h"

namespace lam::cpu {

// out = LayerNorm(word[id] + pos_t + type[0]); pos_t interpolated in float32 when len > table.
void EmbedRow(const engine::ModelWeights& w, int32_t id, int t, int len, float* out);

// out = LayerNorm(a + b) * gamma + beta over kDm values (b may be null). out may alias a or b.
void AddLayerNormRow(const float* a, const float* b, const float* gamma, const float* beta,
                     float eps, float* out);

// Per-layer constants of the front end, pre-arranged for vector loops.
struct FrontParams {
  const float* conv_w = nullptr;  // [4][kQkv], tap-major (q, k, v channels concatenated)
  const float* conv_b = nullptr;  // [kQkv]
  const float* fd_bias = nullptr;  // [kHeads] linear bias, then the extra bias (R32/R64T)
  const float* fd_bias2 = nullptr;
  const float* sd_bias = nullptr;
  const float* sd_bias2 = nullptr;
  // R64T token flux: net1 transposed to [64][16] (vector loops over the 16 hidden units), its
  // bias [16], net2 [16] and bias [1]. Null for F128/R32.
  const float* tflux_w1t = nullptr;
  const float* tflux_b1 = nullptr;
  const float* tflux_w2 = nullptr;
  const float* tflux_b2 = nullptr;
};

// tau = clamp(sigmoid(w2 . silu(W1 [kbeta; vhat] + b1) + b2), 0.01, 0.99) for one token and
// head, with W1 given transposed as [64][16].
float TokenFlux(const float* w1t, const float* b1, const float* w2, const float* b2,
                const float* kbeta, const float* vhat);

// Front end of one token: depthwise conv over taps t-2..t+1 (null = outside the sequence, reads
// zero) + bias + SiLU; q, k L2-normalised per head; v <- beta * v; the sigmoid scalars; tau.
// taps[2] is this token's Z row.
void FrontRow(const float* const taps[4], const FrontParams& p, float* f_row, float* s_row);

// In place on one token's mixer output o[kDm]: per head, o * rsqrt(mean(o^2) + 1e-5) * w * sigmoid(g).
void GatedRmsNormRow(float* o, const float* g, const float* w);

// Masked mean over `rows` rows of x[kDm] (stride kDm), then L2 normalisation into out[kDm].
void PoolRows(const float* x, int rows, float* out);

}  // namespace lam::cpu
