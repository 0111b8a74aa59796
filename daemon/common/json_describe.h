// SPDX-License-Identifier: MIT
// DescribeJson: an untrusted JSON value rendered for an error message. nlohmann's dump()
// recurses once per nesting level, so dumping a value nested a few hundred thousand levels deep
// (a config.json or safetensors header from a hostile file) overflows the stack; parsing and
// destroying such a value do not recurse. Scalars are shown as JSON (strings cut to 64 bytes),
// arrays and objects by kind and size only.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace lam {

inline std::string DescribeJson(const nlohmann::json& v) {
  if (v.is_array()) return "an array of " + std::to_string(v.size()) + " elements";
  if (v.is_object()) return "an object of " + std::to_string(v.size()) + " members";
  constexpr size_t kMaxString = 64;
  if (v.is_string() && v.get_ref<const std::string&>().size() > kMaxString) {
    // A cut may split a UTF-8 sequence: replace rather than throw on the invalid tail.
    const nlohmann::json cut = v.get_ref<const std::string&>().substr(0, kMaxString);
    return cut.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "...";
  }
  return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace lam
