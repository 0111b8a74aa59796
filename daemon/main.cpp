// SPDX-License-Identifier: MIT
// lamd: loads and warms the model, then serves embeddings over the control socket and
// per-client shared memory until SIGTERM, which drains in-flight work (exit 0).
#include <systemd/sd-daemon.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "lam/lam_version.h"
#include "server/config.h"
#include "server/logging.h"
#include "server/server.h"
#include "scheduler/scheduler.h"

namespace {

using lam::server::Config;

// Runs one sequence per bucket up to config.warmup_max_tokens so that every shape the
// scheduler will use is compiled (or loaded) before READY=1.
lam::Result<lam::server::WarmupInfo> Warmup(lam::engine::Engine* engine, const Config& config) {
  lam::server::WarmupInfo info;
  const auto& mc = engine->info().config;
  std::vector<uint32_t> lengths = config.buckets.empty()
                                      ? lam::scheduler::DefaultBuckets(static_cast<uint32_t>(mc.max_tokens))
                                      : config.buckets;
  const auto log = lam::server::Logger("warmup");
  const auto t_all = std::chrono::steady_clock::now();
  std::vector<float> out(static_cast<size_t>(engine->info().embedding_dim));
  for (uint32_t len : lengths) {
    if (len > config.warmup_max_tokens || len > static_cast<uint32_t>(mc.max_tokens) || len == 0) continue;
    std::vector<int32_t> ids(len);
    for (uint32_t j = 0; j < len; ++j) ids[j] = static_cast<int32_t>((j * 7u + 1u) % static_cast<uint32_t>(mc.vocab_size));
    lam::engine::TokenSpan span{ids.data(), ids.size()};
    const auto t0 = std::chrono::steady_clock::now();
    LAM_RETURN_IF_ERROR(engine->Embed({&span, 1}, out.data()));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    info.lengths.push_back(len);
    info.seconds.push_back(s);
    log->info("bucket {} warmed in {:.3f} s", len, s);
    sd_notifyf(0, "STATUS=warming up: bucket %u done", len);
  }
  info.total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_all).count();
  return info;
}

int Main(int argc, char** argv) {
  Config config;
  if (const char* env = std::getenv("LAMD_SOCKET"); env != nullptr && env[0] != '\0') config.socket = env;
  bool help = false, version = false;
  lam::Status st = lam::server::ParseCommandLine(&config, argc, argv, &help, &version);
  if (!st.ok()) {
    std::fprintf(stderr, "lamd: %s\n%s", st.message().c_str(), lam::server::UsageText().c_str());
    return 2;
  }
  if (help) {
    std::fputs(lam::server::UsageText().c_str(), stdout);
    return 0;
  }
  if (version) {
    std::printf("lamd %s (%s)\n", LAM_VERSION_STRING, LAM_BUILD_COMMIT);
    return 0;
  }
  if (config.model.empty()) {
    std::fprintf(stderr, "lamd: --model DIR is required\n%s", lam::server::UsageText().c_str());
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

  lam::engine::EngineOptions eo;
  eo.backend = config.backend;
  eo.threads = config.threads;
  auto engine = lam::engine::Engine::Open(config.model, eo);
  if (!engine.ok()) {
    log->critical("cannot load model {}: {}", config.model, engine.status().ToString());
    sd_notifyf(0, "STATUS=model load failed: %s", engine.status().message().c_str());
    return 1;
  }
  const auto& mi = (*engine)->info();
  log->info("model {} loaded: {} {} layers, dim {}, max {} tokens, fingerprint {}", mi.name,
            lam::engine::family_name(mi.config.family), mi.config.layers, mi.embedding_dim,
            mi.config.max_tokens, mi.fingerprint);
  sd_notify(0, "STATUS=warming up");
  auto warm = Warmup(engine->get(), config);
  if (!warm.ok()) {
    log->critical("warmup failed: {}", warm.status().ToString());
    return 1;
  }
  log->info("warmup done: {} buckets in {:.3f} s", warm->lengths.size(), warm->total_seconds);

  lam::server::Server server(config, engine->get(), std::move(warm.value()));
  st = server.Start();
  if (!st.ok()) {
    log->critical("cannot serve: {}", st.ToString());
    sd_notifyf(0, "STATUS=failed: %s", st.message().c_str());
    return 1;
  }
  log->info("serving on {}", config.socket);
  sd_notifyf(0, "READY=1\nSTATUS=serving %s (%s)", mi.name.c_str(), config.backend.c_str());
  const int rc = server.Run();
  log->info("exiting with status {}", rc);
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
