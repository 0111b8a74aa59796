// SPDX-License-Identifier: MIT
// Cache suite: what the executable cache saves.
//   * CPU backend: compile time per bucket vs a resident hit (ExecutableCache lookups), and time
//     to ready (warm every bucket) with an empty cache vs with everything resident. The CPU
//     backend persists nothing (oneDNN CPU primitives cannot be serialised), so a restart of a
//     CPU-only lamd pays the compile column again; this is reported, not hidden.
//   * NVRTC path (built with the CUDA toolkit; no GPU needed): compile vs disk load per bucket
//     through CompileOrLoad, and time to ready through Precompile into an empty directory vs the
//     same directory warm — the restart case where compilation is real.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "bench.h"
#include "cache/cache_key.h"
#include "cache/disk_cache.h"
#include "cache/executable_cache.h"
#include "cache/precompile.h"
#include "engine/engine.h"
#include "engine/model_loader.h"
#include "engine/synthetic_model.h"
#if LAM_HAVE_CUDA
#include "backend/cuda/cubin_cache.h"
#endif

namespace lam::bench {
namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::string MeanSd(const std::vector<double>& xs, int digits) {
  const Stats s = MeanStddev(xs);
  return Fixed(s.mean, digits) + " ± " + Fixed(s.stddev, digits);
}

int CpuTables(const BenchOptions& opt, std::vector<BenchTable>* out) {
  std::unique_ptr<engine::LoadedModel> loaded;
  std::unique_ptr<engine::SyntheticModel> synthetic;
  const engine::ModelWeights* weights = nullptr;
  std::string model_name, fingerprint;
  if (!opt.model_dir.empty()) {
    auto m = engine::LoadModel(opt.model_dir);
    if (!m.ok()) {
      std::fprintf(stderr, "lam-bench cache: %s\n", m.status().ToString().c_str());
      return 1;
    }
    loaded = std::move(m).value();
    weights = &loaded->weights();
    model_name = loaded->name();
    fingerprint = loaded->fingerprint();
  } else {
    synthetic = std::make_unique<engine::SyntheticModel>(engine::Variant::kF128, 1, 6);
    weights = &synthetic->weights();
    model_name = "synthetic f128 (6 layers)";
    fingerprint = "synthetic-f128";
  }
  cpu::CpuBackendOptions bo;
  bo.threads = opt.threads;
  auto be = cpu::CpuBackend::Create(*weights, bo);
  if (!be.ok()) {
    std::fprintf(stderr, "lam-bench cache: %s\n", be.status().ToString().c_str());
    return 1;
  }
  cache::ExecutableIdentity id;
  id.model_fingerprint = fingerprint;
  id.backend = "cpu";
  id.device = cache::HostCpuIsa() + "/t" + std::to_string((*be)->concurrency());
  id.toolkit = "onednn";
  id.artifact = "cpu-exe";
  const std::vector<backend::Bucket> buckets = engine::DefaultBuckets();
  const int reps = std::max(1, opt.repetitions);

  BenchTable per;
  per.title = "Executable cache, CPU backend: compile vs resident hit per bucket (" + model_name + ")";
  per.columns = {"bucket", "workspace MiB", "compile ms", "hit µs", "compile / hit"};
  std::vector<double> cold_ready, warm_ready;
  std::vector<std::vector<double>> compile_ms(buckets.size());
  for (int r = 0; r < reps + opt.warmup; ++r) {
    cache::ExecutableCache c;
    const auto t0 = Clock::now();
    Status st = c.Warm(**be, id, buckets, [&](const cache::WarmProgress& p) {
      if (r >= opt.warmup) compile_ms[p.index - 1].push_back(p.ms);
    });
    const double cold = MsSince(t0);
    if (!st.ok()) {
      std::fprintf(stderr, "lam-bench cache: %s\n", st.ToString().c_str());
      return 1;
    }
    const auto t1 = Clock::now();
    st = c.Warm(**be, id, buckets);
    const double warm = MsSince(t1);
    if (r >= opt.warmup) {
      cold_ready.push_back(cold);
      warm_ready.push_back(warm);
    }
    if (r + 1 == reps + opt.warmup) {
      for (size_t i = 0; i < buckets.size(); ++i) {
        constexpr int kHits = 100000;
        const auto th = Clock::now();
        for (int h = 0; h < kHits; ++h) {
          auto lease = c.GetOrCompile(**be, id, buckets[i]);
          if (!lease.ok()) return 1;
        }
        const double hit_us = MsSince(th) * 1000.0 / kHits;
        const double cms = MeanStddev(compile_ms[i]).mean;
        uint64_t bytes = 0;
        for (const auto& s : c.List()) {
          if (s.bucket == buckets[i].ToString()) bytes = s.bytes;
        }
        per.rows.push_back({buckets[i].ToString(), Fixed(bytes / 1048576.0, 1), MeanSd(compile_ms[i], 2),
                            Fixed(hit_us, 3), Fixed(cms * 1000.0 / hit_us, 0) + "×"});
      }
      c.ForgetBackend(be->get());
    }
  }
  per.notes.push_back("compile = oneDNN execution contexts and scratchpads per worker plus workspaces sized "
                      "for the bucket (weights are packed once per backend); hit = ExecutableCache::GetOrCompile "
                      "on a resident key, mean of 100000; " + std::to_string(reps) + " repetitions.");
  per.notes.push_back("CPU executables are not persisted (oneDNN 2.6 cannot serialise CPU primitives): a restart "
                      "recompiles, at the cost in the compile column.");
  out->push_back(std::move(per));

  BenchTable ready;
  ready.title = "Executable cache, CPU backend: time to ready (warm " + std::to_string(buckets.size()) + " buckets)";
  ready.columns = {"state", "ms"};
  ready.rows.push_back({"empty cache (compile all)", MeanSd(cold_ready, 2)});
  ready.rows.push_back({"all resident", MeanSd(warm_ready, 4)});
  out->push_back(std::move(ready));
  return 0;
}

#if LAM_HAVE_CUDA
int NvrtcTables(const BenchOptions& opt, std::vector<BenchTable>* out) {
  namespace fs = std::filesystem;
  const std::string arch = "sm_90";
  const std::string fingerprint = "bench-nvrtc";
  const std::vector<cuda::BucketSpec> specs = {cuda::BucketSpec::Packed(128), cuda::BucketSpec::Packed(512),
                                               cuda::BucketSpec::Packed(2048), cuda::BucketSpec::Packed(8192)};
  const int reps = std::max(1, std::min(opt.repetitions, 3));  // NVRTC compiles take seconds
  const fs::path base = fs::temp_directory_path() / ("lam-bench-cache-" + std::to_string(::getpid()));
  std::vector<std::vector<double>> compile_ms(specs.size()), load_ms(specs.size());
  std::vector<double> cold_ready, warm_ready;
  for (int r = 0; r < reps; ++r) {
    const fs::path dir = base / std::to_string(r);
    fs::remove_all(dir);
    // Per bucket: compile into an empty directory, then load from it with a fresh DiskCache
    // (as a restarted process would).
    cache::DiskCacheOptions o;
    o.dir = dir.string();
    for (size_t i = 0; i < specs.size(); ++i) {
      auto d1 = cache::DiskCache::Open(o);
      if (!d1.ok()) {
        std::fprintf(stderr, "lam-bench cache: %s\n", d1.status().ToString().c_str());
        return 1;
      }
      auto c = cuda::CompileOrLoad(specs[i], arch, fingerprint, **d1);
      if (!c.ok() || c->disk_hit) {
        std::fprintf(stderr, "lam-bench cache: NVRTC compile of %s failed: %s\n", specs[i].Name().c_str(),
                     c.ok() ? "unexpected hit" : c.status().ToString().c_str());
        return 1;
      }
      compile_ms[i].push_back(c->compile_ms);
      auto d2 = cache::DiskCache::Open(o);
      if (!d2.ok()) return 1;
      auto l = cuda::CompileOrLoad(specs[i], arch, fingerprint, **d2);
      if (!l.ok() || !l->disk_hit) {
        std::fprintf(stderr, "lam-bench cache: no disk hit for %s\n", specs[i].Name().c_str());
        return 1;
      }
      load_ms[i].push_back(l->load_ms);
    }
    // Time to ready through the offline precompile: empty directory vs the warm one.
    const fs::path pdir = base / ("pre-" + std::to_string(r));
    fs::remove_all(pdir);
    auto t0 = Clock::now();
    auto cold = cache::Precompile(fingerprint, arch, specs, pdir.string());
    cold_ready.push_back(MsSince(t0));
    t0 = Clock::now();
    auto warm = cache::Precompile(fingerprint, arch, specs, pdir.string());
    warm_ready.push_back(MsSince(t0));
    if (!cold.ok() || !warm.ok()) {
      std::fprintf(stderr, "lam-bench cache: precompile failed\n");
      return 1;
    }
  }
  fs::remove_all(base);

  BenchTable per;
  per.title = "Executable cache, NVRTC path (" + arch + "): compile vs disk load per bucket";
  per.columns = {"bucket", "compile ms", "load ms", "compile / load"};
  for (size_t i = 0; i < specs.size(); ++i) {
    const double c = MeanStddev(compile_ms[i]).mean, l = MeanStddev(load_ms[i]).mean;
    per.rows.push_back({specs[i].Name(), MeanSd(compile_ms[i], 1), MeanSd(load_ms[i], 3), Fixed(c / l, 0) + "×"});
  }
  per.notes.push_back("load = DiskCache read + checksum + cubin ELF/kernel validation, fresh DiskCache per load; " +
                      std::to_string(reps) + " repetitions.");
  out->push_back(std::move(per));
  BenchTable ready;
  ready.title = "Executable cache, NVRTC path: time to ready via lamd --precompile (" +
                std::to_string(specs.size()) + " buckets)";
  ready.columns = {"cache directory", "ms", "cold / warm"};
  const double c = MeanStddev(cold_ready).mean, w = MeanStddev(warm_ready).mean;
  ready.rows.push_back({"empty", MeanSd(cold_ready, 1), ""});
  ready.rows.push_back({"warm", MeanSd(warm_ready, 2), Fixed(c / w, 0) + "×"});
  out->push_back(std::move(ready));
  return 0;
}
#endif

}  // namespace

int RunCacheBench(const BenchOptions& opt, std::vector<BenchTable>* out) {
  if (int rc = CpuTables(opt, out); rc != 0) return rc;
#if LAM_HAVE_CUDA
  return NvrtcTables(opt, out);
#else
  BenchTable t;
  t.title = "Executable cache, NVRTC path";
  t.notes.push_back("not measured: this build has no CUDA toolkit (NVRTC)");
  out->push_back(std::move(t));
  return 0;
#endif
}

}  // namespace lam::bench
