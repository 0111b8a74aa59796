// SPDX-License-Identifier: MIT
// Golden files written by tools/reference/make_golden.py, and the comparison metrics.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lam::golden {

struct GoldenCase {
  int length = 0;
  std::vector<int32_t> ids;
  std::vector<double> embedding;  // empty when expect_error is set
  std::string expect_error;       // e.g. "SEQUENCE_TOO_LONG"
};

struct GoldenFile {
  std::string model_dir;
  std::string family;
  std::string variant;  // "" for BERT
  int max_tokens = 0;
  std::vector<GoldenCase> cases;
};

// Reads `path`; on failure returns nullopt and sets *error.
std::optional<GoldenFile> ReadGoldenFile(const std::string& path, std::string* error);

// cosine = a.b / (|a| |b|); relative error = max_i |a_i - b_i| / max_i |b_i|, with b the
// float64 reference (an error normalised by the largest reference component, so it does not
// blow up on components near zero).
struct Agreement {
  double cosine = 0.0;
  double rel_err = 0.0;
};
Agreement Compare(const float* got, const std::vector<double>& want);

// The golden directory (LAM_GOLDEN_DIR at build time, or the environment's LAM_GOLDEN_DIR).
std::string GoldenDir();

}  // namespace lam::golden
