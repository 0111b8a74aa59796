// SPDX-License-Identifier: MIT
#include "support/golden_data.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

namespace lam::golden {

std::optional<GoldenFile> ReadGoldenFile(const std::string& path, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot open " + path + " (the golden_reference_* fixture writes it)";
    return std::nullopt;
  }
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    GoldenFile g;
    g.model_dir = j.at("model").get<std::string>();
    g.family = j.at("family").get<std::string>();
    g.variant = j.at("variant").is_null() ? "" : j.at("variant").get<std::string>();
    g.max_tokens = j.at("max_tokens").get<int>();
    for (const auto& c : j.at("cases")) {
      GoldenCase gc;
      gc.length = c.at("length").get<int>();
      gc.ids = c.at("ids").get<std::vector<int32_t>>();
      if (!c.at("embedding").is_null()) gc.embedding = c.at("embedding").get<std::vector<double>>();
      if (c.contains("expect_error")) gc.expect_error = c.at("expect_error").get<std::string>();
      g.cases.push_back(std::move(gc));
    }
    return g;
  } catch (const nlohmann::json::exception& e) {
    *error = path + ": " + e.what();
    return std::nullopt;
  }
}

Agreement Compare(const float* got, const std::vector<double>& want) {
  double dot = 0, na = 0, nb = 0, max_diff = 0, max_ref = 0;
  bool finite = true;
  for (size_t i = 0; i < want.size(); ++i) {
    const double a = got[i], b = want[i];
    finite = finite && std::isfinite(a);
    dot += a * b;
    na += a * a;
    nb += b * b;
    max_diff = std::max(max_diff, std::abs(a - b));
    max_ref = std::max(max_ref, std::abs(b));
  }
  Agreement r;
  r.cosine = dot / (std::sqrt(na) * std::sqrt(nb));
  r.rel_err = max_diff / max_ref;
  if (!finite || !std::isfinite(r.cosine)) r.cosine = -1.0;  // NaN output must fail
  if (!finite || !std::isfinite(r.rel_err)) r.rel_err = INFINITY;
  return r;
}

std::string GoldenDir() {
  if (const char* e = std::getenv("LAM_GOLDEN_DIR"); e && *e) return e;
  return LAM_GOLDEN_DIR;
}

}  // namespace lam::golden
