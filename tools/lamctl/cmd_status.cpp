// SPDX-License-Identifier: MIT
// lamctl status [--socket PATH] [--json | --prometheus] [SECTION]: lamd's state in Redis INFO
// style ("# Server", "key:value" lines), the daemon's JSON document (with schema_version), or
// the Prometheus text exposition of the same counters.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "control_client.h"
#include "server/prometheus.h"
#include "shm/protocol.h"

namespace lam::ctl {
namespace {

std::string Human(double bytes) {
  const char* units[] = {"B", "K", "M", "G", "T"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f%s", bytes, units[u]);
  return buf;
}

std::string Scalar(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::string s;
    // Appended piece by piece: `"," + Scalar(e)` trips GCC 12's -Wrestrict false positive.
    for (const auto& e : v) {
      if (!s.empty()) s += ',';
      s += Scalar(e);
    }
    return s;
  }
  if (v.is_number_float()) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.6f", v.get<double>());
    return buf;
  }
  return v.dump();
}

// A latency histogram as one INFO line: count, sum and the bucket bounds that hold the 50th and
// 99th percentiles ("p99_le=0.025": at least 99% took at most 25 ms).
void PrintHistogram(const nlohmann::json& h) {
  std::string name = h.value("name", std::string("histogram"));
  if (h.contains("labels") && h["labels"].is_object()) {
    for (auto l = h["labels"].begin(); l != h["labels"].end(); ++l) {
      name += '_';
      name += Scalar(l.value());
    }
  }
  const auto& le = h.value("le", nlohmann::json::array());
  const auto& buckets = h.value("buckets", nlohmann::json::array());
  const double count = h.value("count", 0.0);
  auto quantile = [&](double q) -> std::string {
    if (count <= 0) return "-";
    for (size_t i = 0; i < buckets.size(); ++i) {
      if (buckets[i].is_number() && buckets[i].get<double>() >= q * count) {
        return i < le.size() ? Scalar(le[i]) : "+Inf";
      }
    }
    return "+Inf";
  };
  std::printf("%s:count=%.0f,sum=%.6f,p50_le=%s,p99_le=%s\n", name.c_str(), count, h.value("sum", 0.0),
              quantile(0.5).c_str(), quantile(0.99).c_str());
}

// One INFO section: scalars as key:value, byte counts with a _human twin, nested objects as
// key:k1=v1,k2=v2 (Redis' style for compound fields).
void PrintSection(const std::string& title, const nlohmann::json& obj) {
  std::printf("# %s\n", title.c_str());
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string& k = it.key();
    const auto& v = it.value();
    if (k == "list") continue;  // per-client rows follow below
    if (k == "histograms" && v.is_array()) {
      for (const auto& h : v) {
        if (h.is_object()) PrintHistogram(h);
      }
      continue;
    }
    if (v.is_object()) {
      std::string s;
      for (auto e = v.begin(); e != v.end(); ++e) s += (s.empty() ? "" : ",") + e.key() + "=" + Scalar(e.value());
      std::printf("%s:%s\n", k.c_str(), s.c_str());
      continue;
    }
    if (v.is_array() && !v.empty() && v[0].is_object()) {
      for (size_t i = 0; i < v.size(); ++i) {
        std::string s;
        for (auto e = v[i].begin(); e != v[i].end(); ++e) s += (s.empty() ? "" : ",") + e.key() + "=" + Scalar(e.value());
        std::printf("%s%zu:%s\n", k.c_str(), i, s.c_str());
      }
      continue;
    }
    std::printf("%s:%s\n", k.c_str(), Scalar(v).c_str());
    if (v.is_number() && k.size() > 6 && k.compare(k.size() - 6, 6, "_bytes") == 0) {
      std::printf("%s_human:%s\n", k.substr(0, k.size() - 6).c_str(), Human(v.get<double>()).c_str());
    }
  }
  if (obj.contains("list")) {
    size_t i = 0;
    for (const auto& c : obj["list"]) {
      std::string s;
      for (auto e = c.begin(); e != c.end(); ++e) s += (s.empty() ? "" : ",") + e.key() + "=" + Scalar(e.value());
      std::printf("client%zu:%s\n", i++, s.c_str());
    }
  }
  std::printf("\n");
}

}  // namespace

int RunStatus(const StatusOptions& options) {
  const std::string& only = options.section;
  ControlSession s;
  Status st = s.Connect(options.socket);
  std::string reply;
  if (st.ok()) st = s.Call(shm::kFrameStatusRequest, "", shm::kFrameStatusReply, &reply);
  if (!st.ok()) {
    std::fprintf(stderr, "lamctl status: %s: %s\n", status_code_name(st.code()), st.message().c_str());
    return 1;
  }
  const nlohmann::json doc = nlohmann::json::parse(reply, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    std::fprintf(stderr, "lamctl status: the daemon's reply is not JSON\n");
    return 1;
  }
  if (options.prometheus) {
    std::fputs(server::PrometheusText(doc).c_str(), stdout);
    return 0;
  }
  if (options.json) {
    std::printf("%s\n", (only.empty() ? doc : nlohmann::json{{"schema_version", doc["schema_version"]},
                                                             {only, doc.value(only, nlohmann::json())}})
                            .dump(2)
                            .c_str());
    return 0;
  }
  static const std::pair<const char*, const char*> kSections[] = {
      {"server", "Server"},   {"model", "Model"},       {"clients", "Clients"},         {"queue", "Queue"},
      {"batches", "Batches"}, {"requests", "Requests"}, {"executables", "Executables"},
      {"transports", "Transports"}, {"http", "HTTP"}};
  bool printed = false;
  for (const auto& [key, title] : kSections) {
    if (!only.empty() && only != key) continue;
    if (doc.contains(key)) {
      PrintSection(title, doc[key]);
      printed = true;
    }
  }
  if (!printed) {
    std::fprintf(stderr, "lamctl status: no section '%s'\n", only.c_str());
    return 1;
  }
  return 0;
}

}  // namespace lam::ctl
