// SPDX-License-Identifier: MIT
// lamctl embed's input and output, shared by its two ways of computing: through lamd
// (cmd_embed.cpp, liblamclient) and in-process (engine/embed_local.cpp, the engine module).
// Input: one JSON array of token ids per line ("[101, 2023, 102]"), or with --text one UTF-8
// text per line. Output: one JSON array of floats per line, in input order. Lines are batched
// for speed; the first bad line stops the run: everything before it has been written and
// flushed, the error (line number + status name) goes to stderr, exit status 1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace lam::ctl {

// Where the embeddings come from.
class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual int dim() const = 0;
  // Checks one sequence of token ids as the model would, so that an error names its line.
  virtual Status Validate(const std::vector<int32_t>& ids) const = 0;
  // Embeds batch.size() sequences into batch.size() * dim() floats at `out`.
  virtual Status EmbedTokens(const std::vector<std::vector<int32_t>>& batch, float* out) = 0;
  // Embeds texts.size() UTF-8 texts into texts.size() * dim() floats at `out`.
  virtual Status EmbedTexts(std::span<const std::string> texts, float* out) = 0;
};

// Reads stdin and writes stdout as described above; returns the exit status.
int RunEmbedLoop(Embedder& embedder, bool text, size_t batch_lines);

}  // namespace lam::ctl
