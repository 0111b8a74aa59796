// SPDX-License-Identifier: MIT
#include "tokenizer/utf8.h"

#include <cstdio>

namespace lam::tokenizer {
namespace {

Status Invalid(size_t offset, const char* what, unsigned byte) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "invalid UTF-8 at byte offset %zu: %s (byte 0x%02X)", offset, what,
                byte);
  return Status(LAM_STATUS_INVALID_UTF8, buf);
}

}  // namespace

Status DecodeUtf8(std::string_view text, std::vector<char32_t>* out) {
  out->clear();
  out->reserve(text.size());
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    // ASCII fast path: most client text is ASCII.
    while (i < n && s[i] < 0x80) out->push_back(s[i++]);
    if (i >= n) break;
    const unsigned b0 = s[i];
    size_t len;
    char32_t cp;
    char32_t min;
    if (b0 < 0xC2) {
      // 0x80-0xBF cannot start a sequence; 0xC0 and 0xC1 only start overlong 2-byte forms.
      return Invalid(i, b0 < 0xC0 ? "unexpected continuation byte" : "overlong encoding", b0);
    } else if (b0 < 0xE0) {
      len = 2, cp = b0 & 0x1F, min = 0x80;
    } else if (b0 < 0xF0) {
      len = 3, cp = b0 & 0x0F, min = 0x800;
    } else if (b0 < 0xF5) {
      len = 4, cp = b0 & 0x07, min = 0x10000;
    } else {
      return Invalid(i, "code point above U+10FFFF", b0);
    }
    for (size_t k = 1; k < len; ++k) {
      if (i + k >= n) return Invalid(i, "truncated sequence at end of text", b0);
      const unsigned b = s[i + k];
      if ((b & 0xC0) != 0x80) return Invalid(i, "truncated sequence", b0);
      cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min) return Invalid(i, "overlong encoding", b0);
    if (cp >= 0xD800 && cp <= 0xDFFF) return Invalid(i, "UTF-16 surrogate code point", b0);
    if (cp > 0x10FFFF) return Invalid(i, "code point above U+10FFFF", b0);
    out->push_back(cp);
    i += len;
  }
  return Status::Ok();
}

}  // namespace lam::tokenizer
