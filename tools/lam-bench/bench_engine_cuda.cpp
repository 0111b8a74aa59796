// SPDX-License-Identifier: MIT
// Engine suite on the CUDA backend (`lam-bench engine --backend cuda`): per model, precision and
// batch shape, tokens/s and ms per batch through what lamd runs per batch (Backend::Run: the meta
// table into pinned memory, one CUDA graph replay, the embeddings back, synchronise), the graph
// capture time of each bucket, and the projections' achieved TFLOP/s (useful GEMM FLOPs only,
// lam-model.md §10). Its first table is the in-process cold start a warm lamd spares every new
// client process: CUDA context, kernel image compiled with NVRTC, weights uploaded, the first
// bucket captured and its first embedding.
//
// The backend is opened through its module (liblam_cuda_backend.so) exactly as lamd opens it.
// Without a usable device this suite says why and fails (exit 1); it never measures the CPU.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_module.h"
#include "bench.h"

namespace lam::bench {

#if LAM_HAVE_CUDA
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

int RunCudaEngineBench(const BenchOptions& opt, std::vector<BenchTable>* out) {
  const auto models = BenchModelList(opt);
  if (models.empty()) {
    std::fprintf(stderr, "lam-bench engine: give --model DIR or --synthetic f128|r64t|r32|all\n");
    return 2;
  }
  auto module = cuda::LoadCudaModule();
  if (!module.ok()) {
    std::fprintf(stderr, "lam-bench engine --backend cuda: %s\n", module.status().ToString().c_str());
    return 1;
  }
  const std::vector<std::string> precisions = Split(opt.precision, ',');

  BenchTable cold;
  cold.title = "CUDA backend: in-process cold start to the first embedding (what a warm lamd spares a new client)";
  cold.columns = {"model", "precision", "backend create ms (context, NVRTC, weights)", "capture 1x16 bucket ms",
                  "first embedding ms", "total ms"};
  BenchTable t;
  t.title = "Engine (CUDA backend, in-process, graph replay per batch)";
  t.columns = {"model", "precision", "shape", "tokens/s", "ms/batch", "capture ms", "GEMM MFLOP/token",
               "GEMM TFLOP/s achieved"};
  std::string device;
  for (const auto& [what, synthetic] : models) {
    auto model = MakeBenchModel(what, synthetic);
    if (!model.ok()) {
      std::fprintf(stderr, "lam-bench engine: %s\n", model.status().ToString().c_str());
      return 1;
    }
    const engine::ModelConfig& cfg = model->weights->config;
    const double flops_per_token = GemmFlopsPerToken(cfg);
    for (const std::string& precision : precisions) {
      cuda::CudaBackendOptions o;
      o.device = opt.device;
      o.precision = precision;  // no disk cache: the cold start compiles, as an in-process engine does
      std::unique_ptr<backend::Backend> be;
      const auto t_create = Clock::now();
      const Status created = (*module)->create_backend(*model->weights, o, &be);
      const double create_s = SecondsSince(t_create);
      if (!created.ok()) {
        std::fprintf(stderr, "lam-bench engine --backend cuda: %s\n", created.ToString().c_str());
        return 1;
      }
      device = be->device_identity() + ", " + be->driver_identity();
      {
        const TokenBatch first = RandomTokenBatch(1, 16, cfg.vocab_size);
        const auto t_capture = Clock::now();
        auto exe = be->Compile({1, 16});
        const double capture_s = SecondsSince(t_capture);
        if (!exe.ok()) {
          std::fprintf(stderr, "lam-bench engine --backend cuda: %s\n", exe.status().ToString().c_str());
          return 1;
        }
        std::vector<float> emb(static_cast<size_t>(be->embedding_dim()));
        const auto t_run = Clock::now();
        const Status st = be->Run(**exe, first.spans, emb.data());
        const double run_s = SecondsSince(t_run);
        if (!st.ok()) {
          std::fprintf(stderr, "lam-bench engine --backend cuda: %s\n", st.ToString().c_str());
          return 1;
        }
        cold.rows.push_back({model->label, precision, Fixed(create_s * 1e3, 0), Fixed(capture_s * 1e3, 1),
                             Fixed(run_s * 1e3, 2), Fixed((create_s + capture_s + run_s) * 1e3, 0)});
      }
      for (const auto& shape : opt.shapes) {
        int b = 0, len = 0;
        if (std::sscanf(shape.c_str(), "%dx%d", &b, &len) != 2 || b < 1 || len < 1) {
          std::fprintf(stderr, "lam-bench engine: bad shape '%s' (BxL)\n", shape.c_str());
          return 2;
        }
        if (len > cfg.max_tokens) {  // e.g. 1x8192 for all-MiniLM (512 positions)
          t.rows.push_back({model->label, precision, shape, "skipped: longer than the model's " +
                            std::to_string(cfg.max_tokens) + " tokens", "", "", "", ""});
          continue;
        }
        const TokenBatch batch = RandomTokenBatch(b, len, cfg.vocab_size);
        const auto t_capture = Clock::now();
        auto exe = be->Compile({b, b * len});
        const double capture_s = SecondsSince(t_capture);
        if (!exe.ok()) {
          std::fprintf(stderr, "lam-bench engine --backend cuda: %s: %s\n", shape.c_str(),
                       exe.status().ToString().c_str());
          return 1;
        }
        std::vector<float> emb(static_cast<size_t>(b) * static_cast<size_t>(be->embedding_dim()));
        auto run = [&]() -> bool {
          const Status st = be->Run(**exe, batch.spans, emb.data());
          if (!st.ok()) std::fprintf(stderr, "lam-bench engine --backend cuda: %s\n", st.ToString().c_str());
          return st.ok();
        };
        for (int i = 0; i < std::max(1, opt.warmup); ++i) {
          if (!run()) return 1;
        }
        // Enough runs per repetition for ~50 ms of work, so that microsecond batches are timed
        // over many replays.
        const auto t_probe = Clock::now();
        if (!run()) return 1;
        const int iters = std::clamp(static_cast<int>(0.05 / std::max(SecondsSince(t_probe), 1e-6)), 1, 10000);
        std::vector<double> tps, ms;
        for (int r = 0; r < opt.repetitions; ++r) {
          const auto t0 = Clock::now();
          for (int i = 0; i < iters; ++i) {
            if (!run()) return 1;
          }
          const double secs = SecondsSince(t0) / iters;
          tps.push_back(static_cast<double>(b) * len / secs);
          ms.push_back(secs * 1e3);
        }
        const Stats s_tps = MeanStddev(tps), s_ms = MeanStddev(ms);
        t.rows.push_back({model->label, precision, shape, Fixed(s_tps.mean, 0) + " ± " + Fixed(s_tps.stddev, 0),
                          Fixed(s_ms.mean, 3) + " ± " + Fixed(s_ms.stddev, 3), Fixed(capture_s * 1e3, 1),
                          Fixed(flops_per_token / 1e6, 2), Fixed(s_tps.mean * flops_per_token / 1e12, 2)});
      }
    }
  }
  cold.facts.emplace_back("device", device);
  t.facts.emplace_back("device", device);
  t.notes.push_back("repetitions: " + std::to_string(opt.repetitions) + " (each ~50 ms of back-to-back batches) after " +
                    std::to_string(std::max(1, opt.warmup)) + " warm-up; a batch = Backend::Run (meta upload, "
                    "graph replay, embeddings to the host, synchronise), as lamd runs it; capture = Compile "
                    "(plan, device buffers, cuBLASLt algorithms, graph capture and instantiation).");
  t.notes.push_back("GEMM MFLOP/token counts the projections' multiply-adds x 2 (LAM: 1600-column fused "
                    "in-projection, o_proj, FFN; BERT: q/k/v, output, FFN) x layers; the mixers, attention and "
                    "norms are not counted (lam-model.md §10: the whole F128 model is ~25 MFLOP/token).");
  cold.notes.push_back("Backend create without a disk cache: CUDA context, NVRTC compile of the kernel image, "
                       "weights upload; lamd pays it once at start (and with --cache-dir loads the image "
                       "instead of compiling it), a client of a warm lamd never.");
  out->push_back(std::move(cold));
  out->push_back(std::move(t));
  return 0;
}

#else

int RunCudaEngineBench(const BenchOptions&, std::vector<BenchTable>*) {
  std::fprintf(stderr, "lam-bench engine --backend cuda: this build has no CUDA backend (built without the toolkit)\n");
  return 1;
}

#endif

}  // namespace lam::bench
