// SPDX-License-Identifier: MIT
// lam-mkmodel --variant f128|r64t|r32|bert --seed N --out DIR [--layers N] [--vocab-size N]
//             [--minimal] [--force]
// Writes a synthetic model directory with the real key names and shapes (lam-model.md section 7)
// and seeded random weights, for tests, benchmarks and golden data. Same options, same bytes.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "synth_model.h"

namespace {

void Usage(FILE* f) {
  std::fprintf(f,
               "usage: lam-mkmodel --variant f128|r64t|r32|bert --seed N --out DIR\n"
               "                   [--layers N (6)] [--vocab-size N (30522)] [--minimal] [--force]\n"
               "  --minimal  omit tensors the engine never reads (MiniLM self-attention, pooler)\n"
               "  --force    replace DIR if it exists\n");
}

bool ParseInt(const char* s, long long lo, long long hi, long long* out) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  lam::mkmodel::SynthOptions o;
  std::string out;
  bool force = false, have_variant = false, have_seed = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* flag) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "lam-mkmodel: %s needs a value\n", flag);
        std::exit(2);
      }
      return argv[++i];
    };
    long long n = 0;
    if (a == "--variant") {
      o.variant = value("--variant");
      have_variant = true;
    } else if (a == "--seed") {
      if (!ParseInt(value("--seed"), 0, 0x7fffffffffffffffLL, &n)) {
        std::fprintf(stderr, "lam-mkmodel: --seed must be a non-negative integer\n");
        return 2;
      }
      o.seed = static_cast<uint64_t>(n);
      have_seed = true;
    } else if (a == "--out") {
      out = value("--out");
    } else if (a == "--layers") {
      if (!ParseInt(value("--layers"), 1, 64, &n)) {
        std::fprintf(stderr, "lam-mkmodel: --layers must be in [1, 64]\n");
        return 2;
      }
      o.layers = static_cast<int>(n);
    } else if (a == "--vocab-size") {
      if (!ParseInt(value("--vocab-size"), 104, 1 << 22, &n)) {
        std::fprintf(stderr, "lam-mkmodel: --vocab-size must be in [104, 4194304]\n");
        return 2;
      }
      o.vocab_size = static_cast<int>(n);
    } else if (a == "--minimal") {
      o.minimal = true;
    } else if (a == "--force") {
      force = true;
    } else if (a == "-h" || a == "--help") {
      Usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "lam-mkmodel: unknown argument '%s'\n", a.c_str());
      Usage(stderr);
      return 2;
    }
  }
  if (!have_variant || !have_seed || out.empty()) {
    Usage(stderr);
    return 2;
  }
  const lam::Status st = lam::mkmodel::WriteSyntheticModel(o, out, force);
  if (!st.ok()) {
    std::fprintf(stderr, "lam-mkmodel: %s\n", st.ToString().c_str());
    return 1;
  }
  return 0;
}
