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
};

// Front end of one token: depthwise conv over taps t-2..t+1 (null = outside the sequence, reads
// zero) + bias + SiLU; q, k L2-normalised per head; v <- beta * v; the sigmoid scalars.
// taps[2] is this token's Z row.
void FrontRow(const float* const taps[4], const FrontParams& p, float* f_row, float* s_row);

// In place on one token's mixer output o[kDm]: per head, o * rsqrt(mean(o^2) + 1e-5) * w * sigmoid(g).
void GatedRmsNormRow(float* o, const float* g, const float* w);

// Masked mean over `rows` rows of x[kDm] (stride kDm), then L2 normalisation into out[kDm].
void PoolRows(const float* x, int rows, float* out);

}  // namespace lam::cpu
