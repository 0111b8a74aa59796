// SPDX-License-Identifier: MIT
// Loads and validates a model directory (Hugging Face layout):
//   config.json            model_type "lam" (+ lam_variant f128 | r64t | r32) or "bert"
//   model.safetensors      memory-mapped read-only; F32 tensors are used in place, never copied
//   vocab.txt              BERT uncased WordPiece vocabulary (+ optional tokenizer_config.json)
// Every failure is a Status naming the file, field, tensor or byte offset; nothing crashes on a
// hostile file. Thread-safety: a LoadedModel is immutable after LoadModel returns.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "engine/safetensors.h"
#include "engine/weights.h"

namespace lam::engine {

// Owns the memory mapping that weights() points into. Movable, not copyable; moving keeps
// every weight pointer valid (the mapping does not move).
class LoadedModel {
 public:
  LoadedModel(LoadedModel&&) noexcept = default;
  LoadedModel& operator=(LoadedModel&&) noexcept = default;
  LoadedModel(const LoadedModel&) = delete;
  LoadedModel& operator=(const LoadedModel&) = delete;

  const ModelWeights& weights() const { return weights_; }
  // Hex XXH3-128 of config.json's bytes followed by the whole model.safetensors file.
  const std::string& fingerprint() const { return fingerprint_; }
  const std::string& name() const { return name_; }  // directory basename
  const std::string& dir() const { return dir_; }    // absolute, normalised directory path

 private:
  friend Result<std::unique_ptr<LoadedModel>> LoadModel(const std::string& model_dir);
  LoadedModel() = default;

  MappedFile file_;
  ModelWeights weights_;
  std::string fingerprint_;
  std::string name_;
  std::string dir_;
};

// Errors: NOT_FOUND (no such directory), MODEL_INVALID (missing file, bad config field, missing
// or malformed tensor, unknown variant), IO_ERROR (read or mmap failure).
Result<std::unique_ptr<LoadedModel>> LoadModel(const std::string& model_dir);

// Parses and validates config.json contents alone (exposed for tests and tools). The variant of
// a "lam" config without lam_variant is returned as kNone (decided later from the tensors).
Result<ModelConfig> ParseModelConfig(std::string_view json_text);

}  // namespace lam::engine
