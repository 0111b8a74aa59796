// SPDX-License-Identifier: MIT
// The backend interface the engine and the executable cache are built on.
//
// A Bucket is a shape class. A backend compiles a bucket into an Executable: everything needed
// to run any batch that fits the bucket (pre-built kernels/primitives, pre-reordered weights or
// references to them, workspaces, thread partitioning), so that Run neither compiles nor
// allocates. Executables are owned by the caller (the engine's cache) and may be kept for the
// life of the process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "common/status.h"
#include "engine/token_span.h"

namespace lam::backend {

// Shape class: up to `max_sequences` sequences whose true lengths sum to at most `token_budget`.
// Sequences are packed, not padded to a common length, so a sequence's result never depends on
// the bucket (lam-model.md section 8); the bucket only sizes the workspaces.
struct Bucket {
  int max_sequences = 0;
  int token_budget = 0;

  bool Fits(size_t sequences, size_t tokens) const {
    return sequences <= static_cast<size_t>(max_sequences) &&
           tokens <= static_cast<size_t>(token_budget);
  }
  // "64x8192" (sequences x token budget); stable, usable as a cache-key component.
  std::string ToString() const;
  friend bool operator==(const Bucket&, const Bucket&) = default;
  friend auto operator<=>(const Bucket&, const Bucket&) = default;
};

class Executable {
 public:
  virtual ~Executable() = default;
  virtual const Bucket& bucket() const = 0;
  // Bytes owned by this executable (workspaces, scratch); shared model weights are not counted.
  virtual size_t byte_size() const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // Builds everything a bucket needs. Errors: INVALID_ARG (bad bucket), BACKEND_FAILED.
  virtual Result<std::unique_ptr<Executable>> Compile(const Bucket& bucket) = 0;
  // Computes batch.size() L2-normalised embeddings into out[i * embedding_dim()...]. The batch
  // must already be validated (ids in range, lengths >= 1) and must fit exe.bucket(); `exe` must
  // come from this backend. One Run per executable at a time.
  virtual Status Run(Executable& exe, std::span<const engine::TokenSpan> batch, float* out) = 0;
  virtual int embedding_dim() const = 0;
  // For the executable cache's identity: the device the executables are built for and the driver
  // they run on, where the backend knows more than the engine does (CUDA: ordinal, architecture
  // and name; the driver version). Empty: the engine's own description stands.
  virtual std::string device_identity() const { return {}; }
  virtual std::string driver_identity() const { return {}; }
};

}  // namespace lam::backend
