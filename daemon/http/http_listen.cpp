// SPDX-License-Identifier: MIT
#include "http/http_listen.h"

#include <arpa/inet.h>
#include <sys/un.h>

#include <cstdlib>

namespace lam::http {
namespace {

Status Bad(const std::string& spec, const std::string& why) {
  return Status(LAM_STATUS_INVALID_ARG, "HTTP listen address '" + spec + "': " + why);
}

}  // namespace

std::string ListenAddress::ToString() const {
  if (is_unix) return "unix:" + path;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<ListenAddress> ParseListen(const std::string& spec) {
  ListenAddress a;
  if (spec.empty()) return Bad(spec, "empty");
  if (spec[0] == '/' || spec.rfind("unix:", 0) == 0) {
    a.is_unix = true;
    a.path = spec[0] == '/' ? spec : spec.substr(5);
    if (a.path.empty() || a.path[0] != '/') return Bad(spec, "a Unix socket path must be absolute");
    if (a.path.size() >= sizeof(sockaddr_un::sun_path)) {
      return Bad(spec, "a Unix socket path holds at most " + std::to_string(sizeof(sockaddr_un::sun_path) - 1) +
                           " bytes");
    }
    return a;
  }
  std::string host, port;
  if (spec[0] == '[') {
    const auto close = spec.find(']');
    if (close == std::string::npos || close + 1 >= spec.size() || spec[close + 1] != ':') {
      return Bad(spec, "expected [IPv6]:PORT");
    }
    host = spec.substr(1, close - 1);
    port = spec.substr(close + 2);
    a.ipv6 = true;
  } else {
    const auto colon = spec.rfind(':');
    if (colon == std::string::npos) return Bad(spec, "expected HOST:PORT or an absolute Unix socket path");
    host = spec.substr(0, colon);
    port = spec.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::atoi(port.c_str()) > 65535) {
    return Bad(spec, "the port must be a number from 0 to 65535");
  }
  a.port = static_cast<uint16_t>(std::atoi(port.c_str()));
  if (host == "localhost") host = "127.0.0.1";
  if (a.ipv6) {
    in6_addr v6{};
    if (inet_pton(AF_INET6, host.c_str(), &v6) != 1) return Bad(spec, "'" + host + "' is not an IPv6 address");
    if (!IN6_IS_ADDR_LOOPBACK(&v6)) return Bad(spec, "only the loopback address ::1 is allowed");
  } else {
    in_addr v4{};
    if (inet_pton(AF_INET, host.c_str(), &v4) != 1) return Bad(spec, "'" + host + "' is not an IPv4 address");
    if ((ntohl(v4.s_addr) >> 24) != 127) return Bad(spec, "only loopback addresses (127.0.0.0/8) are allowed");
  }
  a.host = host;
  return a;
}

}  // namespace lam::http
