// SPDX-License-Identifier: MIT
// What lamd and lamctl share around CLI11 (Debian libcli11-dev), the one command-line parser of
// both: argv as CLI11 should see it, and parse errors as one line that names the option.
// Header-only: lamctl's daemon-facing part links no lam_daemon_core.
#pragma once

#include <CLI/CLI.hpp>

#include <algorithm>
#include <exception>
#include <string>
#include <vector>

namespace lam::cli {

// argv[1..] with every `--name=` (an empty value after '=') split into `--name` and "": CLI11
// reads an empty `=value` as no value and would take the next argument instead.
inline std::vector<std::string> Arguments(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() > 3 && a.rfind("--", 0) == 0 && a.back() == '=' && a.find('=') == a.size() - 1) {
      a.pop_back();
      args.push_back(a);
      args.emplace_back();
    } else {
      args.push_back(std::move(a));
    }
  }
  return args;
}

// Parses `args` (as from Arguments) with `app`; CLI11 wants them in reverse order.
inline void Parse(CLI::App& app, std::vector<std::string> args) {
  std::reverse(args.begin(), args.end());
  app.parse(args);
}

// One line for a CLI11 parse error, starting with the option it concerns where CLI11 names one
// ("--batch: 'x' is not a number", "--socket: needs a value").
inline std::string Describe(const CLI::ParseError& e) {
  std::string what = e.what();
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr && what.find(" required") != std::string::npos &&
      what.find("missing") != std::string::npos) {
    const auto colon = what.find(':');
    if (colon != std::string::npos) return what.substr(0, colon) + ": needs a value";
  }
  return what;
}

// The first argument CLI11 left over (allow_extras), as an error: an unknown option or an
// unexpected positional argument. Empty when nothing was left.
inline std::string Leftover(const std::vector<std::string>& remaining) {
  if (remaining.empty()) return "";
  const std::string& a = remaining.front();
  if (a.size() > 1 && a[0] == '-') {
    const std::string name = a.substr(0, a.find('='));
    return name + ": unknown option";
  }
  return "unexpected argument '" + a + "'";
}

// A validator for an integer option in [min, max]: "'abc' is not a number", "'0' is below 1".
inline CLI::Validator IntegerIn(long long min, long long max) {
  return CLI::Validator(
      [min, max](std::string& v) -> std::string {
        if (v.empty()) return "'' is not a number";
        size_t used = 0;
        long long x = 0;
        try {
          x = std::stoll(v, &used, 10);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != v.size() || used == 0) return "'" + v + "' is not a number";
        if (x < min) return "'" + v + "' is below " + std::to_string(min);
        if (x > max) return "'" + v + "' is above " + std::to_string(max);
        return "";
      },
      "INT in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
}

}  // namespace lam::cli
