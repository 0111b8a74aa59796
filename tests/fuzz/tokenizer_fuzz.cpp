// SPDX-License-Identifier: MIT
// libFuzzer target: a tokenizer built from hostile vocab.txt and tokenizer_config.json contents,
// then hostile texts encoded with it.
//
// Input: vocab.txt, tokenizer_config.json and one or more texts, separated by the line
// "\n====\n" (an empty tokenizer_config.json part means no such file). Invariants: building
// either fails with a status or yields a tokenizer whose every id is inside the vocabulary;
// Encode() fails only on invalid UTF-8, starts with [CLS], ends with [SEP], and truncation keeps
// a prefix plus [SEP]; EncodeAppend/EncodeBatch agree with Encode and restore the output on error.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <vector>

#include "tokenizer/wordpiece.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "tokenizer_fuzz: invariant violated: %s\n", what);
    std::abort();
  }
}

constexpr std::string_view kSeparator = "\n====\n";

std::vector<std::string_view> Split(std::string_view in) {
  std::vector<std::string_view> parts;
  for (;;) {
    const size_t at = in.find(kSeparator);
    if (at == std::string_view::npos) break;
    parts.push_back(in.substr(0, at));
    in.remove_prefix(at + kSeparator.size());
  }
  parts.push_back(in);
  return parts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using lam::tokenizer::WordPieceTokenizer;
  const std::vector<std::string_view> parts =
      Split(std::string_view(reinterpret_cast<const char*>(data), size));
  const std::optional<std::string_view> config =
      parts.size() > 1 && !parts[1].empty() ? std::optional<std::string_view>(parts[1]) : std::nullopt;
  auto built = WordPieceTokenizer::FromFileContents(parts[0], config, "fuzz");
  if (!built.ok()) {
    Check(!built.status().message().empty(), "an error without a message");
    return 0;
  }
  const WordPieceTokenizer& tok = *built;
  const auto n = static_cast<int32_t>(tok.vocab_size());
  for (const int32_t id : {tok.cls_id(), tok.sep_id(), tok.pad_id(), tok.unk_id()}) {
    Check(id >= 0 && id < n, "a special token id outside the vocabulary");
  }

  std::vector<std::string_view> texts(parts.begin() + std::min<size_t>(2, parts.size()), parts.end());
  if (texts.empty()) texts.push_back(parts[0]);  // no text part: encode the vocabulary itself
  bool all_valid = true;
  std::vector<std::vector<int32_t>> encoded;
  for (const std::string_view text : texts) {
    auto full = tok.Encode(text);
    std::vector<int32_t> out = {7, 7, 7};
    const lam::Status appended = tok.EncodeAppend(text, WordPieceTokenizer::kNoTruncation, &out);
    Check(appended.ok() == full.ok(), "EncodeAppend and Encode disagree on success");
    if (!full.ok()) {
      Check(full.status().code() == LAM_STATUS_INVALID_UTF8, "Encode failed other than on UTF-8");
      Check(out.size() == 3, "EncodeAppend did not restore its output on error");
      all_valid = false;
      continue;
    }
    const std::vector<int32_t>& ids = *full;
    Check(ids.size() >= 2 && ids.front() == tok.cls_id() && ids.back() == tok.sep_id(),
          "output is not [CLS] ... [SEP]");
    for (const int32_t id : ids) Check(id >= 0 && id < n, "an id outside the vocabulary");
    Check(std::equal(out.begin() + 3, out.end(), ids.begin(), ids.end()),
          "EncodeAppend differs from Encode");
    for (const size_t max_length : {size_t{2}, size_t{3}, 2 + text.size() % 29}) {
      auto cut = tok.Encode(text, max_length);
      Check(cut.ok(), "truncated Encode failed where the full one did not");
      if (ids.size() <= max_length) {
        Check(*cut == ids, "truncation changed an output that fits");
      } else {
        Check(cut->size() == max_length && cut->back() == tok.sep_id() &&
                  std::equal(cut->begin(), cut->end() - 1, ids.begin()),
              "truncation is not a prefix plus [SEP]");
      }
    }
    encoded.push_back(ids);
  }
  auto batch = tok.EncodeBatch(texts);
  Check(batch.ok() == all_valid, "EncodeBatch and Encode disagree on success");
  if (batch.ok()) Check(*batch == encoded, "EncodeBatch differs from Encode");
  Check(!tok.Encode("x", 1).ok(), "max_length 1 accepted");
  return 0;
}
