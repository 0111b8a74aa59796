// SPDX-License-Identifier: MIT
// One control-socket connection as the loop thread sees it (private to server/*.cpp).
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <memory>
#include <string>

#include "server/server.h"

namespace lam::server {

struct Server::Conn {
  Server* server = nullptr;
  uint64_t id = 0;
  uv_pipe_t pipe{};
  int open_handles = 0;  // uv handles still to close; the Conn is freed at 0
  bool closing = false;
  bool hello_done = false;
  struct ucred cred {};
  std::string rbuf;
  std::shared_ptr<ClientSession> session;
};

}  // namespace lam::server
