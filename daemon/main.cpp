// SPDX-License-Identifier: MIT
// lamd: loads the model, listens, warms up, then serves embeddings over the control socket and
// per-client shared memory until SIGTERM, which drains in-flight work (exit 0).
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "backend/cuda/cubin_cache.h"
#include "backend/cuda/plan.h"
#include "cache/disk_cache.h"
#include "cache/executable_cache.h"
#include "cache/precompile.h"
#include "engine/engine.h"
#include "engine/model_loader.h"
#include "lam/lam_version.h"
#include "server/config.h"
#include "server/logging.h"
#include "server/server.h"
#include "server/warmup.h"

namespace {

using lam::server::Config;

// lamd --precompile [--arch sm_90] --cache-dir DIR [--model DIR]: fills DIR with the kernel image
// the CUDA backend loads at start for that architecture (cubin_cache.h LoadPlanKernels; one image
// per architecture serves every bucket), with NVRTC and no GPU, and prints what it did. --model,
// when given, must load and be of the shape the kernels are built for.
int Precompile(const Config& config) {
#if !LAM_HAVE_CUDA
  std::fprintf(stderr, "lamd --precompile: this build has no CUDA toolkit (NVRTC) for %s\n", config.arch.c_str());
  return 1;
#else
  const lam::cuda::BucketSpec spec = lam::cuda::PlanKernelSpec();
  if (!config.model.empty()) {
    auto model = lam::engine::LoadModel(config.model);
    if (!model.ok()) {
      std::fprintf(stderr, "lamd --precompile: %s\n", model.status().ToString().c_str());
      return 1;
    }
    const lam::Status shape = lam::cuda::CheckPlanShape((*model)->weights().config);
    if (!shape.ok()) {
      std::fprintf(stderr, "lamd --precompile: %s: %s\n", config.model.c_str(), shape.ToString().c_str());
      return 1;
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto r = lam::cache::Precompile(lam::cuda::kPlanKernelsModel, config.arch, {spec}, config.cache_dir,
                                  config.cache_max_bytes);
  if (!r.ok()) {
    std::fprintf(stderr, "lamd --precompile: %s\n", r.status().ToString().c_str());
    return 1;
  }
  for (const auto& b : *r) {
    std::printf("%s plan kernels (%s): %s, %llu bytes, %.1f ms  %s\n", config.arch.c_str(), b.bucket.c_str(),
                b.already_cached ? "already cached" : "compiled", static_cast<unsigned long long>(b.cubin_bytes),
                b.compile_ms, b.file.c_str());
  }
  std::printf("kernel image for %s in %s in %.1f ms: a CUDA lamd on %s with --cache-dir %s starts without NVRTC\n",
              config.arch.c_str(), config.cache_dir.c_str(),
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count(),
              config.arch.c_str(), config.cache_dir.c_str());
  return 0;
#endif
}

int Main(int argc, char** argv) {
  Config config;
  if (const char* env = std::getenv("LAMD_SOCKET"); env != nullptr && env[0] != '\0') config.socket = env;
  lam::server::CommandLine command_line;
  lam::Status st = lam::server::ParseCommandLine(&config, argc, argv, &command_line);
  if (!st.ok()) {
    std::fprintf(stderr, "lamd: %s\nrun 'lamd --help' for the flags\n", st.message().c_str());
    return 2;
  }
  if (command_line.help) {
    std::fputs(lam::server::UsageText().c_str(), stdout);
    return 0;
  }
  if (command_line.version) {
    std::printf("lamd %s (%s)\n", LAM_VERSION_STRING, LAM_BUILD_COMMIT);
    return 0;
  }
  if (command_line.precompile) return Precompile(config);
  if (config.model.empty()) {
    std::fprintf(stderr, "lamd: --model DIR is required (or `model` in the --config file)\nrun 'lamd --help' for the flags\n");
    return 2;
  }
  const char* journal = std::getenv("JOURNAL_STREAM");
  st = lam::server::SetupLogging(config.log_level, journal != nullptr && journal[0] != '\0');
  if (!st.ok()) {
    std::fprintf(stderr, "lamd: %s\n", st.message().c_str());
    return 2;
  }
  const auto log = lam::server::Logger("main");
  log->info("lamd {} ({}) starting: model {}, backend {}, socket {}", LAM_VERSION_STRING, LAM_BUILD_COMMIT,
            config.model, config.backend, config.socket);
  sd_notify(0, "STATUS=loading model");

  // The persistent executable cache: what a backend can persist is loaded from here instead of
  // compiled. An unusable directory only costs the restart speed-up, so lamd goes on without it.
  std::unique_ptr<lam::cache::DiskCache> disk;
  if (!config.cache_dir.empty() && config.cache_dir != "none") {
    lam::cache::DiskCacheOptions dco;
    dco.dir = config.cache_dir;
    dco.max_bytes = config.cache_max_bytes;
    auto d = lam::cache::DiskCache::Open(dco);
    if (d.ok()) {
      disk = std::move(d).value();
      lam::cache::ExecutableCache::Global().AttachDisk(disk.get());
      log->info("executable cache directory {}", config.cache_dir);
    } else {
      log->warn("executable cache directory unusable, continuing in memory only: {}", d.status().ToString());
      config.cache_dir = "none";  // what status shows
    }
  }

  lam::engine::EngineOptions eo;
  eo.backend = config.backend;
  eo.threads = config.threads;
  eo.precision = config.precision;
  eo.device = config.device;
  auto engine = lam::engine::Engine::Open(config.model, eo);
  if (!engine.ok()) {
    log->critical("cannot load model {}: {}", config.model, engine.status().ToString());
    sd_notifyf(0, "STATUS=model load failed: %s", engine.status().message().c_str());
    return 1;
  }
  const auto& mi = (*engine)->info();
  log->info("model {} loaded: {} {} layers, dim {}, max {} tokens, fingerprint {}, {} on {}", mi.name,
            lam::engine::family_name(mi.config.family), mi.config.layers, mi.embedding_dim,
            mi.config.max_tokens, mi.fingerprint, mi.precision, (*engine)->backend_name());
  // The control socket and the HTTP listeners answer from here on; requests are admitted once
  // the warm-up (on its own thread) is done, and READY=1 goes to systemd then (server.cpp).
  lam::engine::Engine* eng = engine->get();
  lam::server::Server server(config, eng,
                             [eng](const lam::server::WarmupProgressFn& progress) { return lam::server::WarmEngine(eng, progress); });
  st = server.Start();
  if (!st.ok()) {
    log->critical("cannot serve: {}", st.ToString());
    sd_notifyf(0, "STATUS=failed: %s", st.message().c_str());
    return 1;
  }
  log->info("listening on {}; warming up", config.socket);
  const int rc = server.Run();
  log->info("exiting with status {}", rc);
  if (server.must_exit_now()) {
    // The scheduler's worker still computes a batch that nobody will read: end here, without
    // the destructors (they would wait for it, or free the engine under it).
    spdlog::shutdown();
    std::_Exit(rc);
  }
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lamd: fatal: %s\n", e.what());
    return 1;
  }
}
