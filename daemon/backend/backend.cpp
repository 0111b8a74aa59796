// SPDX-License-Identifier: MIT
#include "backend/backend.h"

namespace lam::backend {

std::string Bucket::ToString() const {
  return std::to_string(max_sequences) + "x" + std::to_string(token_budget);
}

}  // namespace lam::backend
