// SPDX-License-Identifier: MIT
// lam-bench: benchmarks with a reproducible header (date, CPU, build type, commit).
//   lam-bench [engine] (--model DIR | --synthetic f128|r64t|r32|all) [-r N] [--warmup N]
//             [--threads N] [--shapes 1x16,32x128,8x512,1x8192] [-o md|json]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench.h"
#include "lam/lam_version.h"

namespace lam::bench {
namespace {

struct Suite {
  const char* name;
  const char* help;
  int (*run)(const BenchOptions&, std::vector<BenchTable>*);
};

// Suites in the order `lam-bench` (no suite named) runs them. Add new ones here.
const Suite kSuites[] = {
    {"engine", "in-process engine throughput per variant and shape, GEMM rate vs oneDNN", RunEngineBench},
    {"ipc", "lamd data plane: cold start, ring round trips, bulk results, saturation (--model)", RunIpcBench},
    {"cache", "executable cache: compile vs hit/disk load per bucket, time to ready cold vs warm", RunCacheBench},
};

void Usage(FILE* f) {
  std::fprintf(f,
               "usage: lam-bench [SUITE...] [options]\n"
               "suites:\n");
  for (const auto& s : kSuites) std::fprintf(f, "  %-10s %s\n", s.name, s.help);
  std::fprintf(f,
               "options:\n"
               "  --model DIR          benchmark a model directory\n"
               "  --synthetic V        random in-memory weights, V = f128|r64t|r32|all (repeatable)\n"
               "  --shapes LIST        batch x length list (default 1x16,32x128,8x512,1x8192)\n"
               "  -r N                 timed repetitions (default 5), after --warmup N (default 1)\n"
               "  --threads N          CPU worker threads (default: all cores)\n"
               "  -o md|json           output format (default md)\n"
               "environment:\n"
               "  LAM_BENCH_FMA_ISA=avx2|scalar  cap the ISA of the engine suite's FMA peak loop\n");
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto p = line.find(':');
      if (p != std::string::npos) return line.substr(p + 2);
    }
  }
  return "unknown";
}

std::string UtcNow() {
  char buf[64];
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

Stats MeanStddev(const std::vector<double>& xs) {
  Stats s;
  if (xs.empty()) return s;
  for (double x : xs) s.mean += x;
  s.mean /= static_cast<double>(xs.size());
  if (xs.size() > 1) {
    double v = 0.0;
    for (double x : xs) v += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(v / static_cast<double>(xs.size() - 1));
  }
  return s;
}

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

}  // namespace lam::bench

int main(int argc, char** argv) {
  using namespace lam::bench;
  BenchOptions opt;
  std::vector<const Suite*> suites;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* name) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "lam-bench: %s needs a value\n", name);
        std::exit(2);
      }
      return argv[++i];
    };
    auto number = [&](const char* name) {
      const std::string v = value(name);
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (end == v.c_str() || *end != '\0' || n < 0 || n > 1000000) {
        std::fprintf(stderr, "lam-bench: %s expects a non-negative integer, got '%s'\n", name, v.c_str());
        std::exit(2);
      }
      return static_cast<int>(n);
    };
    if (a == "-h" || a == "--help") {
      Usage(stdout);
      return 0;
    } else if (a == "--model") {
      opt.model_dir = value("--model");
    } else if (a == "--synthetic") {
      opt.synthetic.push_back(value("--synthetic"));
    } else if (a == "--shapes") {
      opt.shapes = Split(value("--shapes"), ',');
    } else if (a == "-r") {
      opt.repetitions = std::max(1, number("-r"));
    } else if (a == "--warmup") {
      opt.warmup = number("--warmup");
    } else if (a == "--threads") {
      opt.threads = number("--threads");
    } else if (a == "-o") {
      opt.format = value("-o");
      if (opt.format != "md" && opt.format != "json") {
        std::fprintf(stderr, "lam-bench: -o expects md or json\n");
        return 2;
      }
    } else {
      const Suite* found = nullptr;
      for (const auto& s : kSuites) {
        if (a == s.name) found = &s;
      }
      if (found == nullptr) {
        std::fprintf(stderr, "lam-bench: unknown argument '%s'\n", a.c_str());
        Usage(stderr);
        return 2;
      }
      suites.push_back(found);
    }
  }
  if (suites.empty()) {
    for (const auto& s : kSuites) suites.push_back(&s);
  }
  if (opt.shapes.empty()) opt.shapes = {"1x16", "32x128", "8x512", "1x8192"};

  std::vector<BenchTable> tables;
  for (const Suite* s : suites) {
    const int rc = s->run(opt, &tables);
    if (rc != 0) return rc;
  }

  const std::string date = UtcNow(), cpu = CpuModel();
  const std::string build = LAM_BUILD_TYPE, commit = LAM_BUILD_COMMIT;
  if (opt.format == "json") {
    nlohmann::json j;
    j["date"] = date;
    j["cpu"] = cpu;
    j["build_type"] = build;
    j["commit"] = commit;
    j["version"] = LAM_VERSION_STRING;
    for (const auto& t : tables) {
      nlohmann::json jt;
      jt["title"] = t.title;
      jt["notes"] = t.notes;
      for (const auto& [k, v] : t.facts) jt["facts"][k] = v;
      for (const auto& r : t.rows) {
        nlohmann::json row;
        for (size_t c = 0; c < t.columns.size() && c < r.size(); ++c) row[t.columns[c]] = r[c];
        jt["rows"].push_back(row);
      }
      j["tables"].push_back(jt);
    }
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("- date: %s\n- cpu: %s\n- build type: %s\n- commit: %s\n", date.c_str(), cpu.c_str(),
                build.c_str(), commit.c_str());
    for (const auto& t : tables) {
      std::printf("\n### %s\n\n", t.title.c_str());
      for (const auto& [k, v] : t.facts) std::printf("- %s: %s\n", k.c_str(), v.c_str());
      if (!t.facts.empty()) std::printf("\n");
      std::printf("|");
      for (const auto& c : t.columns) std::printf(" %s |", c.c_str());
      std::printf("\n|");
      for (size_t c = 0; c < t.columns.size(); ++c) std::printf("---|");
      std::printf("\n");
      for (const auto& r : t.rows) {
        std::printf("|");
        for (const auto& cell : r) std::printf(" %s |", cell.c_str());
        std::printf("\n");
      }
      for (const auto& n : t.notes) std::printf("\n%s\n", n.c_str());
    }
  }
  return 0;
}
