// SPDX-License-Identifier: MIT
// What lam-bench soak (bench_soak.cpp) and its client processes (soak_client.cpp) share: the
// deterministic input pools both sides rebuild from one seed, and the record a client writes to
// its pipe after every call. Header-only and libc/libstdc++ only: the client links liblamclient
// and nothing of the daemon.
//
// Inputs come from fixed pools (token sequences and texts, indexed) so that the parent computes
// each reference embedding once and then checks every row it is sent against it; requests are
// random batches of random pool entries, so batch mates, batch sizes and buckets vary freely.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lam::bench::soak {

// splitmix64: the same stream in every process for the same seed.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi] (hi >= lo).
  uint32_t Range(uint32_t lo, uint32_t hi) { return lo + static_cast<uint32_t>(Next() % (uint64_t{hi} - lo + 1)); }

 private:
  uint64_t s_;
};

inline uint64_t Mix(uint64_t a, uint64_t b) { return Rng(a * 0x100000001B3ull ^ (b + 0x51ED27ull)).Next(); }

// The pools. Token entries [0, n_tiny) are 2-8 tokens long (the flooding and the light client
// use only those); the others are 70% 2-32, 25% 33-128 and 5% 129-max_len tokens.
struct PoolSpec {
  uint64_t seed = 1;
  uint32_t n_tokens = 2048;
  uint32_t n_tiny = 256;
  uint32_t n_texts = 512;  // 0: the model has no vocab.txt; no text requests
  uint32_t max_len = 256;  // <= the model's max_tokens
  uint32_t vocab = 30522;
};

inline std::vector<int32_t> PoolSequence(const PoolSpec& p, uint32_t index) {
  Rng r(Mix(p.seed, index));
  uint32_t len;
  const uint32_t cap = p.max_len < 2 ? 2 : p.max_len;
  if (index < p.n_tiny) {
    len = r.Range(2, 8);
  } else {
    const uint32_t u = r.Range(0, 99);
    len = u < 70 ? r.Range(2, 32) : u < 95 ? r.Range(33, 128) : r.Range(129, cap > 129 ? cap : 129);
  }
  if (len > cap) len = cap;
  const bool bert_ids = p.vocab > 2000;
  const uint32_t lo = bert_ids ? 1000 : 0;
  std::vector<int32_t> ids(len);
  for (auto& id : ids) id = static_cast<int32_t>(r.Range(lo, p.vocab - 1));
  ids.front() = bert_ids ? 101 : 0;  // [CLS], [SEP] in BERT vocabularies
  ids.back() = bert_ids ? 102 : 0;
  return ids;
}

// A word of the generated word list (4096 words: syllables, some capitalised, some with digits
// or non-ASCII letters so that lower-casing, accent stripping and CJK splitting all run).
inline std::string PoolWord(uint64_t seed, uint32_t w) {
  static const char* kOnsets[] = {"b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w",
                                  "z", "st", "tr", "ch", "sh", "qu", "br", "pl"};
  static const char* kVowels[] = {"a", "e", "i", "o", "u", "ou", "ea", "ai", "y"};
  static const char* kOdd[] = {"café", "naïve", "Ünïcödé", "東京", "straße", "résumé", "Ωmega", "日本語", "señor",
                               "crème", "Zürich", "😀"};
  Rng r(Mix(seed ^ 0x77, w % 4096));
  const uint32_t kind = r.Range(0, 99);
  if (kind < 4) return kOdd[r.Range(0, sizeof(kOdd) / sizeof(kOdd[0]) - 1)];
  if (kind < 7) return std::to_string(r.Range(0, 99999));
  std::string s;
  const uint32_t syll = r.Range(1, 4);
  for (uint32_t i = 0; i < syll; ++i) {
    s += kOnsets[r.Range(0, sizeof(kOnsets) / sizeof(kOnsets[0]) - 1)];
    s += kVowels[r.Range(0, sizeof(kVowels) / sizeof(kVowels[0]) - 1)];
  }
  if (kind < 15) s[0] = static_cast<char>(s[0] - 'a' + 'A');
  return s;
}

// Text entries: 70% 1-12 words, 25% 13-60, 5% 61-200 (may be truncated to max_tokens).
inline std::string PoolText(const PoolSpec& p, uint32_t index) {
  Rng r(Mix(p.seed ^ 0x7E57, index));
  const uint32_t u = r.Range(0, 99);
  const uint32_t words = u < 70 ? r.Range(1, 12) : u < 95 ? r.Range(13, 60) : r.Range(61, 200);
  static const char* kPunct[] = {",", ".", "!", "?", ";", " -", "'s", ":"};
  std::string t;
  for (uint32_t i = 0; i < words; ++i) {
    if (i > 0) t += ' ';
    t += PoolWord(p.seed, r.Range(0, 4095));
    if (r.Range(0, 9) == 0) t += kPunct[r.Range(0, sizeof(kPunct) / sizeof(kPunct[0]) - 1)];
  }
  return t;
}

enum Role : uint8_t { kRoleWorker = 0, kRoleFlood = 1, kRoleLight = 2 };
inline const char* RoleName(uint8_t r) { return r == kRoleFlood ? "flood" : r == kRoleLight ? "light" : "worker"; }
enum Kind : uint8_t { kKindTokens = 0, kKindText = 1 };
// How a client made the call (for the report of a wrong or lost result).
enum Mode : uint8_t {
  kModeSubmitWait = 0,   // lam_client_submit_* + lam_client_wait into a buffer
  kModeResult = 1,       // lam_client_embed_*_result (zero-copy), then lam_result_release
  kModePipelined = 2,    // 2-4 submissions in flight, waited in order
  kModeSync = 3,         // lam_client_embed_tokens / lam_client_embed_text
};
inline const char* ModeName(uint8_t m) {
  return m == kModeResult ? "result" : m == kModePipelined ? "pipelined" : m == kModeSync ? "sync" : "submit+wait";
}

constexpr uint32_t kRecordMagic = 0x4B414F53;  // "SOAK"

// One call's outcome, written by the client after the call returned: the header, then n uint32
// pool indices, then (status OK only) n * dim floats exactly as the library returned them.
struct RecordHeader {
  uint32_t magic = kRecordMagic;
  uint8_t role = 0;
  uint8_t kind = 0;
  uint8_t mode = 0;
  uint8_t reserved = 0;
  int32_t status = 0;
  uint32_t n = 0;
  uint32_t dim = 0;       // floats per row that follow (0 unless status is OK)
  uint32_t bad_count = 0; // 1: a success whose float count was not n * dim (rows NaN-padded)
  int64_t t0_ns = 0;      // CLOCK_MONOTONIC at the call (submit) and at its return (wait)
  int64_t t1_ns = 0;
};
static_assert(sizeof(RecordHeader) == 40);

// Per-call timeouts of the clients. The daemon drops a request unstarted after kDeadlineMs
// (DEADLINE_EXCEEDED: load shedding); with submit + wait a client waits kWaitMs, so a
// client-side TIMEOUT there means the daemon neither answered nor dropped the request 30 s after
// its deadline: a lost result. The synchronous and zero-copy calls wait exactly the request's
// own timeout, so their TIMEOUT races DEADLINE_EXCEEDED and is only counted (their hangs are
// still caught by the stuck-client watchdog).
constexpr uint32_t kDeadlineMs = 30000;
constexpr uint32_t kWaitMs = 60000;

}  // namespace lam::bench::soak
