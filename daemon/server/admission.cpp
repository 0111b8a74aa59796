// SPDX-License-Identifier: MIT
#include "server/admission.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace lam::server {
namespace {

// True if [offset, offset + bytes) lies inside an arena of `size` bytes (overflow-safe).
bool InArena(uint64_t offset, uint64_t bytes, uint64_t size) {
  return offset <= size && bytes <= size - offset;
}

Status Malformed(const std::string& what) { return Status(LAM_STATUS_MALFORMED_REQUEST, what); }

}  // namespace

uint64_t ArenaBytesNeeded(uint64_t n_seqs, uint64_t total_tokens, uint32_t embedding_dim) {
  auto a = [](uint64_t v) { return shm::AlignUp(v, 64); };
  return a(n_seqs * 4) + a(total_tokens * 4) + a(n_seqs * uint64_t{embedding_dim} * 4);
}

Status AdmitEmbed(const shm::SubmitDesc& d, const char* arena, uint64_t arena_size,
                  const engine::Engine& engine, const AdmissionLimits& limits, int64_t now_ns,
                  scheduler::Request* req, uint64_t* detail) {
  *detail = 0;
  if (d.n_seqs == 0) return Status(LAM_STATUS_EMPTY_BATCH, "request has no sequences");
  if (d.n_seqs > limits.max_sequences_per_request) {
    return Malformed("n_seqs " + std::to_string(d.n_seqs) + " exceeds the limit of " +
                     std::to_string(limits.max_sequences_per_request) + " sequences per request");
  }
  const uint64_t max_tokens = static_cast<uint64_t>(engine.info().config.max_tokens);
  if (d.total_tokens > uint64_t{d.n_seqs} * max_tokens) {
    return Status(LAM_STATUS_SEQUENCE_TOO_LONG,
                  "total_tokens " + std::to_string(d.total_tokens) + " exceeds n_seqs x max length");
  }
  const uint64_t needed = ArenaBytesNeeded(d.n_seqs, d.total_tokens, limits.embedding_dim);
  if (needed > arena_size) {
    *detail = needed;
    return Status(LAM_STATUS_TOO_LARGE, "request needs " + std::to_string(needed) +
                                            " arena bytes; the arena has " + std::to_string(arena_size));
  }
  if ((d.lengths_offset | d.tokens_offset | d.output_offset) % 4 != 0) {
    return Malformed("offsets must be 4-byte aligned (lengths " + std::to_string(d.lengths_offset) +
                     ", tokens " + std::to_string(d.tokens_offset) + ", output " +
                     std::to_string(d.output_offset) + ")");
  }
  const uint64_t lengths_bytes = uint64_t{d.n_seqs} * 4;
  if (!InArena(d.lengths_offset, lengths_bytes, arena_size)) {
    return Malformed("lengths [" + std::to_string(d.lengths_offset) + ", +" + std::to_string(lengths_bytes) +
                     ") lie outside the arena of " + std::to_string(arena_size) + " bytes");
  }
  const uint64_t tokens_bytes = d.total_tokens * 4;
  if (!InArena(d.tokens_offset, tokens_bytes, arena_size)) {
    return Malformed("token ids at byte offset " + std::to_string(d.tokens_offset) + " (+" +
                     std::to_string(tokens_bytes) + ") lie outside the arena");
  }
  const uint64_t out_bytes = uint64_t{d.n_seqs} * limits.embedding_dim * 4;
  if (!InArena(d.output_offset, out_bytes, arena_size)) {
    return Malformed("output at byte offset " + std::to_string(d.output_offset) + " (+" +
                     std::to_string(out_bytes) + ") lies outside the arena");
  }

  // Copy first, then check the copy.
  std::vector<uint32_t> lengths(d.n_seqs);
  std::memcpy(lengths.data(), arena + d.lengths_offset, lengths_bytes);
  req->offsets.resize(size_t{d.n_seqs} + 1);
  req->offsets[0] = 0;
  uint64_t sum = 0;
  for (uint32_t i = 0; i < d.n_seqs; ++i) {
    if (lengths[i] > max_tokens) {
      *detail = i;
      return Status(LAM_STATUS_SEQUENCE_TOO_LONG, "sequence " + std::to_string(i) + " has " +
                                                      std::to_string(lengths[i]) + " tokens; the model maximum is " +
                                                      std::to_string(max_tokens));
    }
    sum += lengths[i];
    if (sum > UINT32_MAX) return Malformed("lengths sum past 2^32 tokens");
    req->offsets[i + 1] = static_cast<uint32_t>(sum);
  }
  if (sum != d.total_tokens) {
    return Malformed("lengths sum to " + std::to_string(sum) + " but total_tokens is " +
                     std::to_string(d.total_tokens));
  }
  req->tokens.resize(sum);
  if (sum != 0) std::memcpy(req->tokens.data(), arena + d.tokens_offset, tokens_bytes);

  std::vector<engine::TokenSpan> spans(d.n_seqs);
  for (uint32_t i = 0; i < d.n_seqs; ++i) {
    spans[i].ids = req->tokens.data() + req->offsets[i];
    spans[i].len = lengths[i];
  }
  Status st = engine.Validate(spans);
  if (!st.ok()) return st;

  req->ticket = d.ticket;
  req->output_offset = d.output_offset;
  req->deadline_ns = d.timeout_ms != 0 ? now_ns + int64_t{d.timeout_ms} * 1000000 : 0;
  return Status::Ok();
}

uint64_t TextArenaBytesNeeded(uint64_t n_texts, uint64_t total_bytes, uint32_t embedding_dim) {
  auto a = [](uint64_t v) { return shm::AlignUp(v, 64); };
  return a(n_texts * 4) + a(total_bytes) + a(n_texts * uint64_t{embedding_dim} * 4);
}

Status AdmitText(const shm::SubmitDesc& d, const char* arena, uint64_t arena_size,
                 const AdmissionLimits& limits, int64_t now_ns, TextRequest* out, uint64_t* detail) {
  *detail = 0;
  if (d.n_seqs == 0) return Status(LAM_STATUS_EMPTY_BATCH, "request has no texts");
  if (d.n_seqs > limits.max_sequences_per_request) {
    return Malformed("n_seqs " + std::to_string(d.n_seqs) + " exceeds the limit of " +
                     std::to_string(limits.max_sequences_per_request) + " texts per request");
  }
  if (d.reserved == 1 || d.reserved > limits.model_max_tokens) {
    return Status(LAM_STATUS_INVALID_ARG, "max_tokens " + std::to_string(d.reserved) +
                                              " is outside 2.." + std::to_string(limits.model_max_tokens) +
                                              " (the model's position table; 0 = the model's default)");
  }
  const uint64_t needed = TextArenaBytesNeeded(d.n_seqs, d.total_tokens, limits.embedding_dim);
  if (d.total_tokens > arena_size || needed > arena_size) {
    *detail = d.total_tokens > arena_size ? UINT64_MAX : needed;
    return Status(LAM_STATUS_TOO_LARGE, "text request needs " +
                                            (d.total_tokens > arena_size ? std::string("more than ")
                                                                         : std::string()) +
                                            std::to_string(d.total_tokens > arena_size ? arena_size : needed) +
                                            " arena bytes; the arena has " + std::to_string(arena_size));
  }
  if ((d.lengths_offset | d.output_offset) % 4 != 0) {
    return Malformed("offsets must be 4-byte aligned (lengths " + std::to_string(d.lengths_offset) +
                     ", output " + std::to_string(d.output_offset) + ")");
  }
  const uint64_t lengths_bytes = uint64_t{d.n_seqs} * 4;
  if (!InArena(d.lengths_offset, lengths_bytes, arena_size)) {
    return Malformed("lengths [" + std::to_string(d.lengths_offset) + ", +" + std::to_string(lengths_bytes) +
                     ") lie outside the arena of " + std::to_string(arena_size) + " bytes");
  }
  if (!InArena(d.tokens_offset, d.total_tokens, arena_size)) {
    return Malformed("text bytes at byte offset " + std::to_string(d.tokens_offset) + " (+" +
                     std::to_string(d.total_tokens) + ") lie outside the arena");
  }
  const uint64_t out_bytes = uint64_t{d.n_seqs} * limits.embedding_dim * 4;
  if (!InArena(d.output_offset, out_bytes, arena_size)) {
    return Malformed("output at byte offset " + std::to_string(d.output_offset) + " (+" +
                     std::to_string(out_bytes) + ") lies outside the arena");
  }

  // Copy first, then check the copy.
  out->lengths.resize(d.n_seqs);
  std::memcpy(out->lengths.data(), arena + d.lengths_offset, lengths_bytes);
  uint64_t sum = 0;
  for (uint32_t i = 0; i < d.n_seqs; ++i) sum += out->lengths[i];  // <= 2^32 * 2^32: no overflow
  if (sum != d.total_tokens) {
    return Malformed("text lengths sum to " + std::to_string(sum) + " bytes but the descriptor says " +
                     std::to_string(d.total_tokens));
  }
  out->bytes.assign(arena + d.tokens_offset, d.total_tokens);
  out->max_tokens = static_cast<uint32_t>(d.reserved);
  out->req = std::make_unique<scheduler::Request>();
  out->req->ticket = d.ticket;
  out->req->output_offset = d.output_offset;
  out->req->deadline_ns = d.timeout_ms != 0 ? now_ns + int64_t{d.timeout_ms} * 1000000 : 0;
  return Status::Ok();
}

Status TokenizeText(const tokenizer::WordPieceTokenizer& tokenizer, const engine::Engine& engine,
                    size_t max_tokens, TextRequest* text, uint64_t* detail) {
  TokenizeCursor cursor;
  while (!cursor.done) {
    LAM_RETURN_IF_ERROR(TokenizeTextSlice(tokenizer, engine, max_tokens, text, &cursor, SIZE_MAX, SIZE_MAX, detail));
  }
  return Status::Ok();
}

Status TokenizeTextSlice(const tokenizer::WordPieceTokenizer& tokenizer, const engine::Engine& engine,
                         size_t max_tokens, TextRequest* text, TokenizeCursor* cursor, size_t slice_bytes,
                         size_t slice_texts, uint64_t* detail) {
  *detail = 0;
  scheduler::Request* req = text->req.get();
  const size_t n = text->lengths.size();
  if (cursor->next_text == 0) {
    req->tokens.clear();
    req->offsets.assign(1, 0);
    req->offsets.reserve(n + 1);
    cursor->byte_pos = 0;
  }
  size_t bytes = 0;
  size_t texts = 0;
  while (cursor->next_text < n && (texts == 0 || (bytes < slice_bytes && texts < slice_texts))) {
    const size_t i = cursor->next_text;
    const std::string_view t(text->bytes.data() + cursor->byte_pos, text->lengths[i]);
    cursor->byte_pos += text->lengths[i];
    bytes += text->lengths[i];
    ++texts;
    ++cursor->next_text;
    Status st = tokenizer.EncodeAppend(t, max_tokens, &req->tokens);
    if (!st.ok()) {
      *detail = i;
      return Status(st.code(), "text " + std::to_string(i) + ": " + st.message());
    }
    if (req->tokens.size() > UINT32_MAX) return Malformed("texts tokenise to more than 2^32 tokens");
    if (text->refuse_over != 0 && req->tokens.size() - req->offsets.back() > text->refuse_over) {
      *detail = i;
      return Status(LAM_STATUS_SEQUENCE_TOO_LONG, "text " + std::to_string(i) + " has more than " +
                                                      std::to_string(text->refuse_over) + " tokens");
    }
    req->offsets.push_back(static_cast<uint32_t>(req->tokens.size()));
  }
  if (cursor->next_text < n) return Status::Ok();
  std::vector<engine::TokenSpan> spans(n);
  for (size_t i = 0; i < n; ++i) {
    spans[i].ids = req->tokens.data() + req->offsets[i];
    spans[i].len = req->offsets[i + 1] - req->offsets[i];
  }
  LAM_RETURN_IF_ERROR(engine.Validate(spans));
  cursor->done = true;
  return Status::Ok();
}

}  // namespace lam::server
