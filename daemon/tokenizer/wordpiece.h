// SPDX-License-Identifier: MIT
// lam::tokenizer::WordPieceTokenizer: BERT uncased tokenization (BasicTokenizer + WordPiece) of
// client UTF-8 text into token ids, as Hugging Face `tokenizers` (BertNormalizer +
// BertPreTokenizer + WordPiece + the [CLS] $A [SEP] template) computes them for all-MiniLM-L6-v2
// and LAM-base-v1. Checked id-for-id against that library (tests/data/tokenizer/).
//
// Pipeline per text: strict UTF-8 validation; special tokens written literally in the text
// ("[CLS]", "[MASK]", ...) become their ids, as in HF; then for the text between them: drop NUL,
// U+FFFD and control/format/private-use characters, whitespace -> space, spaces around CJK
// ideographs, NFD + drop non-spacing marks (strip_accents), lowercase, split on whitespace and
// punctuation, greedy longest-match-first WordPiece with "##" continuations (a word longer than
// max_input_chars_per_word, or with no full cover, is one [UNK]). Output: [CLS] pieces [SEP],
// pieces truncated so that the whole fits max_length.
//
// Thread-safe: all methods are const; scratch buffers are per thread and reused, so the hot path
// does not allocate per character.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace lam::tokenizer {

struct TokenizerOptions {
  bool do_lower_case = true;
  // Accent stripping (NFD, then drop Mn); HF's strip_accents = None follows do_lower_case.
  bool strip_accents = true;
  bool tokenize_chinese_chars = true;
  // Words (after basic tokenization) with more code points than this become one [UNK].
  size_t max_input_chars_per_word = 100;
  std::string unk_token = "[UNK]";
  std::string cls_token = "[CLS]";
  std::string sep_token = "[SEP]";
  std::string pad_token = "[PAD]";
  std::string mask_token = "[MASK]";
};

class WordPieceTokenizer {
 public:
  // No truncation: as many ids as the text needs.
  static constexpr size_t kNoTruncation = static_cast<size_t>(-1);

  // Loads `<dir>/vocab.txt` (one token per line, id = line number) and, if present,
  // `<dir>/tokenizer_config.json` (do_lower_case, strip_accents, tokenize_chinese_chars and the
  // special token strings). Missing or malformed files: LAM_STATUS_MODEL_INVALID / IO_ERROR.
  static Result<WordPieceTokenizer> LoadFromModelDir(const std::string& dir);
  // As LoadFromModelDir, from the files' contents (tokenizer_config_json: nullopt when there is
  // no such file); `dir` only names the files in error messages. Hostile input is an error
  // status, never a crash (tests/fuzz/tokenizer_fuzz.cpp).
  static Result<WordPieceTokenizer> FromFileContents(
      std::string_view vocab_txt, std::optional<std::string_view> tokenizer_config_json,
      std::string_view dir);
  // Builds from an in-memory vocabulary (id = index). Fails if a special token is missing.
  static Result<WordPieceTokenizer> FromVocab(std::vector<std::string> vocab,
                                              const TokenizerOptions& options = {});

  WordPieceTokenizer(WordPieceTokenizer&&) noexcept;
  WordPieceTokenizer& operator=(WordPieceTokenizer&&) noexcept;
  ~WordPieceTokenizer();

  // Token ids of `text`: [CLS] ... [SEP], at most `max_length` ids (>= 2) with [SEP] kept last.
  // Invalid UTF-8: LAM_STATUS_INVALID_UTF8 naming the byte offset. max_length < 2: INVALID_ARG.
  Result<std::vector<int32_t>> Encode(std::string_view text,
                                      size_t max_length = kNoTruncation) const;
  // As Encode, appending to `*out` (which keeps its capacity across calls); on error `*out` is
  // restored to its size on entry.
  Status EncodeAppend(std::string_view text, size_t max_length, std::vector<int32_t>* out) const;
  // Encodes every text; an error names the index of the first bad text ("text 3: invalid ...").
  Result<std::vector<std::vector<int32_t>>> EncodeBatch(std::span<const std::string_view> texts,
                                                        size_t max_length = kNoTruncation) const;

  // Lower-cases every text before tokenising it (sentence-transformers' do_lower_case), whatever
  // tokenizer_config.json says; accent stripping stays as configured. Call before sharing.
  void LowerCaseInput();

  size_t vocab_size() const;
  int32_t cls_id() const;
  int32_t sep_id() const;
  int32_t pad_id() const;
  int32_t unk_id() const;
  const TokenizerOptions& options() const;
  // The vocabulary entry of `id` (empty if out of range).
  std::string_view token(int32_t id) const;
  // The id of a vocabulary entry, or -1.
  int32_t token_id(std::string_view token) const;

 private:
  struct Impl;
  explicit WordPieceTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lam::tokenizer
