// SPDX-License-Identifier: MIT
// Where lamd's HTTP face listens: a loopback TCP address or a Unix socket path. Only loopback
// addresses are accepted (SECURITY.md, "HTTP listener"): the embeddings are for this host.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace lam::http {

struct ListenAddress {
  bool is_unix = false;
  std::string path;   // Unix socket path
  std::string host;   // numeric loopback address (127.x.y.z or ::1)
  bool ipv6 = false;
  uint16_t port = 0;  // 0 = any free port (lamctl status shows the one bound)
  // "127.0.0.1:8080", "[::1]:8080" or "unix:/run/lamd/http.sock".
  std::string ToString() const;
};

// "127.0.0.1:8080", "[::1]:8080", "localhost:8080" (= 127.0.0.1), "/path/to.sock" or
// "unix:/path/to.sock". INVALID_ARG naming what is wrong: no port, a port past 65535, a host that
// is not a loopback address, a relative or too long socket path.
Result<ListenAddress> ParseListen(const std::string& spec);

}  // namespace lam::http
