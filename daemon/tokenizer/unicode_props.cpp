// SPDX-License-Identifier: MIT
#include "tokenizer/unicode_props.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/utf16.h>

#include <cstdlib>

namespace lam::tokenizer {
namespace {

// tokenizers classifies with Unicode 8.0 categories; characters assigned later have none of the
// categories below there.
bool AssignedByUnicode8(char32_t cp) {
  UVersionInfo age;
  u_charAge(static_cast<UChar32>(cp), age);
  return age[0] <= 8;
}

// Characters assigned by Unicode 8.0 whose general category changed later; this is their 8.0
// category as far as the tests below it care (found by the exhaustive comparison).
int8_t Unicode8Category(char32_t cp) {
  switch (cp) {
    case 0x166D:  // CANADIAN SYLLABICS CHI SIGN: So since 12.0
    case 0x111C9:  // SHARADA SANDHI MARK: Mn since 11.0
      return U_OTHER_PUNCTUATION;
    case 0x1734:  // HANUNOO SIGN PAMUDPOD: Mc since 14.0
      return U_NON_SPACING_MARK;
    case 0x1885:  // MONGOLIAN LETTER ALI GALI BALUDA: Mn since 9.0
    case 0x1886:  // MONGOLIAN LETTER ALI GALI THREE BALUDA: Mn since 9.0
      return U_OTHER_LETTER;
    case 0xA9BD:  // JAVANESE CONSONANT SIGN KERET: Mn since 12.0
      return U_COMBINING_SPACING_MARK;
    default:
      return u_charType(static_cast<UChar32>(cp));
  }
}

bool IsAsciiPunct(char32_t cp) {
  return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
         (cp >= 123 && cp <= 126);
}

const UNormalizer2* Nfd() {
  static const UNormalizer2* nfd = [] {
    UErrorCode err = U_ZERO_ERROR;
    const UNormalizer2* n = unorm2_getNFDInstance(&err);
    // ICU's NFD data is compiled into libicuuc; failing here means a broken installation.
    if (U_FAILURE(err) || n == nullptr) std::abort();
    return n;
  }();
  return nfd;
}

}  // namespace

bool IsDroppedChar(char32_t cp) {
  if (cp < 0x80) return cp == 0x7F || (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r');
  if (cp == 0xFFFD) return true;
  if (!AssignedByUnicode8(cp)) return false;
  const int8_t cat = Unicode8Category(cp);
  return cat == U_CONTROL_CHAR || cat == U_FORMAT_CHAR || cat == U_PRIVATE_USE_CHAR ||
         cat == U_SURROGATE;
}

bool IsWhitespaceChar(char32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= '\t' && cp <= '\r');
  return u_isUWhiteSpace(static_cast<UChar32>(cp));
}

bool IsChineseChar(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

bool IsNonspacingMark(char32_t cp) {
  if (cp < 0x300) return false;
  return AssignedByUnicode8(cp) && Unicode8Category(cp) == U_NON_SPACING_MARK;
}

bool IsPunctuationChar(char32_t cp) {
  if (cp < 0x80) return IsAsciiPunct(cp);
  if (!AssignedByUnicode8(cp)) return false;
  switch (Unicode8Category(cp)) {
    case U_CONNECTOR_PUNCTUATION:
    case U_DASH_PUNCTUATION:
    case U_START_PUNCTUATION:
    case U_END_PUNCTUATION:
    case U_INITIAL_PUNCTUATION:
    case U_FINAL_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
      return true;
    default:
      return false;
  }
}

void AppendLowercase(char32_t cp, std::vector<char32_t>* out) {
  if (cp < 0x80) {
    out->push_back(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
  } else if (cp == 0x130) {
    // The one unconditional multi-character lowercase mapping (SpecialCasing.txt): İ -> i̇.
    out->push_back('i');
    out->push_back(0x307);
  } else {
    out->push_back(static_cast<char32_t>(u_tolower(static_cast<UChar32>(cp))));
  }
}

void AppendNfd(const char32_t* in, size_t n, std::vector<char32_t>* out,
               std::vector<char16_t>* scratch) {
  // Below U+00C0 every character is its own NFD.
  size_t i = 0;
  while (i < n && in[i] < 0xC0) out->push_back(in[i++]);
  if (i == n) return;
  // ICU normalizes UTF-16: source in the front of the scratch buffer, result behind it.
  scratch->clear();
  for (size_t k = i; k < n; ++k) {
    const auto c = static_cast<UChar32>(in[k]);
    if (c < 0x10000) {
      scratch->push_back(static_cast<char16_t>(c));
    } else {
      scratch->push_back(static_cast<char16_t>(U16_LEAD(c)));
      scratch->push_back(static_cast<char16_t>(U16_TRAIL(c)));
    }
  }
  const size_t src_len = scratch->size();
  // NFD expands a BMP character to at most 4 UTF-16 units (Unicode's stated bound is 3x for NFD;
  // retry with the size ICU asks for if ever exceeded).
  size_t cap = src_len * 4 + 8;
  for (;;) {
    scratch->resize(src_len + cap);
    UErrorCode err = U_ZERO_ERROR;
    const int32_t len = unorm2_normalize(
        Nfd(), reinterpret_cast<const UChar*>(scratch->data()), static_cast<int32_t>(src_len),
        reinterpret_cast<UChar*>(scratch->data() + src_len), static_cast<int32_t>(cap), &err);
    if (err == U_BUFFER_OVERFLOW_ERROR) {
      cap = static_cast<size_t>(len);
      continue;
    }
    if (U_FAILURE(err)) std::abort();  // input is valid UTF-16 by construction
    const char16_t* r = scratch->data() + src_len;
    for (int32_t k = 0; k < len;) {
      UChar32 c;
      U16_NEXT(r, k, len, c);
      out->push_back(static_cast<char32_t>(c));
    }
    return;
  }
}

}  // namespace lam::tokenizer
