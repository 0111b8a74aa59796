// SPDX-License-Identifier: MIT
// lam-bench: benchmarks with a reproducible header (date, CPU, build type, commit).
//   lam-bench [engine] (--model DIR | --synthetic f128|r64t|r32|all) [-r N] [--warmup N]
//             [--threads N] [--shapes 1x16,32x128,8x512,1x8192] [-o md|json]
//   lam-bench soak --minutes N --model DIR [--clients 32] [--restart-every SEC] [--kill-every SEC]
//             [--seed N] [--report-every SEC] [--warmup-sec SEC] [--stuck-sec SEC] [--pool N]
//             [--max-len N] [--max-seqs N] [--think-ms N]
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
  std::fprintf(f, "  %-10s %s\n", "soak",
               "lamd + 32 clients, SIGKILLs and restarts for --minutes, every result checked (not run by default)");
  std::fprintf(f,
               "options:\n"
               "  --model DIR          benchmark a model directory\n"
               "  --synthetic V        random in-memory weights, V = f128|r64t|r32|all (repeatable)\n"
               "  --shapes LIST        batch x length list (default 1x16,32x128,8x512,1x8192; with\n"
               "                       --backend cuda 1x16,32x128,256x128,8x512,1x8192)\n"
               "  -r N                 timed repetitions (default 5), after --warmup N (default 1)\n"
               "  --threads N          CPU worker threads (default: all cores)\n"
               "  --backend cpu|cuda   engine, ipc: the backend to measure (default cpu)\n"
               "  --device N           engine: CUDA device ordinal (default 0)\n"
               "  --precision P        engine: fp32 (default) or bf16 GEMMs (needs AVX512_BF16 or AMX); with\n"
               "                       --backend cuda fp32, tf32 or a list (default fp32,tf32)\n"
               "  -o md|json           output format (default md)\n"
               "soak options:\n"
               "  --minutes N          run time (fractions allowed); required\n"
               "  --clients N          client processes: 1 light, 1 flooding, N-2 workers (default 32)\n"
               "  --restart-every SEC  restart lamd (SIGTERM, start) this often (default 300; 0 never)\n"
               "  --kill-every SEC     SIGKILL a random client this often (default 5; 0 never)\n"
               "  --report-every SEC   report line interval (default 60)\n"
               "  --warmup-sec SEC     growth baseline this long after lamd is ready (default 120)\n"
               "  --stuck-sec SEC      a client silent this long while lamd lives lost a result (default 90)\n"
               "  --pool N             token sequences in the input pool (default 2048; texts N/4)\n"
               "  --max-len N          longest pool sequence in tokens (default 256)\n"
               "  --max-seqs N         sequences per request at most (default 8)\n"
               "  --think-ms N         workers pause 0-2N ms between calls (default 50)\n"
               "  --seed N             seed of the pools and of the clients' choices (default 1)\n"
               "environment:\n"
               "  LAM_BENCH_FMA_ISA=avx2|scalar  cap the ISA of the engine suite's FMA peak loop\n"
               "  LAM_BENCH_SOAK_CORRUPT_ROW=K   soak: flip a bit of the K-th row checked (tests that it fails)\n");
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

// The flags a reader of a CPU result needs (lscpu's avx512 / bf16 / amx ones).
std::string CpuFlags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::string out;
    std::stringstream ss(line.substr(line.find(':') + 1));
    std::string f;
    while (ss >> f) {
      if (f.rfind("avx512", 0) == 0 || f.find("bf16") != std::string::npos || f.rfind("amx", 0) == 0 || f == "avx2" ||
          f == "fma") {
        if (!out.empty()) out += ' ';
        out += f;
      }
    }
    return out;
  }
  return "";
}

std::string UtcNow() {
  char buf[64];
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

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
  bool soak = false;
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
    auto real = [&](const char* name) {
      const std::string v = value(name);
      char* end = nullptr;
      const double d = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || !(d >= 0) || d > 1e7) {
        std::fprintf(stderr, "lam-bench: %s expects a non-negative number, got '%s'\n", name, v.c_str());
        std::exit(2);
      }
      return d;
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
    } else if (a == "--precision") {
      opt.precision = value("--precision");
    } else if (a == "--backend") {
      opt.backend = value("--backend");
      if (opt.backend != "cpu" && opt.backend != "cuda") {
        std::fprintf(stderr, "lam-bench: --backend expects cpu or cuda, got '%s'\n", opt.backend.c_str());
        return 2;
      }
    } else if (a == "--device") {
      opt.device = number("--device");
    } else if (a == "soak") {
      soak = true;
    } else if (a == "--minutes") {
      opt.soak_minutes = real("--minutes");
    } else if (a == "--clients") {
      opt.soak_clients = number("--clients");
    } else if (a == "--restart-every") {
      opt.soak_restart_every = real("--restart-every");
    } else if (a == "--kill-every") {
      opt.soak_kill_every = real("--kill-every");
    } else if (a == "--report-every") {
      opt.soak_report_every = real("--report-every");
    } else if (a == "--warmup-sec") {
      opt.soak_warmup_sec = real("--warmup-sec");
    } else if (a == "--stuck-sec") {
      opt.soak_stuck_sec = real("--stuck-sec");
    } else if (a == "--pool") {
      opt.soak_pool = number("--pool");
    } else if (a == "--max-len") {
      opt.soak_max_len = number("--max-len");
    } else if (a == "--max-seqs") {
      opt.soak_max_seqs = std::max(1, number("--max-seqs"));
    } else if (a == "--think-ms") {
      opt.soak_think_ms = number("--think-ms");
    } else if (a == "--seed") {
      opt.seed = static_cast<unsigned long long>(number("--seed"));
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
  const std::string date = UtcNow(), cpu = CpuModel();
  const std::string build = LAM_BUILD_TYPE, commit = LAM_BUILD_COMMIT;
  if (soak) {
    // The soak reports as it goes (a line per interval), so the header comes first.
    if (!suites.empty()) {
      std::fprintf(stderr, "lam-bench: soak runs alone\n");
      return 2;
    }
    std::printf("- date: %s\n- cpu: %s\n- cpu flags: %s\n- build type: %s\n- commit: %s\n", date.c_str(), cpu.c_str(),
                CpuFlags().c_str(), build.c_str(), commit.c_str());
    std::fflush(stdout);
    return RunSoak(opt);
  }
  if (suites.empty()) {
    for (const auto& s : kSuites) suites.push_back(&s);
  }
  if (opt.shapes.empty()) {
    opt.shapes = opt.backend == "cuda" ? std::vector<std::string>{"1x16", "32x128", "256x128", "8x512", "1x8192"}
                                       : std::vector<std::string>{"1x16", "32x128", "8x512", "1x8192"};
  }
  if (opt.precision.empty()) opt.precision = opt.backend == "cuda" ? "fp32,tf32" : "fp32";
  for (const std::string& p : Split(opt.precision, ',')) {
    const bool ok = opt.backend == "cuda" ? (p == "fp32" || p == "tf32") : (p == "fp32" || p == "bf16");
    if (!ok || (opt.backend == "cpu" && opt.precision.find(',') != std::string::npos)) {
      std::fprintf(stderr, "lam-bench: --precision expects %s for --backend %s, got '%s'\n",
                   opt.backend == "cuda" ? "fp32, tf32 or fp32,tf32" : "fp32 or bf16", opt.backend.c_str(),
                   opt.precision.c_str());
      return 2;
    }
  }

  std::vector<BenchTable> tables;
  for (const Suite* s : suites) {
    const int rc = s->run(opt, &tables);
    if (rc != 0) return rc;
  }

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
