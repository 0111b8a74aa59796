// SPDX-License-Identifier: MIT
// Turns one untrusted submission descriptor into a scheduler request. Everything the client
// wrote is copied into daemon memory first and only then checked, so a client that rewrites
// the segment meanwhile cannot make the daemon see two different values (no double reads).
#pragma once

#include <cstdint>

#include "common/status.h"
#include "engine/engine.h"
#include "scheduler/scheduler.h"
#include "shm/shm_abi.h"

namespace lam::server {

struct AdmissionLimits {
  uint32_t embedding_dim = 384;
  uint32_t max_sequences_per_request = 65536;
};

// Bytes of arena a request needs: lengths + token ids + output (each 64-byte aligned).
uint64_t ArenaBytesNeeded(uint64_t n_seqs, uint64_t total_tokens, uint32_t embedding_dim);

// `desc` is already a private copy of the ring slot. On success fills `req` (tokens, offsets,
// ticket, output_offset, deadline). On failure returns the status for the error completion:
// MALFORMED_REQUEST (naming the field and offset), TOO_LARGE (`*detail` = bytes needed),
// EMPTY_BATCH or the engine's Validate codes (`*detail` = failing sequence index if known).
Status AdmitEmbed(const shm::SubmitDesc& desc, const char* arena, uint64_t arena_size,
                  const engine::Engine& engine, const AdmissionLimits& limits, int64_t now_ns,
                  scheduler::Request* req, uint64_t* detail);

}  // namespace lam::server
