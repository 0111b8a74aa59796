// SPDX-License-Identifier: MIT
// libFuzzer: segment admission (issue 10). Fuzzer bytes become a SubmitDesc and the contents of
// an arena, which go through AdmitEmbed, or AdmitText then TokenizeText, exactly as the data
// plane calls them. Invariant: every range the daemon reads (lengths, token ids or text bytes)
// and the output rows it would write lie inside the real arena. The arena is a heap buffer of
// exactly arena_size bytes, so ASan also catches any read or write past it; the output write of
// a completion is done for real.
//
// Input: [SubmitDesc: 64 bytes][arena size: 2 bytes][mode: 1 byte][arena contents...]
// mode bit 0 folds the offsets and counts into the arena's range (the interesting cases);
// bit 1 picks the text path.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "server/admission.h"
#include "shm/shm_abi.h"
#include "tokenizer/wordpiece.h"
#include "unit/support/fake_engine.h"

namespace {

using lam::server::AdmissionLimits;

constexpr uint32_t kDim = 8;
constexpr int kVocab = 64;
constexpr int kMaxTokens = 32;

[[noreturn]] void Fail(const char* what, const lam::shm::SubmitDesc& d, uint64_t arena_size) {
  std::fprintf(stderr,
               "invariant broken: %s (n_seqs %u, lengths %llu, tokens %llu, output %llu, total %llu, arena %llu)\n",
               what, d.n_seqs, static_cast<unsigned long long>(d.lengths_offset),
               static_cast<unsigned long long>(d.tokens_offset), static_cast<unsigned long long>(d.output_offset),
               static_cast<unsigned long long>(d.total_tokens), static_cast<unsigned long long>(arena_size));
  std::abort();
}

bool Inside(uint64_t offset, uint64_t bytes, uint64_t size) { return offset <= size && bytes <= size - offset; }

struct Fixture {
  lam::testing::FakeEngine engine{static_cast<int>(kDim), kVocab, kMaxTokens};
  std::unique_ptr<lam::tokenizer::WordPieceTokenizer> tokenizer;
  AdmissionLimits limits;
  Fixture() {
    std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "ab", "##b", "##a",
                                      "hello", "world", "##s", ".", ",", "\xc3\xa9"};
    auto t = lam::tokenizer::WordPieceTokenizer::FromVocab(vocab);
    if (!t.ok()) std::abort();
    tokenizer = std::make_unique<lam::tokenizer::WordPieceTokenizer>(std::move(t).value());
    limits.embedding_dim = kDim;
    limits.max_sequences_per_request = 4096;
  }
};

// What the completion does with an admitted request: writes n_seqs rows at output_offset.
void WriteRows(char* arena, uint64_t arena_size, const lam::shm::SubmitDesc& d, uint64_t output_offset, size_t n_seqs) {
  const uint64_t bytes = uint64_t{n_seqs} * kDim * sizeof(float);
  if (!Inside(output_offset, bytes, arena_size)) Fail("output rows outside the arena", d, arena_size);
  std::vector<float> rows(n_seqs * kDim, 0.5f);
  if (bytes != 0) std::memcpy(arena + output_offset, rows.data(), bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture fx;
  if (size < sizeof(lam::shm::SubmitDesc) + 3) return 0;
  lam::shm::SubmitDesc d;
  std::memcpy(&d, data, sizeof(d));
  data += sizeof(d);
  size -= sizeof(d);
  const uint64_t arena_size = 4 + (uint64_t{data[0]} | (uint64_t{data[1]} << 8)) % 8192;
  const uint8_t mode = data[2];
  data += 3;
  size -= 3;
  if (mode & 1) {
    const uint64_t span = arena_size + 64;
    d.lengths_offset %= span;
    d.tokens_offset %= span;
    d.output_offset %= span;
    d.n_seqs %= 64;
    d.total_tokens %= 1024;
  }
  // Exactly arena_size bytes: ASan reports anything past them.
  std::unique_ptr<char[]> arena(new char[arena_size]);
  const size_t n = size < arena_size ? size : static_cast<size_t>(arena_size);
  std::memcpy(arena.get(), data, n);
  std::memset(arena.get() + n, 0, arena_size - n);

  uint64_t detail = 0;
  if ((mode & 2) == 0) {
    lam::scheduler::Request req;
    const lam::Status st = lam::server::AdmitEmbed(d, arena.get(), arena_size, fx.engine, fx.limits, 0, &req, &detail);
    if (!st.ok()) return 0;
    if (d.n_seqs == 0) Fail("an empty request was admitted", d, arena_size);
    if (!Inside(d.lengths_offset, uint64_t{d.n_seqs} * 4, arena_size)) Fail("lengths outside the arena", d, arena_size);
    if (d.total_tokens > UINT64_MAX / 4 || !Inside(d.tokens_offset, d.total_tokens * 4, arena_size)) {
      Fail("token ids outside the arena", d, arena_size);
    }
    if (req.offsets.size() != size_t{d.n_seqs} + 1 || req.offsets.back() != req.tokens.size() ||
        req.tokens.size() != d.total_tokens || req.output_offset != d.output_offset) {
      Fail("admitted request does not match its descriptor", d, arena_size);
    }
    for (int32_t id : req.tokens) {
      if (id < 0 || id >= kVocab) Fail("a token id outside the vocabulary was admitted", d, arena_size);
    }
    WriteRows(arena.get(), arena_size, d, req.output_offset, d.n_seqs);
    return 0;
  }
  lam::server::TextRequest text;
  lam::Status st = lam::server::AdmitText(d, arena.get(), arena_size, fx.limits, 0, &text, &detail);
  if (!st.ok()) return 0;
  if (!Inside(d.lengths_offset, uint64_t{d.n_seqs} * 4, arena_size)) Fail("text lengths outside the arena", d, arena_size);
  if (!Inside(d.tokens_offset, d.total_tokens, arena_size)) Fail("text bytes outside the arena", d, arena_size);
  if (text.bytes.size() != d.total_tokens || text.lengths.size() != d.n_seqs || !text.req) {
    Fail("admitted text does not match its descriptor", d, arena_size);
  }
  st = lam::server::TokenizeText(*fx.tokenizer, fx.engine, kMaxTokens, &text, &detail);
  if (!st.ok()) return 0;
  const auto& req = *text.req;
  if (req.offsets.size() != size_t{d.n_seqs} + 1 || req.offsets.back() != req.tokens.size()) {
    Fail("tokenised text has inconsistent offsets", d, arena_size);
  }
  for (size_t i = 0; i + 1 < req.offsets.size(); ++i) {
    if (req.offsets[i + 1] - req.offsets[i] > static_cast<uint32_t>(kMaxTokens)) {
      Fail("a tokenised text is longer than the model maximum", d, arena_size);
    }
  }
  WriteRows(arena.get(), arena_size, d, req.output_offset, d.n_seqs);
  return 0;
}
