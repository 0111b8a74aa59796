// SPDX-License-Identifier: MIT
// The delta-rule cores of the three LAM variants (lam-model.md sections 4.1 step 8 to 4.4, 4.6),
// for one sequence and one head at a time. Inputs are the packed front-end rows of one sequence:
// f rows (stride kFCols: q, k normalised, v = beta*v), s rows (stride kSCols: sigmoid scalars);
// outputs o rows (stride kDm, the head's 32 columns). u/w rows (stride kDm) hold the per-chunk
// T v and T k^beta of the recurrent variants between their two phases.
#pragma once

#include "backend/cpu/cpu_layout.h"
#include "engine/weights.h"

namespace lam::cpu {

// Largest chunk the dense per-chunk code handles (R32: 32 or a single chunk < 64; R64T: 64).
constexpr int kMaxDenseChunk = 64;

// F128, one chunk of `len` rows starting at f/s/o, one head: the O(len d^2) scan form of 4.6.
void F128ScanChunk(const float* f, const float* s, float* o, int len, int head);

// F128 dense form as the original computes it (T, P as CxC matrices), O(len^2); for tests.
void F128DenseChunk(const float* f, const float* s, float* o, int len, int head);

// R64T when the sequence is a single chunk (the states are zero): the scan form, no CxC matrix.
// o_t = alpha_t * fg_t * (P u)_t + (1 - alpha_t) * sg_t * (P u)_t, alpha_t from the token flux.
// alpha_t = 0.5 + 0.3 tau_t with tau from the s rows (kStau).
void R64TSingleChunkScan(const float* f, const float* s, float* o, int len, int head);

// Recurrent variants, phase 1 for chunk `n` of `nchunks` (chunk of c <= kMaxDenseChunk rows, one
// head): u = T v, w = T k^beta into u/wk rows; returns the resonance flux psi.
float RecurrentChunkPrepare(const engine::LamLayerWeights& w, engine::Variant variant,
                            const float* f, const float* s, float* u, float* wk, int c, int head,
                            int n, int nchunks);

// Recurrent variants, phase 2 for one head over all chunks of a sequence (sequential states).
// psi[n * kHeads + head]; cross[n] = 0.05 + 0.1 * mean over heads of psi (per sequence, 8a).
void RecurrentHeadRun(engine::Variant variant, const float* f,
                      const float* s, const float* u, const float* wk, float* o, int c,
                      int nchunks, int head, const float* psi, const float* cross);

}  // namespace lam::cpu
