// SPDX-License-Identifier: MIT
// lamctl ping [--socket PATH] [-c N]: control-socket round trips to lamd, with their times.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "commands.h"
#include "control_client.h"
#include "shm/frame_io.h"
#include "shm/protocol.h"

namespace lam::ctl {

int CmdPing(int argc, char** argv) {
  std::string socket_flag;
  long count = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf("usage: lamctl ping [--socket PATH] [-c COUNT]\n"
                  "  sends COUNT pings over the control socket and prints each round trip\n");
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "lamctl ping: option '%s' needs a value\n", a.c_str());
      return 2;
    }
    if (a == "--socket") {
      socket_flag = argv[++i];
    } else if (a == "-c" || a == "--count") {
      count = std::strtol(argv[++i], nullptr, 10);
      if (count < 1) count = 1;
    } else {
      std::fprintf(stderr, "lamctl ping: unknown option '%s'\n", a.c_str());
      return 2;
    }
  }
  const std::string socket = ResolveSocket(socket_flag);
  ControlSession s;
  Status st = s.Connect(socket);
  if (!st.ok()) {
    std::fprintf(stderr, "lamctl ping: %s: %s\n", status_code_name(st.code()), st.message().c_str());
    return 1;
  }
  for (long i = 0; i < count; ++i) {
    std::string reply;
    const int64_t t0 = shm::MonotonicNs();
    st = s.Call(shm::kFramePing, "lamctl", shm::kFramePong, &reply);
    const int64_t us = (shm::MonotonicNs() - t0) / 1000;
    if (!st.ok() || reply != "lamctl") {
      std::fprintf(stderr, "lamctl ping: %s: %s\n", status_code_name(st.code()),
                   st.ok() ? "pong payload differs" : st.message().c_str());
      return 1;
    }
    std::printf("PONG from %s: seq=%ld time=%lld us\n", socket.c_str(), i, static_cast<long long>(us));
  }
  return 0;
}

}  // namespace lam::ctl
