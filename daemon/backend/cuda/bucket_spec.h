// SPDX-License-Identifier: MIT
// BucketSpec: the shape class a set of CUDA kernels is specialised for. Every field becomes a
// compile-time constant of lam_kernels.cuh (-D option), so one spec = one cubin.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace lam::cuda {

// Model dimensions the kernels are specialised for (LAM-base-v1 defaults).
struct ModelShape {
  int hidden = 384;
  int heads = 12;
  int head_dim = 32;
  int ffn = 1536;
  int vocab = 30522;
  int pos_rows = 512;
  int chunk = 128;  // C0 of the delta-rule variant: 128 for F128
};

struct BucketSpec {
  enum class Layout { kPadded, kPacked };
  Layout layout = Layout::kPadded;
  int max_seqs = 1;     // sequences per batch
  int max_len = 1;      // longest sequence (tokens incl. [CLS]/[SEP])
  int max_tokens = 1;   // packed token capacity (= max_seqs * max_len for padded buckets)
  ModelShape shape;

  // s<seqs>xL<len>: padded, seqs x len tokens. Default model shape.
  static BucketSpec Padded(int seqs, int len);
  // t<tokens>: packed token budget; sequences up to min(tokens, max_len) long; up to
  // min(tokens, 65535) sequences.
  static BucketSpec Packed(int tokens, int max_len = 8192);
  // Parses the canonical names "s64xL128" and "t4096" (model shape left at the defaults).
  static Result<BucketSpec> Parse(const std::string& name);

  // Canonical name: "s64xL128" for a padded bucket, "t4096" (or "t4096xL512" when the length
  // is capped below the budget) for a packed one.
  std::string Name() const;
  // The -D options that specialise lam_kernels.cuh for this bucket, in a fixed order.
  std::vector<std::string> Defines() const;
  // INVALID_ARG naming the offending field.
  Status Validate() const;
};

}  // namespace lam::cuda
