// SPDX-License-Identifier: MIT
// Strict UTF-8 decoding for text that arrives from clients (RFC 3629): overlong forms, UTF-16
// surrogates, code points above U+10FFFF, stray continuation bytes and truncated sequences are all
// rejected with the byte offset of the offending sequence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace lam::tokenizer {

// Decodes `text` into code points, replacing the contents of `*out`. On invalid input returns
// LAM_STATUS_INVALID_UTF8 with a message naming the byte offset and the fault; `*out` is then
// unspecified.
Status DecodeUtf8(std::string_view text, std::vector<char32_t>* out);

// Appends the UTF-8 encoding of a valid Unicode scalar value to `*out`.
inline void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace lam::tokenizer
