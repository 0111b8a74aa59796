// SPDX-License-Identifier: MIT
// lamd: loads and warms the model, then serves embeddings over the control socket and
// per-client shared memory until SIGTERM, which drains in-flight work (exit 0).
#include <systemd/sd-daemon.h>

#include <algorithm>
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

namespace {

using lam::server::Config;

// Compiles (or loads) every executable the engine is configured for, so that no request
// pays for a compile after READY=1, then runs one short sequence through the whole path.
lam::Result<lam::server::WarmupInfo> Warmup(lam::engine::Engine* engine) {
  lam::server::WarmupInfo info;
  const auto log = lam::server::Logger("warmup");
  const auto t0 = std::chrono::steady_clock::now();
  LAM_RETURN_IF_ERROR(engine->CompileAll());
  const auto& mc = engine->info().config;
  std::vector<int32_t> ids(std::min(16, mc.max_tokens));
  for (size_t j = 0; j < ids.size(); ++j) ids[j] = static_cast<int32_t>((j * 7 + 1) % static_cast<size_t>(mc.vocab_size));
  std::vector<float> out(static_cast<size_t>(engine->info().embedding_dim));
  lam::engine::TokenSpan span{ids.data(), ids.size()};
  LAM_RETURN_IF_ERROR(engine->Embed({&span, 1}, out.data()));
  info.total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& b : engine->buckets()) info.buckets.push_back(b.ToString());
  log->info("{} executables ready in {:.3f} s", engine->stats().executables, info.total_seconds);
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
  auto warm = Warmup(engine->get());
  if (!warm.ok()) {
    log->critical("warmup failed: {}", warm.status().ToString());
    return 1;
  }
  log->info("warmup done: {} buckets in {:.3f} s", warm->buckets.size(), warm->total_seconds);

  lam::server::Server server(config, engine->get(), std::move(warm.value()));
  st = server.Start();
  if (!st.ok()) {
    log->critical("cannot serve: {}", st.ToString());
    sd_notifyf(0, "STATUS=failed: %s", st.message().c_str());
    return 1;
  }
  log->info("serving on {}", config.socket);
  sd_notifyf(0, "READY=1\nSTATUS=serving %s (%s)", mi.name.c_str(), (*engine)->backend_name());
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
