// SPDX-License-Identifier: MIT
// Shared pieces of lam-bench: options, result tables, statistics. Each suite (bench_<name>.cpp)
// fills a BenchTable; main.cpp prints the tables as Markdown or JSON.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "engine/token_span.h"
#include "engine/weights.h"

namespace lam::bench {

struct BenchOptions {
  std::string model_dir;              // --model DIR
  std::vector<std::string> synthetic;  // --synthetic f128|r64t|r32|all (repeatable)
  std::vector<std::string> shapes;    // --shapes 1x16,32x128,...
  int repetitions = 5;                // -r
  int warmup = 1;                     // --warmup
  int threads = 0;                    // --threads (0 = all cores)
  std::string precision;              // --precision: cpu fp32|bf16, cuda fp32|tf32 list (main.cpp fills the default)
  std::string backend = "cpu";        // --backend cpu|cuda (engine benchmark)
  int device = 0;                     // --device N (CUDA ordinal)
  std::string format = "md";          // -o md|json
  // soak (bench_soak.cpp)
  double soak_minutes = 0;            // --minutes (fractions allowed)
  int soak_clients = 32;              // --clients: 1 light + 1 flooding + workers
  double soak_restart_every = 300;    // --restart-every SEC (0 = never)
  double soak_kill_every = 5;         // --kill-every SEC (0 = never)
  double soak_report_every = 60;      // --report-every SEC
  double soak_warmup_sec = 120;       // --warmup-sec: growth baseline this long after ready
  double soak_stuck_sec = 90;         // --stuck-sec: a client silent this long has lost a result
  int soak_pool = 2048;               // --pool: token sequences in the input pool
  int soak_max_len = 256;             // --max-len: longest pool sequence (tokens)
  int soak_max_seqs = 8;              // --max-seqs: sequences per request at most
  int soak_think_ms = 50;             // --think-ms: workers pause 0-2x this between calls
  unsigned long long seed = 1;        // --seed
};

struct BenchTable {
  std::string title;
  // Measured machine facts the rows are read against (e.g. the fp32 FMA peak): printed as a
  // list under the title (md) or as the object "facts" (json).
  std::vector<std::pair<std::string, std::string>> facts;
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> notes;
};

struct Stats {
  double mean = 0.0;
  double stddev = 0.0;
};
Stats MeanStddev(const std::vector<double>& xs);
// "a,b,,c" -> {"a", "b", "c"} (empty items dropped).
std::vector<std::string> Split(const std::string& s, char sep);
std::string Fixed(double v, int digits);

// A model to benchmark: a directory, or random in-memory weights of a variant ("f128", ...).
struct BenchModel {
  std::string label;
  std::shared_ptr<const void> owner;
  const engine::ModelWeights* weights = nullptr;
};
Result<BenchModel> MakeBenchModel(const std::string& what, bool synthetic);
// Useful projection FLOPs per token (2 per multiply-add): LAM's fused in-projection (q, k, v, g and
// the per-head scalars, 1600 columns), o_proj and the FFN; BERT's q/k/v, output and FFN; x layers.
double GemmFlopsPerToken(const engine::ModelConfig& config);
// b sequences of len random ids in [1000, min(vocab, 30000)), [CLS] ... [SEP], fixed seed.
struct TokenBatch {
  std::vector<std::vector<int32_t>> ids;
  std::vector<engine::TokenSpan> spans;  // into ids
};
TokenBatch RandomTokenBatch(int b, int len, int vocab);
// --model and --synthetic as (what, synthetic) pairs, in that order ("all" expanded).
std::vector<std::pair<std::string, bool>> BenchModelList(const BenchOptions& opt);

// Engine suite (bench_engine.cpp). Returns 0 or prints an error to stderr and returns non-zero.
int RunEngineBench(const BenchOptions& opt, std::vector<BenchTable>* out);
// Engine suite on the CUDA backend (bench_engine_cuda.cpp), for --backend cuda.
int RunCudaEngineBench(const BenchOptions& opt, std::vector<BenchTable>* out);
// IPC suite (bench_ipc.cpp): lamd's data plane vs its two-process floors; needs --model.
int RunIpcBench(const BenchOptions& opt, std::vector<BenchTable>* out);
// Soak (bench_soak.cpp): lamd + clients + restarts + SIGKILLs for --minutes, every result
// checked against the in-process engine. Prints its own report; returns its exit code.
int RunSoak(const BenchOptions& opt);
// Cache suite (bench_cache.cpp): executable cache compile vs hit/load, time to ready.
int RunCacheBench(const BenchOptions& opt, std::vector<BenchTable>* out);

}  // namespace lam::bench
