// SPDX-License-Identifier: MIT
#include "common/status.h"

namespace lam {

const char* status_code_str(lam_status code) noexcept {
  switch (code) {
#define LAM_STATUS_STR_(name, num, text) \
  case num:                              \
    return text;
    LAM_STATUS_MAP(LAM_STATUS_STR_)
#undef LAM_STATUS_STR_
    default:
      return "unknown status";
  }
}

const char* status_code_name(lam_status code) noexcept {
  switch (code) {
#define LAM_STATUS_NAME_(name, num, text) \
  case num:                               \
    return #name;
    LAM_STATUS_MAP(LAM_STATUS_NAME_)
#undef LAM_STATUS_NAME_
    default:
      return "UNKNOWN";
  }
}

Status::Status(lam_status code, std::string message) {
  if (code != LAM_STATUS_OK) rep_ = std::make_unique<Rep>(Rep{code, std::move(message)});
}

const std::string& Status::message() const noexcept {
  static const std::string kEmpty;
  return rep_ ? rep_->message : kEmpty;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s = status_code_name(code());
  s += ": ";
  s += rep_->message.empty() ? status_code_str(code()) : rep_->message;
  return s;
}

}  // namespace lam
