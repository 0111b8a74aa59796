// SPDX-License-Identifier: MIT
// TokenSpan lives in its own header so that backends can take batches without including the
// engine interface.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lam::engine {

// One input sequence: token ids including [CLS] and [SEP]. Borrowed for the call.
struct TokenSpan {
  const int32_t* ids = nullptr;
  size_t len = 0;
};

}  // namespace lam::engine
