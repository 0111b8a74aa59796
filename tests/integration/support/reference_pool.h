// SPDX-License-Identifier: MIT
// A pool of random token sequences with their embeddings from the in-process engine, written
// to a file that client child processes read to check every daemon result bitwise.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lam::itest {

struct ReferencePool {
  uint32_t dim = 0;
  std::vector<std::vector<int32_t>> seqs;
  std::vector<std::vector<float>> embeddings;

  // Builds `n` sequences (lengths 2..max_len) and embeds them with an in-process Engine.
  static ReferencePool Build(const std::string& model_dir, uint32_t n, uint32_t max_len, uint64_t seed);
  bool Save(const std::string& path) const;
  bool Load(const std::string& path);
};

}  // namespace lam::itest
