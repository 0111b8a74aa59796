// SPDX-License-Identifier: MIT
// The engine: load a model directory, run ragged batches of token-id sequences, return one
// L2-normalised embedding per sequence. This is the interface the daemon, lamctl and the
// benchmarks call; backends and the executable cache live behind it.
//
// Contract (lam-model.md "canonical definition"): a sequence's embedding depends only on its
// own token ids — never on batch mates, its position in the batch, or the bucket it is padded
// to. On the CPU backend this holds bitwise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "cache/executable_cache.h"
#include "common/status.h"
#include "engine/token_span.h"
#include "engine/weights.h"

namespace lam::engine {

struct EngineOptions {
  // "cpu" | "cuda" | "auto". "cuda" and "auto" load the CUDA backend module (cuda_module.h) and
  // use device `device`; when it cannot serve (no module, no GPU, model unsupported) the engine
  // logs why and serves on the CPU backend (backend_name() says which one runs).
  std::string backend = "cpu";
  int device = 0;               // CUDA device ordinal
  int threads = 0;              // worker threads for the CPU backend; 0 = all cores
  // "fp32" | "bf16" | "tf32" | "auto" (cpu_precision.h). bf16 needs a CPU with native bf16
  // (AVX512_BF16 or AMX) and the CPU backend; tf32 needs the CUDA backend (its projections on
  // tensor cores): otherwise Open fails with UNSUPPORTED naming what is missing.
  // "auto" is bf16 where the CPU backend serves on such a CPU, else fp32 (with a warning on the
  // CPU backend). ModelInfo::precision says what was chosen.
  std::string precision = "fp32";
  // Shape classes to warm; empty = DefaultBuckets(max_tokens). A sequence longer than the
  // largest token budget (but within max_tokens) runs alone in a bucket built on demand and
  // cached like the others.
  std::vector<backend::Bucket> buckets;
  // Where executables live; null = cache::ExecutableCache::Global() (shared by every engine).
  cache::ExecutableCache* cache = nullptr;
};

// 64 sequences with token budgets 128, 512, 2048 and 8192, the last one raised or cut to the
// model maximum: every length up to max_tokens, batches 1-64.
std::vector<backend::Bucket> DefaultBuckets(int max_tokens = 8192);

// This engine's totals in the executable cache (per bucket: ExecutableStats()).
struct EngineStats {
  uint64_t compiles = 0;         // executables built
  uint64_t hits = 0;             // runs that found their executable resident
  uint64_t misses = 0;           // lookups that loaded or compiled
  uint64_t loads = 0;            // executables loaded from the disk cache
  double load_seconds = 0.0;
  uint64_t runs = 0;             // backend runs (one per sub-batch)
  uint64_t executables = 0;      // resident executables
  uint64_t executable_bytes = 0;  // their byte_size() sum
  double compile_seconds = 0.0;
};

// What a client needs to know about the served model.
struct ModelInfo {
  std::string name;         // model directory basename
  std::string fingerprint;  // hex content hash of config.json + model.safetensors
  ModelConfig config;
  int embedding_dim = 384;
  std::string precision = "fp32";  // what the GEMMs compute in: "fp32" | "bf16" | "tf32"
};

class Engine {
 public:
  // Loads (memory-maps) and validates the model directory and prepares the backend.
  // Errors: MODEL_INVALID (naming the tensor or byte offset), IO_ERROR, NOT_FOUND, UNSUPPORTED
  // (also: a precision this CPU or backend cannot run natively), INVALID_ARG (unknown backend
  // or precision name).
  static Result<std::unique_ptr<Engine>> Open(const std::string& model_dir,
                                              const EngineOptions& options);
  // The same over weights owned elsewhere (tests, benchmarks, synthetic models); `owner` keeps
  // `weights` alive for the engine's lifetime. Errors: INVALID_ARG, UNSUPPORTED, MODEL_INVALID.
  static Result<std::unique_ptr<Engine>> FromWeights(std::shared_ptr<const void> owner,
                                                     const ModelWeights& weights, ModelInfo info,
                                                     const EngineOptions& options);
  virtual ~Engine() = default;

  virtual const ModelInfo& info() const = 0;

  // Checks a batch without computing anything. Distinct codes: EMPTY_BATCH, EMPTY_SEQUENCE,
  // TOKEN_OUT_OF_RANGE, SEQUENCE_TOO_LONG; the message names the sequence and position.
  virtual Status Validate(std::span<const TokenSpan> batch) const = 0;

  // Validates, then computes batch.size() embeddings into out[i * embedding_dim ...].
  // On error nothing is written half-way that the caller could mistake for a result, and the
  // engine stays usable. Safe to call from several threads (calls may be serialised inside).
  virtual Status Embed(std::span<const TokenSpan> batch, float* out) = 0;

  // Name of the backend in use ("cpu" or "cuda").
  virtual const char* backend_name() const = 0;
  // The configured buckets, smallest first.
  virtual const std::vector<backend::Bucket>& buckets() const = 0;
  // Compiles every configured bucket that is not resident yet (warm-up).
  virtual Status CompileAll() = 0;
  virtual EngineStats stats() const = 0;
  // CompileAll with one report per bucket (warm-up progress for the log and `lamctl status`).
  virtual Status Warm(const std::function<void(const cache::WarmProgress&)>& progress) {
    (void)progress;
    return CompileAll();
  }
  // Per-bucket executable-cache statistics of this engine (configured and on-demand buckets).
  virtual std::vector<cache::BucketStats> ExecutableStats() const { return {}; }
  // Drops this engine's resident executables not in use; returns how many.
  virtual size_t ClearExecutables() { return 0; }
};

}  // namespace lam::engine
