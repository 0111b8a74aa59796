// SPDX-License-Identifier: MIT
// lamctl ping [--socket PATH] [-c N] [--live]: control-socket round trips to lamd, with their
// times, then whether it is ready. Exit status: 0 ready (or, with --live, answering at all),
// 3 answering but not ready (warming up or draining), 1 no answer.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

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
  // Live is answering; ready is warm and not draining (server.state "serving").
  std::string reply;
  st = s.Call(shm::kFrameStatusRequest, "", shm::kFrameStatusReply, &reply);
  const auto doc = st.ok() ? nlohmann::json::parse(reply, nullptr, false) : nlohmann::json();
  if (!st.ok() || doc.is_discarded() || !doc.contains("server") || !doc["server"].is_object()) {
    std::fprintf(stderr, "lamctl ping: %s\n", st.ok() ? "the status reply is not lamd's JSON" : st.message().c_str());
    return 1;
  }
  const std::string state = doc["server"].value("state", "");
  if (state == "serving") {
    std::printf("lamd is ready (serving)\n");
    return 0;
  }
  std::string detail;
  if (state == "warming" && doc.contains("executables") && doc["executables"].is_object()) {
    const auto& e = doc["executables"];
    detail = ": warm-up bucket " + std::to_string(e.value("warmup_buckets_done", 0)) + " of " +
             std::to_string(e.value("warmup_buckets_total", 0)) + " done";
  }
  std::printf("lamd is live, not ready (%s%s)\n", state.c_str(), detail.c_str());
  return options.live ? 0 : 3;
}

}  // namespace lam::ctl
