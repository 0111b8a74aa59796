// SPDX-License-Identifier: MIT
// lam::Status and lam::Result<T>: errors as values inside the daemon (STYLE.md 9).
// A Status is one pointer wide; OK is null. Codes are the public lam_status codes.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <variant>

#include "lam/lam_status.h"

namespace lam {

// Static description of a status code ("ok", "token id out of the vocabulary range", ...).
const char* status_code_str(lam_status code) noexcept;
// Upper-case symbolic name without prefix ("OK", "TOKEN_OUT_OF_RANGE", ...).
const char* status_code_name(lam_status code) noexcept;

class [[nodiscard]] Status {
 public:
  Status() noexcept = default;
  Status(lam_status code, std::string message);
  Status(const Status& other) : rep_(other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr) {}
  Status& operator=(const Status& other) {
    if (this != &other) rep_ = other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status Ok() noexcept { return Status(); }

  bool ok() const noexcept { return rep_ == nullptr; }
  lam_status code() const noexcept { return rep_ ? rep_->code : LAM_STATUS_OK; }
  // The detail message (empty for OK).
  const std::string& message() const noexcept;
  // "TOKEN_OUT_OF_RANGE: token id 40000 at position 3 of sequence 0 is >= vocab size 30522".
  std::string ToString() const;

 private:
  struct Rep {
    lam_status code;
    std::string message;
  };
  std::unique_ptr<Rep> rep_;
};

// A value or an error. Access the value only after checking ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {}     // NOLINT(google-explicit-constructor)

  bool ok() const noexcept { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace lam

#define LAM_STATUS_CONCAT_INNER_(a, b) a##b
#define LAM_STATUS_CONCAT_(a, b) LAM_STATUS_CONCAT_INNER_(a, b)

// Returns the Status of `expr` from the enclosing function if it is not OK.
#define LAM_RETURN_IF_ERROR(expr)                      \
  do {                                                 \
    ::lam::Status lam_status_tmp_ = (expr);            \
    if (!lam_status_tmp_.ok()) return lam_status_tmp_; \
  } while (0)

// `LAM_ASSIGN_OR_RETURN(auto x, MakeX());` unwraps a Result<T> or returns its Status.
#define LAM_ASSIGN_OR_RETURN(lhs, rexpr) \
  LAM_ASSIGN_OR_RETURN_IMPL_(LAM_STATUS_CONCAT_(lam_result_tmp_, __LINE__), lhs, rexpr)
#define LAM_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                               \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
