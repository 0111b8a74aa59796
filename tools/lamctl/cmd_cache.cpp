// SPDX-License-Identifier: MIT
// lamctl cache ls|warm|clear [--socket PATH] [--json]: lamd's executable cache.
//   ls     one row per bucket: resident, bytes, hits, misses, compiles, loads, compile/load ms
//   warm   compiles (or loads) every configured bucket that is not resident
//   clear  drops resident executables that no request is using (statistics stay)
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "control_client.h"
#include "shm/protocol.h"

namespace lam::ctl {
namespace {

void PrintTable(const nlohmann::json& doc) {
  std::printf("%-12s %8s %12s %10s %8s %8s %6s %12s %10s\n", "BUCKET", "RESIDENT", "BYTES", "HITS",
              "MISSES", "COMPILES", "LOADS", "COMPILE_MS", "LOAD_MS");
  for (const auto& b : doc.value("executables", nlohmann::json::array())) {
    std::printf("%-12s %8llu %12llu %10llu %8llu %8llu %6llu %12.3f %10.3f\n",
                b.value("bucket", "?").c_str(), b.value("resident", 0ull), b.value("bytes", 0ull),
                b.value("hits", 0ull), b.value("misses", 0ull), b.value("compiles", 0ull),
                b.value("loads", 0ull), b.value("compile_ms", 0.0), b.value("load_ms", 0.0));
  }
  if (doc.contains("disk")) {
    const auto& d = doc["disk"];
    std::printf("disk: %s (%llu entries, %llu bytes)\n", d.value("dir", "-").c_str(), d.value("entries", 0ull),
                d.value("bytes", 0ull));
  }
}

}  // namespace

int RunCache(const CacheOptions& options) {
  const std::string& verb = options.verb;
  ControlSession s;
  Status st = s.Connect(options.socket);
  std::string reply;
  // Warm-up compiles every missing bucket before answering: allow it time.
  if (st.ok()) st = s.Call(shm::kFrameCacheRequest, verb, shm::kFrameCacheReply, &reply, verb == "warm" ? 600000 : 5000);
  if (!st.ok()) {
    std::fprintf(stderr, "lamctl cache %s: %s: %s\n", verb.c_str(), status_code_name(st.code()), st.message().c_str());
    return 1;
  }
  nlohmann::json doc = nlohmann::json::parse(reply, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    std::fprintf(stderr, "lamctl cache %s: lamd sent a reply that is not a JSON object\n", verb.c_str());
    return 1;
  }
  if (options.json) {
    std::printf("%s\n", doc.dump(2).c_str());
  } else {
    if (verb == "clear") std::printf("dropped %llu executables\n", doc.value("dropped", 0ull));
    if (verb == "warm") std::printf("warmed %llu buckets in %.3f ms\n", doc.value("warmed", 0ull), doc.value("warm_ms", 0.0));
    PrintTable(doc);
  }
  if (doc.value("status", std::string("ok")) != "ok") {
    std::fprintf(stderr, "lamctl cache %s: %s: %s\n", verb.c_str(), doc.value("code", std::string("ERROR")).c_str(),
                 doc.value("message", std::string("failed")).c_str());
    return 1;
  }
  return 0;
}

}  // namespace lam::ctl
