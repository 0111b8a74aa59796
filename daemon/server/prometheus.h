// SPDX-License-Identifier: MIT
// The Prometheus text exposition (format 0.0.4) of lamd's status document: the same counters
// as `lamctl status`, for node_exporter's textfile collector, or scraped from GET /metrics.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace lam::server {

// Every number of the document becomes a sample named lamd_<key> (cumulative ones as
// counters ending in _total, the rest as gauges); per-status, per-bucket, per-client,
// per-transport and batch-size rows become labelled samples; a section's "histograms" rows
// become histogram families (_bucket{le=...}, _sum, _count); strings go into one
// lamd_info{...} 1 sample. lamctl status --prometheus and lamd's GET /metrics both print this.
std::string PrometheusText(const nlohmann::json& status);

}  // namespace lam::server
