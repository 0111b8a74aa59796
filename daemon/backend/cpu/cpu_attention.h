// SPDX-License-Identifier: MIT
// Softmax self-attention of the BERT family (all-MiniLM-L6-v2) on the packed ragged layout.
// One call handles one head of one sequence: keys and values are that sequence's own rows
// only, which is exactly BERT's additive padding mask (padded keys get weight 0) without ever
// materialising padding. Every reduction runs in an order fixed by the sequence length alone,
// so a sequence's context rows are bitwise independent of its batch mates and batch position.
#pragma once

#include <cstddef>

namespace lam::cpu {

// Floats of per-thread scratch AttentionHead needs for sequences of up to max_len tokens.
size_t AttentionScratchFloats(int max_len);

// One head h of softmax(Q K^T / sqrt(head_dim)) V for a sequence of `len` rows.
//   qkv:  the sequence's first row; row r holds q at [0, kDm), k at [kDm, 2 kDm), v at
//         [2 kDm, 3 kDm) (biases already added); consecutive rows are `qkv_stride` floats apart.
//   ctx:  the sequence's first context row (stride `ctx_stride`); writes columns
//         [h * kHd, (h + 1) * kHd) of rows 0..len-1.
//   scratch: AttentionScratchFloats(len) floats, 64-byte aligned, owned by the calling thread.
void AttentionHead(const float* qkv, size_t qkv_stride, int len, int h, float* ctx,
                   size_t ctx_stride, float* scratch);

}  // namespace lam::cpu
