// SPDX-License-Identifier: MIT
// Dimensions and packed-buffer layouts of the CPU backend. The kernels are specialised for the
// LAM-base-v1 shape (lam-model.md section 1); the backend rejects other configs.
#pragma once

namespace lam::cpu {

constexpr int kDm = 384;    // model width
constexpr int kHeads = 12;  // heads
constexpr int kHd = 32;     // head width
constexpr int kFfn = 1536;  // FFN width
constexpr int kQkv = 3 * kDm;

// Every GEMM runs on blocks of exactly kTileRows rows (zero/stale rows past the batch end), with
// one pre-built primitive per weight shape, so a row's bits never depend on the batch size.
constexpr int kTileRows = 64;
// The last partial block of a batch (r < kTileRows rows) runs as tail tiles of fewer rows
// instead (less padding: a 21-token text is one 24-row tile, not 64 rows). Tile kind 0 is a
// full tile; kind j in [1, kTileKinds) is a tail tile of 4j rows. A kind is used only where its
// rows are bitwise the full tiles' rows: oneDNN picks its kernel by the row count (on AVX2 its
// sgemm gives rows of a trailing block of 1-3 rows other bits: 8- and 20-row tiles differ,
// 12- and 24-row tiles do not), so the backends check every kind at start-up (TailKindsMatch
// in cpu_exec_common.h) and plan tail tiles from the kinds that pass (TilePlan).
constexpr int kTileKinds = kTileRows / 4;
// The tail tile height cpu_gemm_test expects to pass on every machine CI runs.
constexpr int kTailRows = 16;
// Rows of a tile of `kind` (TiledRun::TileStart).
constexpr int TileRowsOf(int kind) { return kind == 0 ? kTileRows : 4 * kind; }
// The kind of a tail tile of `rows` rows (a multiple of 4 in [4, kTileRows)).
constexpr int TailKindOf(int rows) { return rows / 4; }

// Z: output of the fused input projection, one row per packed token.
constexpr int kZq = 0, kZk = 384, kZv = 768, kZg = 1152;
constexpr int kZbeta = 1536, kZfg = 1548, kZsg = 1560, kZfd = 1572, kZsd = 1584;
constexpr int kZCols = 1600;  // 1596 used, padded to a multiple of 16
// F: conv + SiLU outputs; q and k L2-normalised per head, v already multiplied by beta.
constexpr int kFq = 0, kFk = 384, kFv = 768;
constexpr int kFCols = 1152;
// S: per-head scalars after their sigmoid; tau is R64T's clamped token flux (4.4).
constexpr int kSbeta = 0, kSfg = 12, kSsg = 24, kSfd = 36, kSsd = 48, kStau = 60;
constexpr int kSCols = 80;

// lam-model.md 4.1 step 1: L' = 32 * ceil(L / 32) when L >= 64, else L.
constexpr int LayerPaddedLength(int len) {
  return (len >= 64 && len % 32 != 0) ? len + (32 - len % 32) : len;
}

// lam-model.md 4.1 step 7: C0 if it divides L', otherwise one chunk of L'.
constexpr int ChunkLength(int padded_len, int c0) {
  if (padded_len <= 32) return padded_len;
  int c = c0;
  if (padded_len < c) c = padded_len;
  if (padded_len % c != 0) c = padded_len;
  return c;
}

}  // namespace lam::cpu
