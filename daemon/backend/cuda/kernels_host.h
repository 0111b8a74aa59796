// SPDX-License-Identifier: MIT
// The bodies of lam_kernels.cuh run on the host: each function does what the kernel of the same
// name does for a whole batch, with the same arguments and memory layout, one "lane" per row.
// Used to test the kernel maths in CI (no GPU) and as the reference the GPU tests compare to.
// Includes lam_kernels.cuh, which defines the LAM_* shape macros: keep this header out of
// widely included headers.
#pragma once

#include "backend/cuda/lam_kernels.cuh"

namespace lam::cuda::host {

inline void EmbedLn(const int* ids, const int* seq_start, const int* seq_len, int n_seqs,
                    const float* word, const float* pos, const float* type0, const float* ln_w,
                    const float* ln_b, float* out) {
  for (int b = 0; b < n_seqs; ++b) {
    for (int t = 0; t < seq_len[b]; ++t) {
      const long row = static_cast<long>(seq_start[b]) + t;
      lamk::embed_ln_row<1>(0, ids[row], t, seq_len[b], word, pos, type0, ln_w, ln_b,
                            out + row * LAM_HIDDEN, lamk::SingleLane());
    }
  }
}

inline void QkvConv(const float* proj, const float* gate_logits, const int* seq_start,
                    const int* seq_len, int n_seqs, const float* conv_w, const float* conv_b,
                    float* q, float* k, float* v, float* gates) {
  for (int b = 0; b < n_seqs; ++b) {
    const float* seq_proj = proj + static_cast<long>(seq_start[b]) * LAM_QKV;
    for (int t = 0; t < seq_len[b]; ++t) {
      const long row = static_cast<long>(seq_start[b]) + t;
      for (int h = 0; h < LAM_HEADS; ++h) {
        lamk::qkv_head<1>(0, t, seq_len[b], h, seq_proj, conv_w, conv_b,
                          gate_logits + row * LAM_GATES, q + row * LAM_HIDDEN,
                          k + row * LAM_HIDDEN, v + row * LAM_HIDDEN, gates + row * LAM_GATES,
                          lamk::SingleLane());
      }
    }
  }
}

// The 32 lanes of the scan kernel's warp, run one after the other per phase.
inline void F128Scan(const float* q, const float* k, const float* vhat, const float* gates,
                     const int* seq_start, const int* seq_len, int n_seqs, float* o) {
  lamk::ScanLane lanes[LAM_HEAD_DIM];  // 16 KiB: the warp's registers
  for (int b = 0; b < n_seqs; ++b) {
    const int L = seq_len[b];
    const int c = lamk::chunk_size(L, LAM_CHUNK);
    for (int h = 0; h < LAM_HEADS; ++h) {
      for (int begin = 0; begin < L; begin += c) {
        const int end = begin + c < L ? begin + c : L;
        for (auto& lane : lanes) lamk::scan_reset(&lane);
        for (int t = begin; t < end; ++t) {
          const long row = static_cast<long>(seq_start[b]) + t;
          const float* kr = k + row * LAM_HIDDEN + h * LAM_HEAD_DIM;
          const float* qr = q + row * LAM_HIDDEN + h * LAM_HEAD_DIM;
          const float* vr = vhat + row * LAM_HIDDEN + h * LAM_HEAD_DIM;
          const float beta = gates[row * LAM_GATES + h];
          const float fg = gates[row * LAM_GATES + LAM_HEADS + h];
          const float sg = gates[row * LAM_GATES + 2 * LAM_HEADS + h];
          float u[LAM_HEAD_DIM], z[LAM_HEAD_DIM];
          for (int j = 0; j < LAM_HEAD_DIM; ++j) {
            lamk::scan_phase1(lanes[j], kr, beta, vr[j], &u[j], &z[j]);
          }
          for (int j = 0; j < LAM_HEAD_DIM; ++j) {
            o[row * LAM_HIDDEN + h * LAM_HEAD_DIM + j] =
                lamk::scan_phase2(&lanes[j], kr, z, qr, kr[j], vr[j], u[j], fg, sg);
          }
        }
      }
    }
  }
}

inline void GatedRmsNorm(const float* o, const float* g, const int* seq_start, const int* seq_len,
                         int n_seqs, const float* norm_w, float* out) {
  for (int b = 0; b < n_seqs; ++b) {
    for (int t = 0; t < seq_len[b]; ++t) {
      const long row = static_cast<long>(seq_start[b]) + t;
      for (int h = 0; h < LAM_HEADS; ++h) {
        const long at = row * LAM_HIDDEN + h * LAM_HEAD_DIM;
        lamk::gated_rmsnorm_head<1>(0, o + at, g + at, norm_w, out + at, lamk::SingleLane());
      }
    }
  }
}

inline void BiasGelu2(const float* x, const float* bias, int n_rows, float* out) {
  for (long i = 0; i < static_cast<long>(n_rows) * LAM_FFN; ++i) {
    out[i] = lamk::bias_gelu2(x[i], bias[i % LAM_FFN]);
  }
}

inline void ResidualLn(const float* x, const float* delta, const float* bias,
                       const int* seq_start, const int* seq_len, int n_seqs, const float* ln_w,
                       const float* ln_b, float* out) {
  for (int b = 0; b < n_seqs; ++b) {
    for (int t = 0; t < seq_len[b]; ++t) {
      const long row = static_cast<long>(seq_start[b]) + t;
      lamk::residual_ln_row<1>(0, x + row * LAM_HIDDEN, delta + row * LAM_HIDDEN, bias, ln_w,
                               ln_b, out + row * LAM_HIDDEN, lamk::SingleLane());
    }
  }
}

inline void MeanPoolL2(const float* y, const int* seq_start, const int* seq_len, int n_seqs,
                       float* out) {
  for (int b = 0; b < n_seqs; ++b) {
    float e[LAM_HIDDEN];
    float sumsq = 0.0f;
    for (int c = 0; c < LAM_HIDDEN; ++c) {
      e[c] = lamk::mean_pool_channel(y + static_cast<long>(seq_start[b]) * LAM_HIDDEN, seq_len[b], c);
      sumsq += e[c] * e[c];
    }
    const float s = lamk::l2_scale(sumsq);
    for (int c = 0; c < LAM_HIDDEN; ++c) out[static_cast<long>(b) * LAM_HIDDEN + c] = e[c] * s;
  }
}

}  // namespace lam::cuda::host
