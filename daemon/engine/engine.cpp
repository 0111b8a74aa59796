// SPDX-License-Identifier: MIT
#include "engine/engine.h"

#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>

#include <spdlog/spdlog.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_bert.h"
#include "backend/cpu/cpu_precision.h"
#include "cache/cache_key.h"
#include "engine/model_loader.h"
#if LAM_HAVE_CUDA
#include "backend/cuda/cuda_module.h"
#endif

namespace lam::engine {
namespace {

constexpr int kEmbeddingDim = 384;

class EngineImpl final : public Engine {
 public:
  EngineImpl(std::shared_ptr<const void> owner, ModelInfo info,
             std::unique_ptr<backend::Backend> backend, std::vector<backend::Bucket> buckets,
             cache::ExecutableCache* cache, cache::ExecutableIdentity id)
      : owner_(std::move(owner)),
        info_(std::move(info)),
        backend_(std::move(backend)),
        buckets_(std::move(buckets)),
        cache_(cache),
        id_(std::move(id)) {}
  ~EngineImpl() override { cache_->ForgetBackend(backend_.get()); }

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
      backend::Bucket on_demand;
      const backend::Bucket* pick = nullptr;
      if (end == begin) {
        // Longer than every configured bucket but valid: alone, in a bucket of its own.
        tokens = batch[begin].len;
        end = begin + 1;
        on_demand = OnDemandBucket(tokens);
        pick = &on_demand;
      }
      const auto sub = batch.subspan(begin, end - begin);
      for (const auto& b : buckets_) {
        if (pick != nullptr) break;
        if (b.Fits(sub.size(), tokens)) pick = &b;
      }
      LAM_ASSIGN_OR_RETURN(cache::ExecutableCache::Lease exe, cache_->GetOrCompile(*backend_, id_, *pick));
      ++runs_;
      LAM_RETURN_IF_ERROR(backend_->Run(*exe, sub, out + begin * kEmbeddingDim));
      begin = end;
    }
    return Status::Ok();
  }

  Status CompileAll() override { return Warm({}); }

  Status Warm(const std::function<void(const cache::WarmProgress&)>& progress) override {
    return cache_->Warm(*backend_, id_, buckets_, progress);
  }

  EngineStats stats() const override {
    const cache::CacheTotals t = cache::ExecutableCache::Sum(ExecutableStats());
    EngineStats s;
    s.compiles = t.compiles;
    s.hits = t.hits;
    s.misses = t.misses;
    s.loads = t.loads;
    s.runs = runs_.load();
    s.executables = t.resident;
    s.executable_bytes = t.bytes;
    s.compile_seconds = t.compile_ms / 1000.0;
    s.load_seconds = t.load_ms / 1000.0;
    return s;
  }

  std::vector<cache::BucketStats> ExecutableStats() const override { return cache_->ListFor(backend_.get()); }
  size_t ClearExecutables() override { return cache_->Clear(backend_.get()); }

 private:
  // Token budget for a sequence of `len` tokens beyond the largest bucket: the next power of
  // two, capped at the model maximum, so nearby lengths share one on-demand executable.
  backend::Bucket OnDemandBucket(size_t len) const {
    size_t budget = 1;
    while (budget < len) budget *= 2;
    budget = std::max(len, std::min(budget, static_cast<size_t>(info_.config.max_tokens)));
    return backend::Bucket{1, static_cast<int>(budget)};
  }

  std::shared_ptr<const void> owner_;
  ModelInfo info_;
  std::unique_ptr<backend::Backend> backend_;
  std::vector<backend::Bucket> buckets_;
  cache::ExecutableCache* cache_;
  cache::ExecutableIdentity id_;
  std::mutex mu_;  // one Run per executable at a time: Embed calls are serialised
  std::atomic<uint64_t> runs_{0};
};

Status CheckBackendName(const std::string& name) {
  if (name == "cpu" || name == "auto" || name == "cuda") return Status::Ok();
  return Status(LAM_STATUS_INVALID_ARG,
                "unknown backend '" + name + "' (expected 'cpu', 'cuda' or 'auto')");
}

Status CheckPrecisionName(const std::string& name) {
  if (name == "fp32" || name == "bf16" || name == "tf32" || name == "auto") return Status::Ok();
  return Status(LAM_STATUS_INVALID_ARG,
                "unknown precision '" + name + "' (expected 'fp32', 'bf16', 'tf32' or 'auto')");
}

// The precision the CPU backends compute in for `requested` (checked by CheckPrecisionName).
Result<cpu::Precision> ResolveCpuPrecision(const std::string& requested) {
  if (requested == "fp32") return cpu::Precision::kFp32;
  const Status native = cpu::CheckNativeBf16();
  if (native.ok()) return cpu::Precision::kBf16;
  if (requested == "bf16") return native;
  spdlog::warn("engine: precision auto serves fp32: {}", native.message());
  return cpu::Precision::kFp32;
}

// The CUDA backend from its module, or the reason it cannot serve this model here.
Result<std::unique_ptr<backend::Backend>> OpenCudaBackend(const ModelWeights& weights, const EngineOptions& options) {
#if LAM_HAVE_CUDA
  LAM_ASSIGN_OR_RETURN(const cuda::CudaModuleApi* module, cuda::LoadCudaModule());
  cuda::CudaBackendOptions o;
  o.device = options.device;
  o.disk = (options.cache != nullptr ? options.cache : &cache::ExecutableCache::Global())->disk();
  o.precision = options.precision == "tf32" ? "tf32" : "fp32";
  std::unique_ptr<backend::Backend> b;
  LAM_RETURN_IF_ERROR(module->create_backend(weights, o, &b));
  return b;
#else
  (void)weights;
  (void)options;
  return Status(LAM_STATUS_UNSUPPORTED, "this build has no CUDA backend (built without the CUDA toolkit)");
#endif
}

}  // namespace

std::vector<backend::Bucket> DefaultBuckets(int max_tokens) {
  std::vector<backend::Bucket> out;
  for (int budget : {128, 512, 2048}) {
    if (budget < max_tokens) out.push_back({64, budget});
  }
  out.push_back({64, std::max(max_tokens, 64)});
  return out;
}

Result<std::unique_ptr<Engine>> Engine::FromWeights(std::shared_ptr<const void> owner,
                                                    const ModelWeights& weights, ModelInfo info,
                                                    const EngineOptions& options) {
  LAM_RETURN_IF_ERROR(CheckBackendName(options.backend));
  LAM_RETURN_IF_ERROR(CheckPrecisionName(options.precision));
  std::vector<backend::Bucket> buckets =
      options.buckets.empty() ? DefaultBuckets(weights.config.max_tokens) : options.buckets;
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
  // Longer sequences get on-demand buckets; the batch split needs the largest bucket to take
  // the most sequences.
  if (max_seqs->max_sequences != buckets.back().max_sequences) {
    return Status(LAM_STATUS_INVALID_ARG, "the largest bucket " + buckets.back().ToString() +
                                              " must also hold the most sequences of any bucket");
  }
  std::unique_ptr<backend::Backend> cpu;
  if (options.backend != "cpu") {
    auto cuda = OpenCudaBackend(weights, options);
    if (cuda.ok()) {
      cpu = std::move(cuda).value();
    } else if (options.precision == "tf32") {
      return Status(LAM_STATUS_UNSUPPORTED, "precision tf32 needs the CUDA backend, which cannot serve here: " +
                                                cuda.status().ToString());
    } else if (options.backend == "cuda") {
      spdlog::warn("engine: backend 'cuda' unavailable, serving on the CPU backend: {}", cuda.status().ToString());
    } else {
      spdlog::info("engine: no CUDA backend ({}); using the CPU backend", cuda.status().message());
    }
  }
  if (cpu != nullptr) {
    // The CUDA backend was opened, in tf32 when asked for, else fp32.
    if (options.precision == "bf16") {
      return Status(LAM_STATUS_UNSUPPORTED,
                    "precision bf16 is implemented by the CPU backend only; the CUDA backend serves fp32 or tf32 "
                    "(use backend cpu for bf16, or precision fp32, tf32 or auto)");
    }
    if (options.precision == "auto") spdlog::info("engine: precision auto serves fp32 (exact) on the CUDA backend");
    info.precision = options.precision == "tf32" ? "tf32" : "fp32";
  } else {
    if (options.precision == "tf32") {
      return Status(LAM_STATUS_UNSUPPORTED,
                    "precision tf32 is implemented by the CUDA backend only (tensor cores), and backend cpu "
                    "was asked for (use backend cuda or auto on a GPU host, or precision fp32, bf16 or auto)");
    }
    LAM_ASSIGN_OR_RETURN(const cpu::Precision precision, ResolveCpuPrecision(options.precision));
    info.precision = cpu::PrecisionName(precision);
    if (weights.config.family == Family::kBert) {
      LAM_ASSIGN_OR_RETURN(cpu, cpu::CpuBertBackend::Create(weights, options.threads, precision));
    } else {
      cpu::CpuBackendOptions cpu_options;
      cpu_options.threads = options.threads;
      cpu_options.precision = precision;
      LAM_ASSIGN_OR_RETURN(cpu, cpu::CpuBackend::Create(weights, cpu_options));
    }
  }
  info.config = weights.config;
  info.embedding_dim = kEmbeddingDim;
  // The executable-cache identity: everything besides the bucket that shapes an executable.
  cache::ExecutableIdentity id;
  id.model_fingerprint = info.fingerprint.empty() ? "unfingerprinted" : info.fingerprint;
  id.backend = cpu->name();
  const dnnl_version_t* v = dnnl_version();
  if (id.backend == "cuda") {
    id.device = cpu->device_identity();
    id.toolkit = "cuda-plan";
    id.driver = cpu->driver_identity();
    id.artifact = std::string("cuda-graph-") + family_name(weights.config.family);
  } else {
    id.device = cache::HostCpuIsa() + "/threads=" + std::to_string(options.threads);
    id.toolkit = "onednn-" + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
    id.driver = "none";
    id.artifact = std::string("cpu-exe-") + family_name(weights.config.family);
  }
  // fp32 and bf16 executables of one model never share a key, in memory or on disk.
  id.precision = info.precision;
  cache::ExecutableCache* cache = options.cache != nullptr ? options.cache : &cache::ExecutableCache::Global();
  return std::unique_ptr<Engine>(new EngineImpl(std::move(owner), std::move(info), std::move(cpu),
                                                std::move(buckets), cache, std::move(id)));
}

Result<std::unique_ptr<Engine>> Engine::Open(const std::string& model_dir,
                                             const EngineOptions& options) {
  LAM_RETURN_IF_ERROR(CheckBackendName(options.backend));
  LAM_RETURN_IF_ERROR(CheckPrecisionName(options.precision));
  LAM_ASSIGN_OR_RETURN(std::unique_ptr<LoadedModel> model, LoadModel(model_dir));
  std::shared_ptr<const LoadedModel> shared(std::move(model));
  ModelInfo info;
  info.name = shared->name();
  info.fingerprint = shared->fingerprint();
  const ModelWeights& weights = shared->weights();
  return FromWeights(shared, weights, std::move(info), options);
}

}  // namespace lam::engine
