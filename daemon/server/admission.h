// SPDX-License-Identifier: MIT
// Turns one untrusted submission descriptor into a scheduler request. Everything the client
// wrote is copied into daemon memory first and only then checked, so a client that rewrites
// the segment meanwhile cannot make the daemon see two different values (no double reads).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "scheduler/scheduler.h"
#include "shm/shm_abi.h"
#include "tokenizer/wordpiece.h"

namespace lam::server {

struct AdmissionLimits {
  uint32_t embedding_dim = 384;
  uint32_t max_sequences_per_request = 65536;
  uint32_t model_max_tokens = 512;  // the position table: the most a text request may ask to keep
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

// A kOpEmbedText request after admission: the texts copied out of the arena, not yet
// tokenised. `req` carries ticket, output_offset and deadline; tokens/offsets are empty.
struct TextRequest {
  std::string bytes;              // all texts back to back (private copy)
  std::vector<uint32_t> lengths;  // byte length of each text
  uint32_t max_tokens = 0;        // the request's truncation length; 0 = the model's text default
  uint32_t refuse_over = 0;       // != 0: a text of more tokens is SEQUENCE_TOO_LONG, not cut (HTTP
                                  // truncate: false); tokenise with a limit of refuse_over + 1
  std::unique_ptr<scheduler::Request> req;
};

// Bytes of arena a text request needs: lengths + UTF-8 bytes + output (each 64-byte aligned).
uint64_t TextArenaBytesNeeded(uint64_t n_texts, uint64_t total_bytes, uint32_t embedding_dim);

// Copies a kOpEmbedText descriptor's payload (tokens_offset = bytes, lengths_offset = uint32
// byte lengths, total_tokens = total bytes) into `*out`, then checks the copy: bounds and
// alignment (MALFORMED_REQUEST naming the field and offset), arena size (TOO_LARGE, `*detail`
// = bytes needed), EMPTY_BATCH, and the requested truncation length (desc.reserved, minor >= 3:
// 0 or 2..limits.model_max_tokens, else INVALID_ARG). UTF-8 is checked by TokenizeText. Cheap:
// a memcpy.
Status AdmitText(const shm::SubmitDesc& desc, const char* arena, uint64_t arena_size,
                 const AdmissionLimits& limits, int64_t now_ns, TextRequest* out, uint64_t* detail);

// Tokenises every text of `text` into text->req (tokens, offsets), truncating each to
// `max_tokens` ids with [SEP] kept last (what sentence-transformers does), then runs the
// engine's Validate. INVALID_UTF8: "text <i>: ..." naming the byte offset, `*detail` = i.
Status TokenizeText(const tokenizer::WordPieceTokenizer& tokenizer, const engine::Engine& engine,
                    size_t max_tokens, TextRequest* text, uint64_t* detail);

// Where a TokenizeText done in slices has got to (start with a default-constructed one).
struct TokenizeCursor {
  size_t next_text = 0;  // texts before this one are tokenised
  size_t byte_pos = 0;   // and these bytes of text->bytes
  bool done = false;     // every text tokenised and the engine's Validate passed
};

// One slice of TokenizeText: tokenises texts from `*cursor` on until at least `slice_bytes`
// bytes or `slice_texts` texts were done this call (at least one text), then returns OK with
// cursor->done false while texts remain; the slice that tokenises the last text also runs
// Validate and sets cursor->done. Errors are TokenizeText's. The text worker uses it to serve
// other clients between the slices of a large request.
Status TokenizeTextSlice(const tokenizer::WordPieceTokenizer& tokenizer, const engine::Engine& engine,
                         size_t max_tokens, TextRequest* text, TokenizeCursor* cursor, size_t slice_bytes,
                         size_t slice_texts, uint64_t* detail);

}  // namespace lam::server
