// SPDX-License-Identifier: MIT
// lamctl's control-socket helpers: socket path resolution and a blocking control session
// (hello without a segment, then status / ping frames).
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace lam::ctl {

// --socket PATH if given, else $LAMD_SOCKET, else /run/lamd/lamd.sock.
std::string ResolveSocket(const std::string& flag);

class ControlSession {
 public:
  ~ControlSession();
  Status Connect(const std::string& socket, int timeout_ms = 5000);
  // Sends a request frame and waits for the reply frame of `reply_type`.
  Status Call(uint16_t type, const std::string& payload, uint16_t reply_type, std::string* reply,
              int timeout_ms = 5000);

 private:
  int fd_ = -1;
};

}  // namespace lam::ctl
