// SPDX-License-Identifier: MIT
#include "server/prometheus.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <vector>

namespace lam::server {
namespace {

using Json = nlohmann::json;

struct Family {
  std::string type;  // counter | gauge | histogram
  std::string help;
  std::vector<std::string> samples;  // "name{labels} value"
};

// Families in first-seen order: every sample of a family must be contiguous in the output.
class Exposition {
 public:
  void Add(const std::string& name, bool counter, const std::string& help, const std::string& labels, double v) {
    AddSample(name, counter ? "counter" : "gauge", help, name, labels, v);
  }
  // A sample `sample` (name, name_bucket, name_sum or name_count) of family `name` of `type`.
  void AddSample(const std::string& name, const char* type, const std::string& help, const std::string& sample,
                 const std::string& labels, double v) {
    auto [it, fresh] = index_.emplace(name, families_.size());
    if (fresh) families_.push_back({name, Family{type, help, {}}});
    char num[64];
    if (std::isfinite(v)) {
      std::snprintf(num, sizeof(num), "%.17g", v);
    } else {
      std::snprintf(num, sizeof(num), "%s", std::isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf"));
    }
    families_[it->second].second.samples.push_back(sample + (labels.empty() ? "" : "{" + labels + "}") + " " + num);
  }
  std::string Text() const {
    std::string out;
    for (const auto& [name, f] : families_) {
      out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + f.type + "\n";
      for (const auto& s : f.samples) out += s + "\n";
    }
    return out;
  }

 private:
  std::map<std::string, size_t> index_;
  std::vector<std::pair<std::string, Family>> families_;
};

std::string MetricName(const std::string& s) {
  std::string n = "lamd_";
  for (char c : s) n += (std::isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '_';
  return n;
}

std::string LabelValue(const std::string& s) {
  std::string v;
  for (char c : s) {
    if (c == '\\') {
      v += "\\\\";
    } else if (c == '"') {
      v += "\\\"";
    } else if (c == '\n') {
      v += "\\n";
    } else {
      v += c;
    }
  }
  return v;
}

std::string Label(const std::string& k, const std::string& v) { return k + "=\"" + LabelValue(v) + "\""; }

std::string ScalarText(const Json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// Cumulative fields that do not already end in _total.
bool IsCounterField(const std::string& k) {
  static const std::set<std::string> kCounters = {"requests_ok", "requests_failed", "dataplane_wakeups",
                                                  "hits", "misses", "compiles", "loads", "requests", "errors"};
  return kCounters.count(k) != 0;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// One sample of family `prefix + field`: a counter (named ..._total) when the field is cumulative.
void AddNumber(Exposition* e, const std::string& prefix, const std::string& field, const std::string& help,
               const std::string& labels, const Json& v) {
  const double x = v.is_boolean() ? (v.get<bool>() ? 1.0 : 0.0) : v.get<double>();
  const std::string base = prefix + field;
  if (EndsWith(field, "_total")) {
    e->Add(MetricName(base), true, help, labels, x);
  } else if (IsCounterField(field)) {
    e->Add(MetricName(base + "_total"), true, help, labels, x);
  } else {
    e->Add(MetricName(base), false, help, labels, x);
  }
}

// A keyed object of numbers: one labelled family.
struct LabelledMap {
  const char* key;
  const char* family;
  const char* label;
};
constexpr LabelledMap kLabelledMaps[] = {
    {"by_status", "requests_by_status_total", "status"},
    {"batch_size_histogram", "batches_by_size_total", "size"},
    {"http_responses_by_code", "http_responses_total", "code"},
};

// Rows of objects: the identifying fields become labels, the other numbers samples.
struct RowTable {
  const char* key;
  const char* prefix;
  std::vector<const char*> label_fields;
};

// One row of a "histograms" array: {"name", "help", "labels": {k: v}, "le": [bounds],
// "buckets": [cumulative counts, one more than le: +Inf], "sum", "count"}.
void AddHistogram(Exposition* e, const Json& row) {
  if (!row.is_object() || !row.contains("name") || !row["name"].is_string()) return;
  const Json& le = row.value("le", Json::array());
  const Json& buckets = row.value("buckets", Json::array());
  if (!le.is_array() || !buckets.is_array() || buckets.size() != le.size() + 1) return;
  const std::string name = MetricName(row["name"].get<std::string>());
  const std::string help = row.value("help", std::string("lamd latency"));
  std::string labels;
  if (row.contains("labels") && row["labels"].is_object()) {
    for (auto x = row["labels"].begin(); x != row["labels"].end(); ++x) {
      if (!labels.empty()) labels += ',';
      labels += Label(x.key(), ScalarText(x.value()));
    }
  }
  const std::string sep = labels.empty() ? "" : ",";
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (!buckets[i].is_number() || (i < le.size() && !le[i].is_number())) return;
  }
  for (size_t i = 0; i < buckets.size(); ++i) {
    char bound[32] = "+Inf";
    if (i < le.size()) std::snprintf(bound, sizeof(bound), "%g", le[i].get<double>());
    e->AddSample(name, "histogram", help, name + "_bucket", labels + sep + Label("le", bound),
                 buckets[i].get<double>());
  }
  e->AddSample(name, "histogram", help, name + "_sum", labels, row.value("sum", 0.0));
  e->AddSample(name, "histogram", help, name + "_count", labels, row.value("count", 0.0));
}

}  // namespace

std::string PrometheusText(const Json& doc) {
  Exposition e;
  std::vector<std::string> info;
  if (doc.contains("schema_version") && doc["schema_version"].is_number()) {
    e.Add("lamd_status_schema_version", false, "schema of lamd's status document", "",
          doc["schema_version"].get<double>());
  }
  static const RowTable kRows[] = {{"by_bucket", "executable_", {"bucket"}},
                                   {"list", "client_", {"id", "pid", "uid"}},
                                   {"by_transport", "transport_", {"transport"}},
                                   {"by_transport_status", "transport_", {"transport", "status"}}};
  for (auto sec = doc.begin(); sec != doc.end(); ++sec) {
    if (!sec.value().is_object()) continue;
    const std::string section = sec.key();
    for (auto it = sec.value().begin(); it != sec.value().end(); ++it) {
      const std::string& k = it.key();
      const Json& v = it.value();
      const std::string help = "lamctl status: " + section + "." + k;
      if (k == "histograms" && v.is_array()) {
        for (const auto& row : v) AddHistogram(&e, row);
      } else if (v.is_number() || v.is_boolean()) {
        // Section-level keys are unique across the document, so they keep their names.
        AddNumber(&e, "", k == "uptime_in_seconds" ? "uptime_seconds" : k, help, "", v);
      } else if (v.is_string()) {
        info.push_back(Label(section + "_" + k, v.get<std::string>()));
      } else if (v.is_array() && (v.empty() || !v[0].is_object())) {
        std::string joined;
        for (const auto& x : v) {
          if (!joined.empty()) joined += ',';
          joined += ScalarText(x);
        }
        info.push_back(Label(section + "_" + k, joined));
      } else if (v.is_object()) {
        const LabelledMap* m = nullptr;
        for (const auto& lm : kLabelledMaps) {
          if (k == lm.key) m = &lm;
        }
        for (auto x = v.begin(); x != v.end(); ++x) {
          if (!x.value().is_number()) continue;
          if (m != nullptr) {
            e.Add(MetricName(m->family), true, help, Label(m->label, x.key()), x.value().get<double>());
          } else {
            AddNumber(&e, "", k, help, Label("key", x.key()), x.value());
          }
        }
      } else if (v.is_array()) {
        const RowTable* t = nullptr;
        for (const auto& rt : kRows) {
          if (k == rt.key) t = &rt;
        }
        const std::string prefix = t != nullptr ? t->prefix : k + "_";
        for (const auto& row : v) {
          if (!row.is_object()) continue;
          std::string labels;
          std::set<std::string> used;
          if (t != nullptr) {
            for (const char* f : t->label_fields) {
              if (!row.contains(f)) continue;
              if (!labels.empty()) labels += ',';
              labels += Label(f, ScalarText(row[f]));
              used.insert(f);
            }
          }
          for (auto x = row.begin(); x != row.end(); ++x) {
            if (used.count(x.key()) != 0) continue;
            if (!x.value().is_number() && !x.value().is_boolean()) continue;
            AddNumber(&e, prefix, x.key(), help + "[]." + x.key(), labels, x.value());
          }
        }
      }
    }
  }
  std::string labels;
  for (const auto& l : info) {
    if (!labels.empty()) labels += ',';
    labels += l;
  }
  e.Add("lamd_info", false, "lamd build, model and configuration (labels); always 1", labels, 1.0);
  return e.Text();
}

}  // namespace lam::server
