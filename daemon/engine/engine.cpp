// SPDX-License-Identifier: MIT
#include "engine/engine.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_bert.h"
#include "engine/model_loader.h"

namespace lam::engine {
namespace {

constexpr int kEmbeddingDim = 384;

class EngineImpl final : public Engine {
 public:
  EngineImpl(std::shared_ptr<const void> owner, ModelInfo info,
             std::unique_ptr<backend::Backend> backend, std::vector<backend::Bucket> buckets)
      : owner_(std::move(owner)),
        info_(std::move(info)),
        backend_(std::move(backend)),
        buckets_(std::move(buckets)) {}

  const ModelInfo& info() const override { return info_; }
  const char* backend_name() const override { return backend_->name(); }
  const std::vector<backend::Bucket>& buckets() const override { return buckets_; }

  Status Validate(std::span<const TokenSpan> batch) const override {
    if (batch.empty()) return Status(LAM_STATUS_EMPTY_BATCH, "the batch has no sequences");
    const ModelConfig& c = info_.config;
    for (size_t b = 0; b < batch.size(); ++b) {
      const TokenSpan& sp = batch[b];
      if (sp.len == 0) {
        return Status(LAM_STATUS_EMPTY_SEQUENCE, "sequence " + std::to_string(b) + " is empty");
      }
      if (sp.len > static_cast<size_t>(c.max_tokens)) {
        return Status(LAM_STATUS_SEQUENCE_TOO_LONG,
                      "sequence " + std::to_string(b) + " has " + std::to_string(sp.len) +
                          " tokens, more than the model maximum " + std::to_string(c.max_tokens) +
                          " (first excess token at position " + std::to_string(c.max_tokens) + ")");
      }
      if (sp.ids == nullptr) {
        return Status(LAM_STATUS_INVALID_ARG, "sequence " + std::to_string(b) + " has no id buffer");
      }
      for (size_t t = 0; t < sp.len; ++t) {
        const int32_t id = sp.ids[t];
        if (id < 0 || id >= c.vocab_size) {
          return Status(LAM_STATUS_TOKEN_OUT_OF_RANGE,
                        "token id " + std::to_string(id) + " at position " + std::to_string(t) +
                            " of sequence " + std::to_string(b) +
                            (id < 0 ? std::string(" is negative")
                                    : " is >= vocab size " + std::to_string(c.vocab_size)));
        }
      }
    }
    return Status::Ok();
  }

  Status Embed(std::span<const TokenSpan> batch, float* out) override {
    LAM_RETURN_IF_ERROR(Validate(batch));
    if (out == nullptr) return Status(LAM_STATUS_INVALID_ARG, "output buffer is null");
    std::lock_guard<std::mutex> lock(mu_);
    // Greedy split in order: each sub-batch fits the largest bucket, then runs in the smallest
    // bucket that holds it. Results never depend on the split (packed, per-sequence maths).
    const backend::Bucket& largest = buckets_.back();
    size_t begin = 0;
    while (begin < batch.size()) {
      size_t end = begin, tokens = 0;
      while (end < batch.size() && largest.Fits(end - begin + 1, tokens + batch[end].len)) {
        tokens += batch[end].len;
        ++end;
      }
      const auto sub = batch.subspan(begin, end - begin);
      const backend::Bucket* pick = nullptr;
      for (const auto& b : buckets_) {
        if (b.Fits(sub.size(), tokens)) {
          pick = &b;
          break;
        }
      }
      backend::Executable* exe = nullptr;
      LAM_RETURN_IF_ERROR(GetExecutable(*pick, &exe));
      ++stats_.runs;
      LAM_RETURN_IF_ERROR(backend_->Run(*exe, sub, out + begin * kEmbeddingDim));
      begin = end;
    }
    return Status::Ok();
  }

  Status CompileAll() override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& b : buckets_) {
      if (cache_.count(b) != 0) continue;
      backend::Executable* exe = nullptr;
      LAM_RETURN_IF_ERROR(GetExecutable(b, &exe));
    }
    return Status::Ok();
  }

  EngineStats stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  // Caller holds mu_.
  Status GetExecutable(const backend::Bucket& b, backend::Executable** exe) {
    auto it = cache_.find(b);
    if (it != cache_.end()) {
      ++stats_.hits;
      *exe = it->second.get();
      return Status::Ok();
    }
    const auto t0 = std::chrono::steady_clock::now();
    LAM_ASSIGN_OR_RETURN(auto compiled, backend_->Compile(b));
    stats_.compile_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++stats_.compiles;
    ++stats_.executables;
    stats_.executable_bytes += compiled->byte_size();
    *exe = compiled.get();
    cache_.emplace(b, std::move(compiled));
    return Status::Ok();
  }

  std::shared_ptr<const void> owner_;
  ModelInfo info_;
  std::unique_ptr<backend::Backend> backend_;
  std::vector<backend::Bucket> buckets_;
  mutable std::mutex mu_;
  std::map<backend::Bucket, std::unique_ptr<backend::Executable>> cache_;
  EngineStats stats_;
};

Status CheckBackendName(const std::string& name) {
  if (name == "cpu" || name == "auto") return Status::Ok();
  if (name == "cuda") {
    return Status(LAM_STATUS_UNSUPPORTED,
                  "backend 'cuda' is not available: this engine has no CUDA backend compiled in; "
                  "use 'cpu' or 'auto'");
  }
  return Status(LAM_STATUS_INVALID_ARG,
                "unknown backend '" + name + "' (expected 'cpu', 'cuda' or 'auto')");
}

}  // namespace

std::vector<backend::Bucket> DefaultBuckets() {
  return {{64, 128}, {64, 512}, {64, 2048}, {64, 8192}};
}

Result<std::unique_ptr<Engine>> Engine::FromWeights(std::shared_ptr<const void> owner,
                                                    const ModelWeights& weights, ModelInfo info,
                                                    const EngineOptions& options) {
  LAM_RETURN_IF_ERROR(CheckBackendName(options.backend));
  std::vector<backend::Bucket> buckets = options.buckets.empty() ? DefaultBuckets() : options.buckets;
  for (const auto& b : buckets) {
    if (b.max_sequences < 1 || b.token_budget < b.max_sequences) {
      return Status(LAM_STATUS_INVALID_ARG, "bucket " + b.ToString() +
                                                " is invalid (need 1 <= sequences <= token budget)");
    }
  }
  std::sort(buckets.begin(), buckets.end(), [](const backend::Bucket& a, const backend::Bucket& b) {
    return a.token_budget != b.token_budget ? a.token_budget < b.token_budget
                                            : a.max_sequences < b.max_sequences;
  });
  buckets.erase(std::unique(buckets.begin(), buckets.end()), buckets.end());
  const auto max_seqs = std::max_element(buckets.begin(), buckets.end(), [](const auto& a, const auto& b) {
    return a.max_sequences < b.max_sequences;
  });
  if (buckets.back().token_budget < weights.config.max_tokens || max_seqs->max_sequences != buckets.back().max_sequences) {
    return Status(LAM_STATUS_INVALID_ARG,
                  "the largest bucket " + buckets.back().ToString() + " must hold one sequence of max_tokens " +
                      std::to_string(weights.config.max_tokens) + " and the most sequences of any bucket");
  }
  std::unique_ptr<backend::Backend> cpu;
  if (weights.config.family == Family::kBert) {
    LAM_ASSIGN_OR_RETURN(cpu, cpu::CpuBertBackend::Create(weights, options.threads));
  } else {
    cpu::CpuBackendOptions cpu_options;
    cpu_options.threads = options.threads;
    LAM_ASSIGN_OR_RETURN(cpu, cpu::CpuBackend::Create(weights, cpu_options));
  }
  info.config = weights.config;
  info.embedding_dim = kEmbeddingDim;
  return std::unique_ptr<Engine>(
      new EngineImpl(std::move(owner), std::move(info), std::move(cpu), std::move(buckets)));
}

Result<std::unique_ptr<Engine>> Engine::Open(const std::string& model_dir,
                                             const EngineOptions& options) {
  LAM_RETURN_IF_ERROR(CheckBackendName(options.backend));
  LAM_ASSIGN_OR_RETURN(std::unique_ptr<LoadedModel> model, LoadModel(model_dir));
  std::shared_ptr<const LoadedModel> shared(std::move(model));
  ModelInfo info;
  info.name = shared->name();
  info.fingerprint = shared->fingerprint();
  const ModelWeights& weights = shared->weights();
  return FromWeights(shared, weights, std::move(info), options);
}

}  // namespace lam::engine
