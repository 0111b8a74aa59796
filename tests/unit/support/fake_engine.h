// SPDX-License-Identifier: MIT
// A deterministic stand-in for lam::engine::Engine for scheduler and server unit tests:
// each embedding is a pure function of its own token ids (so batch invariance holds by
// construction), and every Embed call is recorded.
#pragma once

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"

namespace lam::testing {

class FakeEngine : public engine::Engine {
 public:
  explicit FakeEngine(int dim = 8, int vocab = 1000, int max_tokens = 512) {
    info_.name = "fake";
    info_.fingerprint = "0123456789abcdef";
    info_.embedding_dim = dim;
    info_.config.vocab_size = vocab;
    info_.config.max_tokens = max_tokens;
    buckets_.push_back(backend::Bucket{64, 8192});
  }

  const engine::ModelInfo& info() const override { return info_; }

  Status Validate(std::span<const engine::TokenSpan> batch) const override {
    if (batch.empty()) return Status(LAM_STATUS_EMPTY_BATCH, "empty batch");
    for (size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].len == 0) return Status(LAM_STATUS_EMPTY_SEQUENCE, "sequence " + std::to_string(i) + " is empty");
      if (batch[i].len > static_cast<size_t>(info_.config.max_tokens)) {
        return Status(LAM_STATUS_SEQUENCE_TOO_LONG, "sequence " + std::to_string(i) + " too long");
      }
      for (size_t j = 0; j < batch[i].len; ++j) {
        if (batch[i].ids[j] < 0 || batch[i].ids[j] >= info_.config.vocab_size) {
          return Status(LAM_STATUS_TOKEN_OUT_OF_RANGE, "token id " + std::to_string(batch[i].ids[j]) +
                                                           " at position " + std::to_string(j) + " of sequence " +
                                                           std::to_string(i));
        }
      }
    }
    return Status::Ok();
  }

  Status Embed(std::span<const engine::TokenSpan> batch, float* out) override {
    LAM_RETURN_IF_ERROR(Validate(batch));
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch_sizes_.push_back(batch.size());
      size_t tokens = 0;
      for (const auto& s : batch) tokens += s.len;
      batch_tokens_.push_back(tokens);
      for (const auto& s : batch) first_ids_.push_back(s.ids[0]);
    }
    if (delay_ms.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
    if (fail_next.exchange(false)) return Status(LAM_STATUS_BACKEND_FAILED, "injected failure");
    if (throw_next.exchange(false)) throw std::runtime_error("injected exception");
    for (size_t i = 0; i < batch.size(); ++i) Reference(batch[i], out + i * static_cast<size_t>(info_.embedding_dim));
    return Status::Ok();
  }

  // The embedding of one sequence, as Embed computes it.
  void Reference(const engine::TokenSpan& s, float* out) const {
    const int dim = info_.embedding_dim;
    uint64_t h = 1469598103934665603ull;
    for (size_t j = 0; j < s.len; ++j) h = (h ^ static_cast<uint64_t>(s.ids[j])) * 1099511628211ull;
    double norm = 0;
    for (int d = 0; d < dim; ++d) {
      h = h * 6364136223846793005ull + 1442695040888963407ull;
      out[d] = static_cast<float>(static_cast<int64_t>(h >> 40) % 1000 + 1) / 1000.0f;
      norm += static_cast<double>(out[d]) * out[d];
    }
    for (int d = 0; d < dim; ++d) out[d] = static_cast<float>(out[d] / std::sqrt(norm));
  }

  const char* backend_name() const override { return "fake"; }
  const std::vector<backend::Bucket>& buckets() const override { return buckets_; }
  Status CompileAll() override { return Status::Ok(); }
  engine::EngineStats stats() const override { return {}; }

  std::vector<size_t> batch_sizes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return batch_sizes_;
  }
  std::vector<size_t> batch_tokens() const {
    std::lock_guard<std::mutex> lock(mu_);
    return batch_tokens_;
  }
  // First token id of every sequence computed, in compute order.
  std::vector<int32_t> first_ids() const {
    std::lock_guard<std::mutex> lock(mu_);
    return first_ids_;
  }

  std::atomic<int> delay_ms{0};
  std::atomic<bool> fail_next{false};
  std::atomic<bool> throw_next{false};  // the next Embed throws (an engine or allocation failure)

 private:
  engine::ModelInfo info_;
  std::vector<backend::Bucket> buckets_;
  mutable std::mutex mu_;
  std::vector<size_t> batch_sizes_;
  std::vector<size_t> batch_tokens_;
  std::vector<int32_t> first_ids_;
};

}  // namespace lam::testing
