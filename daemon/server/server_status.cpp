// SPDX-License-Identifier: MIT
// Server::StatusJson: the document behind `lamctl status` (schema in stats.h's version).
#include <unistd.h>

#include <chrono>

#include <nlohmann/json.hpp>

#include "cache/disk_cache.h"
#include "cache/executable_cache.h"
#include "lam/lam_version.h"
#include "server/conn.h"
#include "server/guard.h"
#include "server/server.h"
#include "shm/frame_io.h"

namespace lam::server {
namespace {

nlohmann::ordered_json BucketRows(const engine::Engine& e) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const auto& s : e.ExecutableStats()) {
    rows.push_back({{"bucket", s.bucket},
                    {"precision", s.key.precision},
                    {"resident", s.resident},
                    {"bytes", s.bytes},
                    {"in_use", s.in_use},
                    {"hits", s.hits},
                    {"misses", s.misses},
                    {"compiles", s.compiles},
                    {"loads", s.loads},
                    {"compile_ms", s.compile_ms},
                    {"load_ms", s.load_ms},
                    {"last_use_unix_ms", s.last_use_unix_ms}});
  }
  return rows;
}

nlohmann::ordered_json DiskJson(const std::string& dir) {
  nlohmann::ordered_json d = {{"dir", dir}};
  cache::DiskCache* disk = cache::ExecutableCache::Global().disk();
  if (disk != nullptr) {
    const cache::DiskCacheStats ds = disk->stats();
    d["entries"] = ds.entries;
    d["bytes"] = ds.bytes;
    d["hits"] = ds.hits;
    d["misses"] = ds.misses;
  }
  return d;
}

// A histogram row of the "histograms" arrays (prometheus.h renders them).
nlohmann::ordered_json HistogramJson(const char* name, const char* help, const nlohmann::ordered_json& labels,
                                     const LatencyHistogram& h) {
  nlohmann::ordered_json le = nlohmann::ordered_json::array();
  nlohmann::ordered_json buckets = nlohmann::ordered_json::array();
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.counts.size(); ++i) {
    if (i < kLatencyBoundsSeconds.size()) le.push_back(kLatencyBoundsSeconds[i]);
    cumulative += h.counts[i];
    buckets.push_back(cumulative);
  }
  return {{"name", name},     {"help", help},   {"labels", labels},
          {"le", le},         {"buckets", buckets}, {"sum", static_cast<double>(h.sum_ns) / 1e9},
          {"count", h.count}};
}

}  // namespace

std::string Server::CacheErrorJson(lam_status code, const std::string& message) {
  nlohmann::ordered_json j;
  j["status"] = "error";
  j["code"] = status_code_name(code);
  j["message"] = message;
  return SafeDump(j);
}

std::string Server::CacheJson(const std::string& verb) {
  nlohmann::ordered_json j;
  j["status"] = "ok";
  if (verb == "clear") {
    j["dropped"] = engine_->ClearExecutables();
  } else if (verb == "warm") {
    const auto t0 = std::chrono::steady_clock::now();
    uint64_t n = 0;
    const Status st = engine_->Warm([&](const cache::WarmProgress& p) {
      if (p.source != cache::WarmProgress::Source::kResident) ++n;
    });
    j["warmed"] = n;
    j["warm_ms"] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!st.ok()) {
      j["status"] = "error";
      j["message"] = st.ToString();
    }
  } else if (verb != "ls") {
    // The verb is the client's bytes: escaped, never copied into the JSON as they came.
    j["status"] = "error";
    j["code"] = status_code_name(LAM_STATUS_INVALID_ARG);
    j["message"] = "unknown cache command '" + EscapeClientBytes(verb, 32) + "' (expected ls, warm or clear)";
  }
  j["executables"] = BucketRows(*engine_);
  j["disk"] = DiskJson(ActiveCacheDir());
  return SafeDump(j);
}

std::string Server::StatusJson(uint32_t viewer_uid) {
  using json = nlohmann::ordered_json;
  const engine::ModelInfo& mi = engine_->info();
  const scheduler::Stats ss = scheduler_->GetStats();
  json j;
  j["schema_version"] = kStatusSchemaVersion;
  j["server"] = {
      {"lam_version", LAM_VERSION_STRING},
      {"build_commit", LAM_BUILD_COMMIT},
      {"pid", static_cast<int64_t>(::getpid())},
      {"uptime_in_seconds", (shm::MonotonicNs() - start_ns_) / 1000000000},
      {"socket", config_.socket},
      {"backend", engine_->backend_name()},
      {"state", draining_ ? "draining" : serving_ ? "serving" : "warming"},
      {"daemon_epoch", epoch_},
      {"polling_us", config_.polling_us},
      {"idle_spin_us", config_.idle_spin_us},
      {"polling_active", data_plane_->polling_active()},
      {"dataplane_wakeups", data_plane_->wakeups()},
      {"control_protocol", std::to_string(shm::kControlProtoMajor) + "." + std::to_string(shm::kControlProtoMinor)},
      {"shm_protocol", std::to_string(shm::kShmProtoMajor) + "." + std::to_string(shm::kShmProtoMinor)},
  };
  j["model"] = {
      {"name", mi.name},
      {"fingerprint", mi.fingerprint},
      {"family", engine::family_name(mi.config.family)},
      {"variant", engine::variant_name(mi.config.variant)},
      {"embedding_dim", mi.embedding_dim},
      {"max_tokens", mi.config.max_tokens},
      {"text_max_tokens", text_max_tokens_},
      {"vocab_size", mi.config.vocab_size},
      {"layers", mi.config.layers},
      {"precision", mi.precision},
  };
  uint64_t data_clients = 0, arena_total = 0, inflight = 0;
  json clients = json::array();
  // Who runs what (pids, uids) is shown to admins only; others see their own uid's clients.
  const bool see_all = policy_.IsAdmin(viewer_uid);
  for (const auto& [id, c] : conns_) {
    if (!c->session) continue;
    ++data_clients;
    arena_total += c->session->arena_size();
    inflight += c->session->inflight();
    if (!see_all && c->cred.uid != viewer_uid) continue;
    clients.push_back({{"id", id},
                       {"pid", static_cast<int64_t>(c->cred.pid)},
                       {"uid", static_cast<int64_t>(c->cred.uid)},
                       {"requests", c->session->requests.load()},
                       {"errors", c->session->errors.load()},
                       {"inflight", c->session->inflight()},
                       {"arena_bytes", c->session->arena_size()}});
  }
  j["clients"] = {
      {"connected_clients", conns_.size()},
      {"data_plane_clients", data_clients},
      {"max_clients", config_.max_clients},
      {"connections_total", counters_.connections_total.load()},
      {"rejected_connections_total", counters_.connections_rejected.load()},
      {"protocol_errors_total", counters_.protocol_errors.load()},
      {"disconnected_for_violations_total", counters_.clients_disconnected_for_violations.load()},
      {"cancelled_on_disconnect_total", counters_.cancelled_on_disconnect.load()},
      {"segment_arena_bytes", arena_total},
      {"pending_connections", limits_.pending()},
      {"pending_connections_high_water", limits_.pending_high_water()},
      {"max_pending_connections", config_.max_pending_connections},
      {"max_pending_per_uid", config_.max_pending_per_uid},
      {"max_sessions_per_uid", limits_.options().max_sessions_per_uid},
      {"hello_timeout_ms", config_.hello_timeout_ms},
      {"refused_pending_total", counters_.refused_pending.load()},
      {"refused_quota_total", counters_.refused_quota.load()},
      {"hello_timeouts_total", counters_.hello_timeouts.load()},
      {"admin_refused_total", counters_.admin_refused.load()},
      {"callback_errors_total", counters_.callback_errors.load()},
      {"max_arena_bytes", config_.max_arena_bytes},
      {"arena_budget_per_uid", arena_budget_->per_uid_limit()},
      {"arena_budget_total", arena_budget_->total_limit()},
      {"arena_budget_used", arena_budget_->total_used()},
      {"list_scope", see_all ? "all" : viewer_uid == kNoViewer ? "none" : "own_uid"},
      {"list", clients},
  };
  j["queue"] = {
      {"queue_depth_sequences", ss.queued_sequences},
      {"queue_depth_requests", ss.queued_requests},
      {"queue_high_water_sequences", ss.queued_high_water},
      {"cancelled_requests_total", ss.cancelled_requests},
      {"text_jobs_pending", text_worker_.pending()},
      {"text_jobs_cancelled_total", text_worker_.cancelled_jobs()},
      {"inflight_requests", inflight},
      {"max_queued_sequences", config_.max_queued_sequences},
      {"wait_p50_us", ss.wait_p50_us},
      {"wait_p99_us", ss.wait_p99_us},
      {"wait_max_us", ss.wait_max_us},
      {"max_delay_us", config_.max_delay_us},
      {"dispatch_lone_requests", config_.dispatch_lone_requests},
      {"token_budget", config_.token_budget},
      {"max_batch_sequences", config_.max_batch_sequences},
      {"buckets", ss.buckets},
  };
  static const char* kBins[scheduler::kBatchHistogramBins] = {"1", "2-3", "4-7", "8-15", "16-31",
                                                              "32-63", "64-127", "128-255", "256+"};
  json hist = json::object();
  for (size_t i = 0; i < scheduler::kBatchHistogramBins; ++i) hist[kBins[i]] = ss.batch_histogram[i];
  j["batches"] = {
      {"batches_total", ss.batches_total},
      {"sequences_total", ss.sequences_total},
      {"tokens_total", ss.tokens_total},
      {"avg_batch_sequences",
       ss.batches_total ? static_cast<double>(ss.sequences_total) / static_cast<double>(ss.batches_total) : 0.0},
      {"compute_seconds_total", static_cast<double>(ss.compute_ns_total) / 1e9},
      {"engine_failures_total", ss.engine_failures},
      {"completion_failures_total", ss.sink_failures},
      {"batch_size_histogram", hist},
  };
  uint64_t total = 0, failed = 0;
  json by = json::object();
  for (int code = 0; code < LAM_STATUS_LAST_; ++code) {
    const uint64_t n = counters_.by_status[code].load();
    if (n == 0) continue;
    total += n;
    if (code != LAM_STATUS_OK) failed += n;
    by[status_code_name(code)] = n;
  }
  j["requests"] = {
      {"requests_total", total},
      {"requests_ok", counters_.by_status[LAM_STATUS_OK].load()},
      {"requests_failed", failed},
      {"deadline_dropped_total", ss.deadline_dropped_requests},
      {"overloaded_total", ss.overloaded_requests},
      {"ring_nops_total", counters_.nop_total.load()},
      {"results_streamed_total", counters_.results_streamed.load()},
      {"by_status", by},
  };
  {
    static const char* kTransportNames[kTransportCount] = {"shm", "http"};
    json rows = json::array(), status_rows = json::array(), hists = json::array();
    std::lock_guard<std::mutex> lock(metrics_mu_);
    for (uint32_t t = 0; t < kTransportCount; ++t) {
      const TransportMetrics& m = transport_metrics_[t];
      uint64_t n = 0, bad = 0;
      for (int code = 0; code < LAM_STATUS_LAST_; ++code) {
        n += m.by_status[code];
        if (code != LAM_STATUS_OK) bad += m.by_status[code];
        if (m.by_status[code] != 0) {
          status_rows.push_back({{"transport", kTransportNames[t]}, {"status", status_code_name(code)},
                                 {"requests_by_status_total", m.by_status[code]}});
        }
      }
      rows.push_back({{"transport", kTransportNames[t]},
                      {"requests", n},
                      {"errors", bad},
                      {"sequences_total", m.sequences},
                      {"tokens_total", m.tokens}});
      const json label = {{"transport", kTransportNames[t]}};
      hists.push_back(HistogramJson("request_duration_seconds",
                                    "embedding requests from arrival to completion, seconds", label, m.request_seconds));
      hists.push_back(HistogramJson("queue_wait_seconds", "longest wait of a request's sequences for a batch, seconds",
                                    label, m.queue_seconds));
    }
    hists.push_back(HistogramJson("batch_duration_seconds", "compute time of one batch, seconds", json::object(),
                                  ss.batch_seconds));
    j["transports"] = {{"by_transport", rows}, {"by_transport_status", status_rows}, {"histograms", hists}};
  }
  if (http_) {
    const http::ServerStats& hs = http_->stats();
    json codes = json::object();
    for (const auto& [code, n] : hs.responses_by_code) codes[std::to_string(code)] = n;
    j["http"] = {
        {"http_listeners", http_->bound()},
        {"http_authentication", http_token_.empty() ? "none" : "bearer"},
        {"http_open_connections", hs.open_connections},
        {"http_max_connections", config_.http_max_connections},
        {"http_inflight_requests", http_calls_.size()},
        {"http_max_inflight", config_.http_max_inflight},
        {"http_connections_total", hs.connections_total},
        {"http_refused_connections_total", hs.refused_connections_total},
        {"http_request_timeouts_total", hs.request_timeouts_total},
        {"http_idle_closed_total", hs.idle_closed_total},
        {"http_write_timeouts_total", hs.write_timeouts_total},
        {"http_parse_errors_total", hs.parse_errors_total},
        {"http_responses_by_code", codes},
    };
  }
  WarmupInfo warm;
  size_t warm_done = 0, warm_total = 0;
  {
    std::lock_guard<std::mutex> lock(warmup_mu_);
    warm = warmup_;
    warm_done = warmup_done_;
    warm_total = warmup_total_;
  }
  std::vector<std::string> engine_buckets;
  for (const auto& b : engine_->buckets()) engine_buckets.push_back(b.ToString());
  const engine::EngineStats es = engine_->stats();
  j["executables"] = {
      {"backend", engine_->backend_name()},
      {"precision", engine_->info().precision},
      {"engine_buckets", engine_buckets},
      {"warmup_buckets_done", warm_done},
      {"warmup_buckets_total", warm_total},
      {"resident_executables", es.executables},
      {"resident_bytes", es.executable_bytes},
      {"compiles_total", es.compiles},
      {"hits_total", es.hits},
      {"runs_total", es.runs},
      {"compile_seconds_total", es.compile_seconds},
      {"misses_total", es.misses},
      {"loads_total", es.loads},
      {"load_seconds_total", es.load_seconds},
      {"warmup_seconds", warm.total_seconds},
      {"warmup_steps", warm.steps},
      {"cache_dir", ActiveCacheDir()},
      {"by_bucket", BucketRows(*engine_)},
  };
  return SafeDump(j);
}

}  // namespace lam::server
