// SPDX-License-Identifier: MIT
// lam.hpp - optional C++ RAII helpers over lam.h (header-only). The C header is the API;
// this adds only deleters and owning pointer types.
#ifndef LAM_LAM_HPP_
#define LAM_LAM_HPP_

#ifndef __cplusplus
#error "lam.hpp is C++; include lam/lam.h from C"
#endif

#include <memory>

#include "lam/lam.h"

namespace lam {

/// Closes a lam_client (lam_client_close; NULL-safe).
struct client_deleter {
  void operator()(lam_client* c) const noexcept { lam_client_close(c); }
};

/// Owning handle: `lam::client_ptr c(raw);` closes the client when it goes out of scope.
using client_ptr = std::unique_ptr<lam_client, client_deleter>;

/// Releases a zero-copy result on scope exit. Must not outlive the client it came from.
class result_guard {
 public:
  result_guard(lam_client* client, lam_result* result) noexcept : client_(client), result_(result) {}
  ~result_guard() { lam_result_release(client_, result_); }
  result_guard(const result_guard&) = delete;
  result_guard& operator=(const result_guard&) = delete;

 private:
  lam_client* client_;
  lam_result* result_;
};

}  // namespace lam

#endif  // LAM_LAM_HPP_
