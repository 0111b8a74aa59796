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
#include <memory>
#include <span>
#include <string>

#include "common/status.h"
#include "engine/weights.h"

namespace lam::engine {

// One input sequence: token ids including [CLS] and [SEP]. Borrowed for the call.
struct TokenSpan {
  const int32_t* ids = nullptr;
  size_t len = 0;
};

struct EngineOptions {
  std::string backend = "cpu";  // "cpu" | "cuda" | "auto"
  int threads = 0;              // worker threads for the CPU backend; 0 = all cores
};

// What a client needs to know about the served model.
struct ModelInfo {
  std::string name;         // model directory basename
  std::string fingerprint;  // hex content hash of config.json + model.safetensors
  ModelConfig config;
  int embedding_dim = 384;
};

class Engine {
 public:
  // Loads (memory-maps) and validates the model directory and prepares the backend.
  // Errors: MODEL_INVALID (naming the tensor or byte offset), IO_ERROR, NOT_FOUND, UNSUPPORTED.
  static Result<std::unique_ptr<Engine>> Open(const std::string& model_dir,
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
};

}  // namespace lam::engine
