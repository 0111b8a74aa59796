// SPDX-License-Identifier: MIT
// Engine suite: tokens/s of the CPU backend per variant and batch shape (warm-up excluded), and
// the GEMM part's achieved rate (time inside oneDNN calls, useful FLOPs only) next to oneDNN's
// own rate on the same GEMM shapes with its own OpenMP threading, measured in the same run, and
// both against the machine's measured fp32 FMA peak: the roofline that bounds tokens/s even
// with every other part of the model taking no time.
#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_bert.h"
#include "bench.h"
#include "engine/model_loader.h"
#include "engine/synthetic_model.h"
#include "fma_peak.h"

namespace lam::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct GemmShape {
  int k, n;
};
// The four weight shapes of one layer (fused in-projection, o_proj, FFN up, FFN down).
constexpr GemmShape kShapes[] = {{384, 1600}, {384, 384}, {384, 1536}, {1536, 384}};

// oneDNN's own rate for M x K x N (plain matmul, weights in its preferred layout, OpenMP team
// of `threads`), in GFLOP/s.
double LibraryRate(int m, const GemmShape& s, int threads) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream st(eng);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  dnnl::memory::desc a_md({m, s.k}, dt::f32, tag::ab), c_md({m, s.n}, dt::f32, tag::ab);
  dnnl::memory::desc w_any({s.k, s.n}, dt::f32, tag::any);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, w_any, c_md), eng);
  dnnl::memory a(a_md, eng), w(pd.weights_desc(), eng), c(c_md, eng);
  std::fill_n(static_cast<float*>(a.get_data_handle()), static_cast<size_t>(m) * s.k, 0.5f);
  std::fill_n(static_cast<float*>(w.get_data_handle()), pd.weights_desc().get_size() / sizeof(float), 0.01f);
  dnnl::matmul mm(pd);
  auto run = [&] { mm.execute(st, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, c}}); };
  run();
  st.wait();
  int reps = 0;
  const auto t0 = Clock::now();
  double secs = 0.0;
  while (secs < 0.25) {
    run();
    st.wait();
    ++reps;
    secs = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  omp_set_num_threads(saved);
  return 2.0 * m * s.k * s.n * reps / secs / 1e9;
}

// Time-weighted library rate for the layer's GEMM mix at M rows.
double LibraryMixRate(int m, int threads) {
  double flops = 0.0, secs = 0.0;
  for (const auto& s : kShapes) {
    const double f = 2.0 * m * s.k * s.n;
    flops += f;
    // The best of a single-thread call and a full OpenMP team (small M often scales badly).
    double best = LibraryRate(m, s, 1);
    if (threads > 1) best = std::max(best, LibraryRate(m, s, threads));
    secs += f / (best * 1e9);
  }
  return flops / secs / 1e9;
}

}  // namespace

double GemmFlopsPerToken(const engine::ModelConfig& c) {
  const double h = c.hidden, ffn = c.intermediate;
  const double in_proj = c.family == engine::Family::kBert ? 3 * h * h : h * 1600.0;
  return 2.0 * (in_proj + h * h + 2 * h * ffn) * c.layers;
}

TokenBatch RandomTokenBatch(int b, int len, int vocab) {
  TokenBatch out;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> tok(1000, std::min(vocab, 30000) - 1);
  out.ids.assign(static_cast<size_t>(b), std::vector<int32_t>(static_cast<size_t>(len)));
  for (auto& s : out.ids) {
    for (auto& x : s) x = tok(rng);
    s.front() = 101;
    s.back() = 102;
    out.spans.push_back({s.data(), s.size()});
  }
  return out;
}

Result<BenchModel> MakeBenchModel(const std::string& what, bool synthetic) {
  BenchModel m;
  if (synthetic) {
    engine::Variant v;
    if (what == "f128") v = engine::Variant::kF128;
    else if (what == "r64t") v = engine::Variant::kR64T;
    else if (what == "r32") v = engine::Variant::kR32;
    else return Status(LAM_STATUS_INVALID_ARG, "--synthetic expects f128, r64t, r32 or all, got '" + what + "'");
    auto sm = std::make_shared<engine::SyntheticModel>(v, 2024);
    m.weights = &sm->weights();
    m.owner = sm;
    m.label = what + " (synthetic)";
  } else {
    LAM_ASSIGN_OR_RETURN(auto lm, engine::LoadModel(what));
    std::shared_ptr<const engine::LoadedModel> shared(std::move(lm));
    m.weights = &shared->weights();
    m.label = shared->name() + " (" + engine::variant_name(shared->weights().config.variant) + ")";
    m.owner = shared;
  }
  return m;
}

std::vector<std::pair<std::string, bool>> BenchModelList(const BenchOptions& opt) {
  std::vector<std::pair<std::string, bool>> models;
  if (!opt.model_dir.empty()) models.emplace_back(opt.model_dir, false);
  for (const auto& s : opt.synthetic) {
    if (s == "all") {
      for (const char* v : {"f128", "r64t", "r32"}) models.emplace_back(v, true);
    } else {
      models.emplace_back(s, true);
    }
  }
  return models;
}

int RunEngineBench(const BenchOptions& opt, std::vector<BenchTable>* out) {
  if (opt.backend == "cuda") return RunCudaEngineBench(opt, out);
  const auto models = BenchModelList(opt);
  if (models.empty()) {
    std::fprintf(stderr, "lam-bench engine: give --model DIR or --synthetic f128|r64t|r32|all\n");
    return 2;
  }
  // The roof: one core, and one pinned thread per core (and the backend's thread count, if it
  // runs fewer). Measured before any model work and again after it, keeping the better of the
  // two, so that a burst of load from another process during one of them does not lower it.
  std::map<int, FmaPeak> peaks;
  auto peak_for = [&peaks](int threads) -> const FmaPeak& {
    const int n = std::clamp(threads, 1, UsableCpus());
    auto it = peaks.find(n);
    if (it == peaks.end()) it = peaks.emplace(n, MeasureFmaPeak(n)).first;
    return it->second;
  };
  (void)peak_for(1);
  (void)peak_for(UsableCpus());
  // GEMM rates whose share of the roof is filled in once the roof is final.
  struct PendingRoof {
    size_t row;
    int threads;
    double gflops, flops_per_token;
  };
  std::vector<PendingRoof> pending;
  BenchTable t;
  t.title = "Engine (CPU backend, in-process, " + opt.precision + ")";
  const cpu::Precision precision = opt.precision == "bf16" ? cpu::Precision::kBf16 : cpu::Precision::kFp32;
  t.columns = {"model", "shape", "tokens/s", "ms/batch", "GEMM share of time", "GEMM GFLOP/s (ours)",
               "oneDNN GFLOP/s (same shapes)", "ours/oneDNN", "GEMM MFLOP/token", "GEMM % of FMA peak",
               "upper bound tokens/s at 100% peak, GEMM only"};
  int threads_used = 0;
  for (const auto& [what, synthetic] : models) {
    auto model = MakeBenchModel(what, synthetic);
    if (!model.ok()) {
      std::fprintf(stderr, "lam-bench engine: %s\n", model.status().ToString().c_str());
      return 1;
    }
    // The bert family (e.g. all-MiniLM-L6-v2) has its own CPU backend, without a GEMM profile:
    // its GEMM columns stay blank.
    std::unique_ptr<backend::Backend> owned;
    cpu::CpuBackend* lam_be = nullptr;
    if (model->weights->config.family == engine::Family::kBert) {
      auto bert = cpu::CpuBertBackend::Create(*model->weights, opt.threads, precision);
      if (!bert.ok()) {
        std::fprintf(stderr, "lam-bench engine: %s\n", bert.status().ToString().c_str());
        return 1;
      }
      threads_used = (*bert)->concurrency();
      owned = std::move(*bert);
    } else {
      cpu::CpuBackendOptions bo;
      bo.threads = opt.threads;
      bo.precision = precision;
      auto backend = cpu::CpuBackend::Create(*model->weights, bo);
      if (!backend.ok()) {
        std::fprintf(stderr, "lam-bench engine: %s\n", backend.status().ToString().c_str());
        return 1;
      }
      lam_be = backend->get();
      threads_used = lam_be->concurrency();
      owned = std::move(*backend);
    }
    backend::Backend& be = *owned;
    const auto& cfg = model->weights->config;
    for (const auto& shape : opt.shapes) {
      int b = 0, len = 0;
      if (std::sscanf(shape.c_str(), "%dx%d", &b, &len) != 2 || b < 1 || len < 1 || len > cfg.max_tokens) {
        std::fprintf(stderr, "lam-bench engine: bad shape '%s' (BxL, L <= %d)\n", shape.c_str(), cfg.max_tokens);
        return 2;
      }
      auto exe = be.Compile({b, b * len});
      if (!exe.ok()) {
        std::fprintf(stderr, "lam-bench engine: %s\n", exe.status().ToString().c_str());
        return 1;
      }
      const TokenBatch tokens = RandomTokenBatch(b, len, cfg.vocab_size);
      const std::vector<engine::TokenSpan>& batch = tokens.spans;
      std::vector<float> emb(static_cast<size_t>(b) * static_cast<size_t>(be.embedding_dim()));
      for (int i = 0; i < opt.warmup; ++i) {
        Status st = be.Run(**exe, batch, emb.data());
        if (!st.ok()) {
          std::fprintf(stderr, "lam-bench engine: %s\n", st.ToString().c_str());
          return 1;
        }
      }
      if (lam_be != nullptr) {
        lam_be->set_profiling(true);
        (void)lam_be->TakeGemmProfile(**exe);
      }
      std::vector<double> tps, ms;
      double total_secs = 0.0;
      for (int r = 0; r < opt.repetitions; ++r) {
        const auto t0 = Clock::now();
        Status st = be.Run(**exe, batch, emb.data());
        const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
        if (!st.ok()) {
          std::fprintf(stderr, "lam-bench engine: %s\n", st.ToString().c_str());
          return 1;
        }
        total_secs += secs;
        tps.push_back(static_cast<double>(b) * len / secs);
        ms.push_back(secs * 1e3);
      }
      const Stats s_tps = MeanStddev(tps), s_ms = MeanStddev(ms);
      std::vector<std::string> row = {model->label, shape, Fixed(s_tps.mean, 0) + " ± " + Fixed(s_tps.stddev, 0),
                                      Fixed(s_ms.mean, 2) + " ± " + Fixed(s_ms.stddev, 2), "", "", "", "", "", "", ""};
      if (lam_be != nullptr) {
        lam_be->set_profiling(false);
        const cpu::GemmProfile prof = lam_be->TakeGemmProfile(**exe);
        const double gemm_wall = prof.thread_seconds / lam_be->concurrency();
        const double per_token = GemmFlopsPerToken(cfg);
        const double useful = per_token * b * len * opt.repetitions;
        const double ours = gemm_wall > 0 ? useful / gemm_wall / 1e9 : 0.0;
        const double lib = LibraryMixRate(b * len, lam_be->concurrency());
        row[4] = Fixed(100.0 * gemm_wall / total_secs, 0) + "%";
        row[5] = Fixed(ours, 1);
        row[6] = Fixed(lib, 1);
        row[7] = Fixed(100.0 * ours / lib, 0) + "%";
        row[8] = Fixed(per_token / 1e6, 2);
        // The team's roof: the peak of as many pinned threads as the backend runs.
        (void)peak_for(lam_be->concurrency());
        pending.push_back({t.rows.size(), lam_be->concurrency(), ours, per_token});
      }
      t.rows.push_back(std::move(row));
    }
  }
  for (auto& [n, peak] : peaks) {
    FmaPeak again = MeasureFmaPeak(n);
    if (again.gflops > peak.gflops) peak = std::move(again);
  }
  for (const PendingRoof& p : pending) {
    const FmaPeak& roof = peak_for(p.threads);
    t.rows[p.row][9] = Fixed(100.0 * p.gflops / roof.gflops, 0) + "%";
    t.rows[p.row][10] = Fixed(roof.gflops * 1e9 / p.flops_per_token, 0);
  }
  const FmaPeak& one_core = peak_for(1);
  const FmaPeak& all_cores = peak_for(UsableCpus());
  t.facts.emplace_back("fp32 FMA peak, measured, 1 core", Fixed(one_core.gflops, 1) + " GFLOP/s (" + one_core.isa + ")");
  t.facts.emplace_back("fp32 FMA peak, measured, " + std::to_string(all_cores.threads) + " cores",
                       Fixed(all_cores.gflops, 1) + " GFLOP/s (" + all_cores.isa + ", " +
                           Fixed(all_cores.per_thread, 1) + " per core)");
  if (precision == cpu::Precision::kBf16) {
    t.notes.push_back("precision bf16 (oneDNN ISA " + cpu::OnednnIsaName() +
                      "): our GEMMs run bf16 x bf16 with fp32 accumulation; the oneDNN column and the FMA peak "
                      "stay fp32, so 'ours/oneDNN' and '% of FMA peak' are the speed-up over those fp32 figures.");
  }
  t.notes.push_back("threads: " + std::to_string(threads_used) + "; repetitions: " +
                    std::to_string(opt.repetitions) + " after " + std::to_string(opt.warmup) +
                    " warm-up; GEMM FLOPs count real tokens only (64-row tile padding excluded); " +
                    "oneDNN rate = plain matmul with M = batch tokens (best of 1 thread and its own OpenMP team of all threads), time-weighted over the layer's 4 GEMM shapes.");
  t.notes.push_back(
      "FMA peak: 12 independent " + all_cores.isa + " FMA accumulators per thread (no memory operands), one "
      "thread pinned per core, all cores at once, per thread the best of 200 chunks of ~1 ms (1 FMA = 2 FLOPs); "
      "the 1-core figure is the best core running alone; the better of a measurement before and one after the "
      "model runs. GEMM MFLOP/token = 2 x the "
      "multiply-adds of the layer's 4 weight GEMMs x layers (the same count as the GEMM GFLOP/s column; the "
      "mixer/attention, convolutions, LayerNorms and GELUs are not counted). Upper bound = FMA peak of the "
      "backend's " + std::to_string(threads_used) + " thread(s) / GEMM FLOPs per token: no run of these "
      "weights can exceed it on this machine, whatever the batch shape.");
  out->push_back(std::move(t));
  return 0;
}

}  // namespace lam::bench
