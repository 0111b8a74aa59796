// SPDX-License-Identifier: MIT
#include "tokenizer/wordpiece.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>
#include <xxhash.h>

#include "tokenizer/unicode_props.h"
#include "tokenizer/utf8.h"

namespace lam::tokenizer {
namespace {

// Open-addressing table from piece text to id, pointing into the vocabulary's strings. Lookups
// are the hot loop of WordPiece (a word of n characters can cost n probes), so it stores the full
// hash next to the key and compares bytes only when the hashes agree.
class PieceTable {
 public:
  void Reserve(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
  }
  // `key` must outlive the table. A later insertion of the same key wins, as in HF.
  void Insert(std::string_view key, int32_t id) {
    const uint64_t h = XXH3_64bits(key.data(), key.size());
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.id < 0 || (s.hash == h && s.key == key)) {
        s = Slot{h, key, id};
        return;
      }
    }
  }
  int32_t Find(std::string_view key) const {
    const uint64_t h = XXH3_64bits(key.data(), key.size());
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.id < 0) return -1;
      if (s.hash == h && s.key == key) return s.id;
    }
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    std::string_view key;
    int32_t id = -1;
  };
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

constexpr std::string_view kContinuation = "##";

// Per-thread scratch storage, reused across calls so that tokenizing allocates nothing once the
// buffers have grown to the working size.
struct Scratch {
  std::vector<char32_t> text;        // decoded input
  std::vector<char32_t> cleaned;     // after cleanup and CJK spacing
  std::vector<char32_t> decomposed;  // after NFD
  std::vector<char32_t> normalized;  // after mark removal and lowercasing
  std::vector<char16_t> utf16;       // ICU's working buffer
  std::string word;                  // one word in UTF-8
  std::vector<uint32_t> bounds;      // byte offset of each code point of `word`, plus the end
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

}  // namespace

struct WordPieceTokenizer::Impl {
  TokenizerOptions options;
  std::vector<std::string> vocab;
  PieceTable initial;       // word-initial pieces
  PieceTable continuation;  // "##x" pieces, keyed by "x"
  size_t max_initial_chars = 0;
  size_t max_continuation_chars = 0;
  int32_t unk = -1, cls = -1, sep = -1, pad = -1;
  // Special tokens recognised verbatim in the raw text, longest first.
  std::vector<std::pair<std::u32string, int32_t>> specials;

  // Appends the WordPiece ids of the word in scratch.word/bounds, up to `budget` ids in total.
  void WordPieces(const Scratch& s, std::vector<int32_t>* out, size_t budget) const;
  // Normalizes, splits and word-pieces one stretch of text (between special tokens).
  void EncodeSegment(const char32_t* cps, size_t n, Scratch& s, std::vector<int32_t>* out,
                     size_t budget) const;
};

namespace {

// Decodes a vocabulary entry (already checked to be valid UTF-8).
std::u32string Decode(std::string_view s) {
  std::vector<char32_t> cps;
  (void)DecodeUtf8(s, &cps);
  return std::u32string(cps.begin(), cps.end());
}

size_t CountCodePoints(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

void WordPieceTokenizer::Impl::WordPieces(const Scratch& s, std::vector<int32_t>* out,
                                          size_t budget) const {
  const size_t nchars = s.bounds.size() - 1;
  if (nchars > options.max_input_chars_per_word) {
    out->push_back(unk);
    return;
  }
  const size_t mark = out->size();
  size_t start = 0;
  while (start < nchars) {
    const PieceTable& table = start == 0 ? initial : continuation;
    const size_t longest = start == 0 ? max_initial_chars : max_continuation_chars;
    size_t end = std::min(nchars, start + longest);
    int32_t id = -1;
    for (; end > start; --end) {
      const std::string_view piece(s.word.data() + s.bounds[start], s.bounds[end] - s.bounds[start]);
      id = table.Find(piece);
      if (id >= 0) break;
    }
    if (id < 0) {
      // No cover of the whole word: the word is one [UNK].
      out->resize(mark);
      out->push_back(unk);
      return;
    }
    out->push_back(id);
    start = end;
  }
  // Truncation drops the pieces beyond the budget (HF truncates after word-piecing).
  if (out->size() > budget) out->resize(budget);
}

void WordPieceTokenizer::Impl::EncodeSegment(const char32_t* cps, size_t n, Scratch& s,
                                             std::vector<int32_t>* out, size_t budget) const {
  // 1. Cleanup and CJK spacing. Below U+00C0, NFD and mark removal change nothing and lowercasing
  // is ASCII, so text made only of such characters is finished in this one pass.
  s.cleaned.clear();
  bool simple = true;
  const bool lower = options.do_lower_case;
  for (size_t i = 0; i < n; ++i) {
    const char32_t c = cps[i];
    if (c < 0xC0) {
      if (IsDroppedChar(c)) continue;
      if (IsWhitespaceChar(c)) {
        s.cleaned.push_back(' ');
      } else {
        s.cleaned.push_back(lower && c >= 'A' && c <= 'Z' ? c + 32 : c);
      }
      continue;
    }
    simple = false;
    if (IsDroppedChar(c)) continue;
    if (IsWhitespaceChar(c)) {
      s.cleaned.push_back(' ');
    } else if (options.tokenize_chinese_chars && c >= 0x3400 && IsChineseChar(c)) {
      s.cleaned.push_back(' ');
      s.cleaned.push_back(c);
      s.cleaned.push_back(' ');
    } else {
      s.cleaned.push_back(c);
    }
  }
  // 2. Accent stripping (NFD, drop Mn), then lowercasing, in the order tokenizers applies them.
  // (Lowercasing again what step 1 lowercased is harmless.)
  const std::vector<char32_t>* src = &s.cleaned;
  if (!simple && options.strip_accents) {
    s.decomposed.clear();
    AppendNfd(s.cleaned.data(), s.cleaned.size(), &s.decomposed, &s.utf16);
    std::erase_if(s.decomposed, [](char32_t c) { return IsNonspacingMark(c); });
    src = &s.decomposed;
  }
  if (!simple && lower) {
    s.normalized.clear();
    for (char32_t c : *src) AppendLowercase(c, &s.normalized);
    src = &s.normalized;
  }
  // 3. Split on whitespace (dropped) and punctuation (kept as one-character words); word-piece.
  const std::vector<char32_t>& t = *src;
  size_t i = 0;
  while (i < t.size() && out->size() < budget) {
    const char32_t c = t[i];
    if (IsWhitespaceChar(c)) {
      ++i;
      continue;
    }
    s.word.clear();
    s.bounds.clear();
    if (IsPunctuationChar(c)) {
      s.bounds.push_back(0);
      AppendUtf8(c, &s.word);
      ++i;
    } else {
      while (i < t.size() && !IsWhitespaceChar(t[i]) && !IsPunctuationChar(t[i])) {
        s.bounds.push_back(static_cast<uint32_t>(s.word.size()));
        AppendUtf8(t[i], &s.word);
        ++i;
      }
    }
    s.bounds.push_back(static_cast<uint32_t>(s.word.size()));
    WordPieces(s, out, budget);
  }
}

WordPieceTokenizer::WordPieceTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WordPieceTokenizer::WordPieceTokenizer(WordPieceTokenizer&&) noexcept = default;
WordPieceTokenizer& WordPieceTokenizer::operator=(WordPieceTokenizer&&) noexcept = default;
WordPieceTokenizer::~WordPieceTokenizer() = default;

Result<WordPieceTokenizer> WordPieceTokenizer::FromVocab(std::vector<std::string> vocab,
                                                         const TokenizerOptions& options) {
  if (vocab.empty()) return Status(LAM_STATUS_MODEL_INVALID, "tokenizer vocabulary is empty");
  if (vocab.size() > static_cast<size_t>(INT32_MAX)) {
    return Status(LAM_STATUS_MODEL_INVALID, "tokenizer vocabulary has more than 2^31-1 entries");
  }
  if (options.max_input_chars_per_word == 0) {
    return Status(LAM_STATUS_INVALID_ARG, "max_input_chars_per_word must be positive");
  }
  std::vector<char32_t> check;
  for (size_t id = 0; id < vocab.size(); ++id) {
    if (Status st = DecodeUtf8(vocab[id], &check); !st.ok()) {
      return Status(LAM_STATUS_MODEL_INVALID,
                    "vocabulary entry " + std::to_string(id) + ": " + st.message());
    }
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->vocab = std::move(vocab);  // the tables point into these strings: fill them after the move
  impl->initial.Reserve(impl->vocab.size());
  impl->continuation.Reserve(impl->vocab.size());
  for (size_t id = 0; id < impl->vocab.size(); ++id) {
    const std::string_view tok = impl->vocab[id];
    const auto i = static_cast<int32_t>(id);
    if (tok.size() > kContinuation.size() && tok.starts_with(kContinuation)) {
      const std::string_view rest = tok.substr(kContinuation.size());
      impl->max_continuation_chars = std::max(impl->max_continuation_chars, CountCodePoints(rest));
      impl->continuation.Insert(rest, i);
    }
    if (!tok.empty()) {
      impl->max_initial_chars = std::max(impl->max_initial_chars, CountCodePoints(tok));
      impl->initial.Insert(tok, i);
    }
  }
  auto require = [&](const std::string& name, int32_t* id) -> Status {
    const int32_t found = impl->initial.Find(name);
    if (found < 0) {
      return Status(LAM_STATUS_MODEL_INVALID,
                    "special token \"" + name + "\" is not in the tokenizer vocabulary");
    }
    *id = found;
    impl->specials.emplace_back(Decode(name), found);
    return Status::Ok();
  };
  LAM_RETURN_IF_ERROR(require(options.unk_token, &impl->unk));
  LAM_RETURN_IF_ERROR(require(options.cls_token, &impl->cls));
  LAM_RETURN_IF_ERROR(require(options.sep_token, &impl->sep));
  LAM_RETURN_IF_ERROR(require(options.pad_token, &impl->pad));
  if (const int32_t mask = impl->initial.Find(options.mask_token);
      !options.mask_token.empty() && mask >= 0) {
    impl->specials.emplace_back(Decode(options.mask_token), mask);
  }
  // Leftmost-longest matching, as HF's added-token splitter does.
  std::stable_sort(impl->specials.begin(), impl->specials.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  return WordPieceTokenizer(std::move(impl));
}

Result<WordPieceTokenizer> WordPieceTokenizer::LoadFromModelDir(const std::string& dir) {
  auto read_file = [](const std::string& path, std::string* out) -> Status {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status(LAM_STATUS_NOT_FOUND, "cannot open " + path);
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return Status(LAM_STATUS_IO_ERROR, "read error on " + path);
    *out = std::move(text).str();
    return Status::Ok();
  };
  const std::string vocab_path = dir + "/vocab.txt";
  std::string vocab;
  if (Status s = read_file(vocab_path, &vocab); !s.ok()) {
    return Status(LAM_STATUS_IO_ERROR, s.message());
  }
  std::string config;
  const Status cs = read_file(dir + "/tokenizer_config.json", &config);
  if (!cs.ok() && cs.code() != LAM_STATUS_NOT_FOUND) return cs;
  return FromFileContents(vocab, cs.ok() ? std::optional<std::string_view>(config) : std::nullopt,
                          dir);
}

Result<WordPieceTokenizer> WordPieceTokenizer::FromFileContents(
    std::string_view vocab_txt, std::optional<std::string_view> tokenizer_config_json,
    std::string_view dir) {
  const std::string vocab_path = std::string(dir) + "/vocab.txt";
  std::vector<std::string> vocab;
  // One token per line (as std::getline splits: a final line without '\n' counts, nothing
  // after a final '\n' does).
  for (size_t pos = 0; pos < vocab_txt.size();) {
    const size_t nl = vocab_txt.find('\n', pos);
    const size_t end = nl == std::string_view::npos ? vocab_txt.size() : nl;
    std::string line(vocab_txt.substr(pos, end - pos));
    // HF strips the line ending only ("\n", and "\r" of CRLF files via trim_end in tokenizers).
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    vocab.push_back(std::move(line));
    pos = end + 1;
  }

  TokenizerOptions options;
  const std::string config_path = std::string(dir) + "/tokenizer_config.json";
  if (tokenizer_config_json.has_value()) {
    nlohmann::json cfg;
    try {
      cfg = nlohmann::json::parse(*tokenizer_config_json);
    } catch (const nlohmann::json::exception& e) {
      return Status(LAM_STATUS_MODEL_INVALID, config_path + ": " + e.what());
    }
    if (!cfg.is_object()) {
      return Status(LAM_STATUS_MODEL_INVALID, config_path + ": not a JSON object");
    }
    auto get_bool = [&](const char* key, bool* v) -> Status {
      auto it = cfg.find(key);
      if (it == cfg.end() || it->is_null()) return Status::Ok();
      if (!it->is_boolean()) {
        return Status(LAM_STATUS_MODEL_INVALID,
                      config_path + ": \"" + key + "\" must be true, false or null");
      }
      *v = it->get<bool>();
      return Status::Ok();
    };
    // A special token is a string or an AddedToken object {"content": ...}.
    auto get_token = [&](const char* key, std::string* v) -> Status {
      auto it = cfg.find(key);
      if (it == cfg.end() || it->is_null()) return Status::Ok();
      if (it->is_string()) {
        *v = it->get<std::string>();
      } else if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
        *v = (*it)["content"].get<std::string>();
      } else {
        return Status(LAM_STATUS_MODEL_INVALID,
                      config_path + ": \"" + key + "\" must be a string or {\"content\": ...}");
      }
      return Status::Ok();
    };
    LAM_RETURN_IF_ERROR(get_bool("do_lower_case", &options.do_lower_case));
    options.strip_accents = options.do_lower_case;  // strip_accents: null follows lowercasing
    LAM_RETURN_IF_ERROR(get_bool("strip_accents", &options.strip_accents));
    LAM_RETURN_IF_ERROR(get_bool("tokenize_chinese_chars", &options.tokenize_chinese_chars));
    LAM_RETURN_IF_ERROR(get_token("unk_token", &options.unk_token));
    LAM_RETURN_IF_ERROR(get_token("cls_token", &options.cls_token));
    LAM_RETURN_IF_ERROR(get_token("sep_token", &options.sep_token));
    LAM_RETURN_IF_ERROR(get_token("pad_token", &options.pad_token));
    LAM_RETURN_IF_ERROR(get_token("mask_token", &options.mask_token));
  }
  auto tok = FromVocab(std::move(vocab), options);
  if (!tok.ok()) return Status(tok.status().code(), vocab_path + ": " + tok.status().message());
  return tok;
}

void WordPieceTokenizer::LowerCaseInput() { impl_->options.do_lower_case = true; }

Status WordPieceTokenizer::EncodeAppend(std::string_view text, size_t max_length,
                                        std::vector<int32_t>* out) const {
  if (max_length < 2) {
    return Status(LAM_STATUS_INVALID_ARG,
                  "max_length " + std::to_string(max_length) + " leaves no room for [CLS] and [SEP]");
  }
  Scratch& s = ThreadScratch();
  // Validate all of the text even when truncation will use only its start.
  LAM_RETURN_IF_ERROR(DecodeUtf8(text, &s.text));
  const Impl& im = *impl_;
  const size_t base = out->size();
  out->push_back(im.cls);
  // Ids may fill out[base, budget); [SEP] goes last.
  const size_t budget =
      max_length - 1 > kNoTruncation - base ? kNoTruncation : base + max_length - 1;
  const char32_t* cps = s.text.data();
  const size_t n = s.text.size();
  size_t seg = 0;
  for (size_t i = 0; i < n && out->size() < budget; ++i) {
    for (const auto& [name, id] : im.specials) {
      if (cps[i] != name[0] || n - i < name.size() ||
          !std::equal(name.begin(), name.end(), cps + i)) {
        continue;
      }
      im.EncodeSegment(cps + seg, i - seg, s, out, budget);
      if (out->size() < budget) out->push_back(id);
      i += name.size() - 1;
      seg = i + 1;
      break;
    }
  }
  if (seg < n && out->size() < budget) im.EncodeSegment(cps + seg, n - seg, s, out, budget);
  out->push_back(im.sep);
  // One huge text should not pin its working memory to this thread for good.
  constexpr size_t kKeepCodePoints = size_t{1} << 20;
  if (s.text.capacity() > kKeepCodePoints) s = Scratch();
  return Status::Ok();
}

Result<std::vector<int32_t>> WordPieceTokenizer::Encode(std::string_view text,
                                                        size_t max_length) const {
  std::vector<int32_t> ids;
  LAM_RETURN_IF_ERROR(EncodeAppend(text, max_length, &ids));
  return ids;
}

Result<std::vector<std::vector<int32_t>>> WordPieceTokenizer::EncodeBatch(
    std::span<const std::string_view> texts, size_t max_length) const {
  std::vector<std::vector<int32_t>> all(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    if (Status st = EncodeAppend(texts[i], max_length, &all[i]); !st.ok()) {
      return Status(st.code(), "text " + std::to_string(i) + ": " + st.message());
    }
  }
  return all;
}

size_t WordPieceTokenizer::vocab_size() const { return impl_->vocab.size(); }
int32_t WordPieceTokenizer::cls_id() const { return impl_->cls; }
int32_t WordPieceTokenizer::sep_id() const { return impl_->sep; }
int32_t WordPieceTokenizer::pad_id() const { return impl_->pad; }
int32_t WordPieceTokenizer::unk_id() const { return impl_->unk; }
const TokenizerOptions& WordPieceTokenizer::options() const { return impl_->options; }

std::string_view WordPieceTokenizer::token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->vocab.size()) return {};
  return impl_->vocab[static_cast<size_t>(id)];
}

int32_t WordPieceTokenizer::token_id(std::string_view tok) const {
  return impl_->initial.Find(tok);
}

}  // namespace lam::tokenizer
