// SPDX-License-Identifier: MIT
// lamctl ping [--socket PATH] [-c N] [--live]: control-socket round trips to lamd, with their
// times, then whether it is ready. Exit status: 0 ready (or, with --live, answering at all),
// 3 answering but not ready (warming up or draining), 1 no answer.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "control_client.h"
#include "shm/frame_io.h"
#include "shm/protocol.h"

namespace lam::ctl {

int CmdPing(int argc, char** argv) {
  std::string socket_flag;
  long count = 1;
  bool live = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf("usage: lamctl ping [--socket PATH] [-c COUNT] [--live]\n"
                  "  sends COUNT pings over the control socket, prints each round trip and lamd's state\n"
                  "  exit status: 0 ready to serve, 3 answering but not ready (warming up or draining),\n"
                  "  1 no answer; --live: 0 whenever lamd answers (a liveness probe)\n");
      return 0;
    }
    if (a == "--live") {
      live = true;
      continue;
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
  return live ? 0 : 3;
}

}  // namespace lam::ctl
