// SPDX-License-Identifier: MIT
// The parts of lam-bench-http that do not touch a socket: its arguments, the OpenAI response
// parser and cosine check used to see that a peer computes the same embeddings, and the summary
// of repeated, interleaved measurements (medians and per-repetition ratios). Header-only, so the
// unit test (tests/unit/bench_http_stats_test.cpp) includes it without the benchmark.
#ifndef LAM_TOOLS_LAM_BENCH_BENCH_HTTP_STATS_H_
#define LAM_TOOLS_LAM_BENCH_BENCH_HTTP_STATS_H_

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace lam::bench_http {

struct Options {
  std::string socket_path;  // lamd's control socket (the shared-memory path)
  std::string http;         // lamd's HTTP face: unix:/path or 127.0.0.1:PORT
  std::string peer;         // another OpenAI-compatible server (HOST:PORT), optional
  std::string peer_model = "all-MiniLM-L6-v2";
  std::string peer_name = "peer";
  std::string token_file;
  std::string text_file;  // one text per line instead of the generated sentences
  std::vector<int> texts = {1, 32};
  std::vector<int> conns = {1, 16, 64};
  double seconds = 5;       // shortest measured window per cell
  double warmup = 1;        // shortest unmeasured lead-in per cell
  double max_seconds = 600; // longest warmup or window, whatever the server does
  int reps = 1;
  int check_texts = 8;       // texts compared across the paths before timing (0: none)
  double min_cosine = 0.9999;
};

inline const char* UsageText() {
  return "usage: lam-bench-http --socket CTRL --http unix:/path|127.0.0.1:PORT [--peer HOST:PORT]\n"
         "                      [--peer-model NAME] [--peer-name LABEL] [--texts 1,32] [--conns 1,16,64]\n"
         "                      [--seconds 5] [--warmup 1] [--max-seconds 600] [--reps 1]\n"
         "                      [--check-texts 8] [--min-cosine 0.9999] [--text-file FILE]\n"
         "                      [--token-file FILE]\n";
}

// "1,16,64" -> {1, 16, 64}; false on an empty list or anything but positive integers.
inline bool ParsePositiveList(const std::string& s, std::vector<int>* out) {
  out->clear();
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || errno != 0 || v <= 0 || v > 1 << 20) return false;
    out->push_back(static_cast<int>(v));
  }
  return !out->empty();
}

inline bool ParseNumber(const std::string& s, double lo, double hi, double* out) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || errno != 0 || !(v >= lo && v <= hi)) return false;
  *out = v;
  return true;
}

// Fills *o from argv; on false, *error says which argument was wrong.
inline bool ParseArgs(int argc, const char* const* argv, Options* o, std::string* error) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) {
      *error = a + " needs a value";
      return false;
    }
    const std::string v = argv[++i];
    double d = 0;
    bool ok = true;
    if (a == "--socket") {
      o->socket_path = v;
    } else if (a == "--http") {
      o->http = v;
    } else if (a == "--peer") {
      o->peer = v;
    } else if (a == "--peer-model") {
      o->peer_model = v;
    } else if (a == "--peer-name") {
      o->peer_name = v;
    } else if (a == "--token-file") {
      o->token_file = v;
    } else if (a == "--text-file") {
      o->text_file = v;
    } else if (a == "--texts") {
      ok = ParsePositiveList(v, &o->texts);
    } else if (a == "--conns") {
      ok = ParsePositiveList(v, &o->conns);
    } else if (a == "--seconds") {
      ok = ParseNumber(v, 0.1, 86400, &o->seconds);
    } else if (a == "--warmup") {
      ok = ParseNumber(v, 0, 86400, &o->warmup);
    } else if (a == "--max-seconds") {
      ok = ParseNumber(v, 1, 86400, &o->max_seconds);
    } else if (a == "--reps") {
      ok = ParseNumber(v, 1, 1000, &d) && d == std::floor(d);
      o->reps = static_cast<int>(d);
    } else if (a == "--check-texts") {
      ok = ParseNumber(v, 0, 4096, &d) && d == std::floor(d);
      o->check_texts = static_cast<int>(d);
    } else if (a == "--min-cosine") {
      ok = ParseNumber(v, -1, 1, &o->min_cosine);
    } else {
      *error = "unknown argument " + a;
      return false;
    }
    if (!ok) {
      *error = "bad value for " + a + ": " + v;
      return false;
    }
  }
  if (o->socket_path.empty() || o->http.empty()) {
    *error = "--socket and --http are required";
    return false;
  }
  if (o->max_seconds < o->seconds || o->max_seconds < o->warmup) {
    *error = "--max-seconds must be at least --seconds and --warmup";
    return false;
  }
  return true;
}

// The vectors of an OpenAI /v1/embeddings response body, in input order (by "index").
inline bool ParseOpenAIEmbeddings(const std::string& body, std::vector<std::vector<float>>* out,
                                  std::string* error) {
  out->clear();
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("data") || !j["data"].is_array()) {
    *error = "not an OpenAI embeddings response";
    return false;
  }
  const auto& data = j["data"];
  out->resize(data.size());
  std::vector<bool> seen(data.size(), false);
  for (const auto& item : data) {
    if (!item.is_object() || !item.contains("embedding") || !item["embedding"].is_array() ||
        !item.contains("index") || !item["index"].is_number_unsigned()) {
      *error = "a data item without embedding/index";
      return false;
    }
    const size_t index = item["index"].get<size_t>();
    if (index >= data.size() || seen[index]) {
      *error = "data indexes are not 0..n-1";
      return false;
    }
    seen[index] = true;
    for (const auto& x : item["embedding"]) {
      if (!x.is_number()) {
        *error = "an embedding holds a non-number";
        return false;
      }
      (*out)[index].push_back(x.get<float>());
    }
  }
  return true;
}

// Cosine similarity (accumulated in double); 0 when the sizes differ or a vector is zero.
inline double Cosine(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size() || a.empty()) return 0;
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  if (aa == 0 || bb == 0) return 0;
  return ab / std::sqrt(aa * bb);
}

// Lowest cosine between matching vectors of two answers to the same texts; -2 when the answers
// differ in count.
inline double MinCosine(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  if (a.size() != b.size() || a.empty()) return -2;
  double lo = 1;
  for (size_t i = 0; i < a.size(); ++i) lo = std::min(lo, Cosine(a[i], b[i]));
  return lo;
}

// The q-quantile (0..1) of v by rank, as the tables have always printed it; 0 for no samples.
inline double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

inline double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// The order in which repetition `rep` runs `n` targets: rotated by one each repetition, so each
// target goes first, in the middle and last equally often and none always follows the same one.
inline std::vector<size_t> RotatedOrder(size_t n, int rep) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = (i + static_cast<size_t>(rep)) % n;
  return order;
}

// One measured cell: a target under one load shape, in one repetition.
struct Measurement {
  std::string target;
  int texts = 0;
  int conns = 0;
  int rep = 0;
  double seconds = 0;  // the measured window
  uint64_t requests = 0;
  uint64_t errors = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double rps() const { return seconds > 0 ? static_cast<double>(requests) / seconds : 0; }
};

// Per-repetition ratios of target a to target b in the cell (texts, conns): a's requests/s over
// b's, and b's p50 over a's (both > 1 when a is better). Repetitions where either side is
// missing or completed nothing are left out.
struct Ratios {
  std::vector<double> throughput;
  std::vector<double> p50;
};

inline Ratios CellRatios(const std::vector<Measurement>& all, const std::string& a, const std::string& b, int texts,
                         int conns) {
  std::map<int, std::pair<const Measurement*, const Measurement*>> by_rep;
  for (const Measurement& m : all) {
    if (m.texts != texts || m.conns != conns) continue;
    if (m.target == a) by_rep[m.rep].first = &m;
    if (m.target == b) by_rep[m.rep].second = &m;
  }
  Ratios r;
  for (const auto& [rep, pair] : by_rep) {
    const Measurement* x = pair.first;
    const Measurement* y = pair.second;
    if (x == nullptr || y == nullptr || x->requests == 0 || y->requests == 0) continue;
    r.throughput.push_back(x->rps() / y->rps());
    if (x->p50_ms > 0) r.p50.push_back(y->p50_ms / x->p50_ms);
  }
  return r;
}

}  // namespace lam::bench_http

#endif  // LAM_TOOLS_LAM_BENCH_BENCH_HTTP_STATS_H_
