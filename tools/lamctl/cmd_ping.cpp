// SPDX-License-Identifier: MIT
// lamctl ping [--socket PATH] [-c N]: control-socket round trips to lamd, with their times.
#include <cstdio>
#include <string>

#include "commands.h"
#include "control_client.h"
#include "shm/frame_io.h"
#include "shm/protocol.h"

namespace lam::ctl {

int RunPing(const PingOptions& options) {
  const std::string& socket = options.socket;
  ControlSession s;
  Status st = s.Connect(socket);
  if (!st.ok()) {
    std::fprintf(stderr, "lamctl ping: %s: %s\n", status_code_name(st.code()), st.message().c_str());
    return 1;
  }
  for (long i = 0; i < options.count; ++i) {
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
