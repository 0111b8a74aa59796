// SPDX-License-Identifier: MIT
// The Prometheus text exposition (format 0.0.4) of lamd's status document: the same counters
// as `lamctl status`, for node_exporter's textfile collector or any scraper wrapper.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace lam::ctl {

// Every number of the document becomes a sample named lamd_<key> (cumulative ones as
// counters ending in _total, the rest as gauges); per-status, per-bucket, per-client and
// batch-size rows become labelled samples; strings go into one lamd_info{...} 1 sample.
std::string PrometheusText(const nlohmann::json& status);

}  // namespace lam::ctl
