// SPDX-License-Identifier: MIT
#include "server/warmup.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "server/logging.h"

namespace lam::server {

Result<WarmupInfo> WarmEngine(engine::Engine* engine, const WarmupProgressFn& progress) {
  WarmupInfo info;
  const auto log = Logger("warmup");
  const auto t0 = std::chrono::steady_clock::now();
  LAM_RETURN_IF_ERROR(engine->Warm([&](const cache::WarmProgress& p) {
    log->info("warmup [{}/{}] bucket {}: {} in {:.1f} ms", p.index, p.total, p.bucket, cache::WarmSourceName(p.source),
              p.ms);
    char ms[32];
    std::snprintf(ms, sizeof(ms), "%.1fms", p.ms);
    info.steps.push_back(p.bucket + ":" + cache::WarmSourceName(p.source) + ":" + ms);
    if (progress) progress(p);
  }));
  // One short sequence end to end: first-touch costs (thread pools, scratch) are paid here.
  const auto& mc = engine->info().config;
  std::vector<int32_t> ids(static_cast<size_t>(std::min(16, mc.max_tokens)));
  for (size_t j = 0; j < ids.size(); ++j) ids[j] = static_cast<int32_t>((j * 7 + 1) % static_cast<size_t>(mc.vocab_size));
  std::vector<float> out(static_cast<size_t>(engine->info().embedding_dim));
  const engine::TokenSpan span{ids.data(), ids.size()};
  LAM_RETURN_IF_ERROR(engine->Embed({&span, 1}, out.data()));
  info.total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& b : engine->buckets()) info.buckets.push_back(b.ToString());
  log->info("{} executables ready in {:.3f} s", engine->stats().executables, info.total_seconds);
  return info;
}

}  // namespace lam::server
