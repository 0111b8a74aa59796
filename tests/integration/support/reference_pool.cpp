// SPDX-License-Identifier: MIT
#include "integration/support/reference_pool.h"

#include <cstdio>
#include <cstdlib>

#include "engine/engine.h"
#include "integration/support/lamd_harness.h"

namespace lam::itest {

ReferencePool ReferencePool::Build(const std::string& model_dir, uint32_t n, uint32_t max_len, uint64_t seed) {
  ReferencePool p;
  engine::EngineOptions eo;
  eo.backend = "cpu";
  auto engine = engine::Engine::Open(model_dir, eo);
  if (!engine.ok()) {
    std::fprintf(stderr, "Engine::Open: %s\n", engine.status().ToString().c_str());
    std::abort();
  }
  p.dim = static_cast<uint32_t>((*engine)->info().embedding_dim);
  std::vector<engine::TokenSpan> spans;
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t len = 2 + static_cast<uint32_t>((seed * 7919 + i * 104729) % (max_len - 1));
    p.seqs.push_back(RandomSequence(seed * 1000003 + i, len));
  }
  for (const auto& s : p.seqs) spans.push_back({s.data(), s.size()});
  std::vector<float> out(static_cast<size_t>(n) * p.dim);
  // Sub-batches of 16: the engine's results do not depend on batch mates.
  for (size_t b = 0; b < spans.size(); b += 16) {
    const size_t m = std::min<size_t>(16, spans.size() - b);
    lam::Status st = (*engine)->Embed({spans.data() + b, m}, out.data() + b * p.dim);
    if (!st.ok()) {
      std::fprintf(stderr, "Embed: %s\n", st.ToString().c_str());
      std::abort();
    }
  }
  for (uint32_t i = 0; i < n; ++i) p.embeddings.emplace_back(out.begin() + i * p.dim, out.begin() + (i + 1) * p.dim);
  return p;
}

bool ReferencePool::Save(const std::string& path) const {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const uint32_t n = static_cast<uint32_t>(seqs.size());
  std::fwrite(&n, 4, 1, f);
  std::fwrite(&dim, 4, 1, f);
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t len = static_cast<uint32_t>(seqs[i].size());
    std::fwrite(&len, 4, 1, f);
    std::fwrite(seqs[i].data(), 4, len, f);
    std::fwrite(embeddings[i].data(), 4, dim, f);
  }
  return std::fclose(f) == 0;
}

bool ReferencePool::Load(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  uint32_t n = 0;
  bool ok = std::fread(&n, 4, 1, f) == 1 && std::fread(&dim, 4, 1, f) == 1 && dim > 0 && dim < 100000;
  for (uint32_t i = 0; ok && i < n; ++i) {
    uint32_t len = 0;
    ok = std::fread(&len, 4, 1, f) == 1 && len < 1000000;
    if (!ok) break;
    seqs.emplace_back(len);
    embeddings.emplace_back(dim);
    ok = std::fread(seqs.back().data(), 4, len, f) == len && std::fread(embeddings.back().data(), 4, dim, f) == dim;
  }
  std::fclose(f);
  return ok;
}

}  // namespace lam::itest
