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
  uv_timer_t hello_timer{};  // the hello deadline; closed with the pipe
  int open_handles = 0;      // uv handles still to close; the Conn is freed at 0
  bool closing = false;
  bool hello_done = false;
  bool counted_pending = false;  // in Server::limits_ as pending / as a session
  bool counted_session = false;
  bool busy = false;             // a cache job runs for it: reading is paused until it answers
  struct ucred cred {};
  std::string rbuf;
  std::shared_ptr<ClientSession> session;
};

}  // namespace lam::server
