// SPDX-License-Identifier: MIT
// Character properties used by BERT's basic tokenizer, defined exactly as Hugging Face
// `tokenizers` (the library all-MiniLM-L6-v2 and LAM-base-v1 are served with) defines them, on top
// of ICU's Unicode tables:
//  * general categories (control/format/private use, Mn, P*) come from a crate frozen at
//    Unicode 8.0 there, so a character assigned after 8.0 has none of them here either
//    (u_charAge); a few characters whose category changed since are listed in unicode_props.cpp;
//  * whitespace is the White_Space property; lowercase is the full, context-free mapping;
//  * CJK ranges are those of tokenizers' is_chinese_char (which reads 0x2B920 where Google's
//    BERT has 0x2B820).
// All of it is pinned by the exhaustive per-code-point test in tests/unit/tokenizer_test.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace lam::tokenizer {

// Dropped by text cleanup: NUL, U+FFFD, and control, format and private-use characters except
// tab, LF and CR.
bool IsDroppedChar(char32_t cp);
// White_Space (tab, LF, CR and the Unicode spaces).
bool IsWhitespaceChar(char32_t cp);
// A CJK ideograph that is split off as its own word.
bool IsChineseChar(char32_t cp);
// General category Mn (removed after NFD when stripping accents).
bool IsNonspacingMark(char32_t cp);
// ASCII punctuation (33-47, 58-64, 91-96, 123-126) or general category P*.
bool IsPunctuationChar(char32_t cp);
// Appends the full lowercase mapping of `cp` (one or more code points).
void AppendLowercase(char32_t cp, std::vector<char32_t>* out);
// Canonical decomposition (NFD) of `in[0, n)`, appended to `*out`. `*scratch` is reused storage.
void AppendNfd(const char32_t* in, size_t n, std::vector<char32_t>* out,
               std::vector<char16_t>* scratch);

}  // namespace lam::tokenizer
