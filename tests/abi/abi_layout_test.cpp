// SPDX-License-Identifier: MIT
// Sizes and offsets of every public and shared-memory struct (LP64). A change here is an ABI
// or protocol break: bump LAM_VERSION_MAJOR or the protocol major, and update this table.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <map>
#include <string>

#include "lam/lam.h"
#include "shm/protocol.h"
#include "shm/shm_abi.h"

extern "C" {
struct abi_entry {
  const char* name;
  size_t value;
};
extern const abi_entry lam_abi_c_layout[];
}

namespace {

#define ENTRY(type, field) {#type "." #field, offsetof(type, field)}
#define SIZE(type) {"sizeof " #type, sizeof(type)}

// The frozen public layout (x86-64 / aarch64 Linux).
const std::map<std::string, size_t> kPublic = {
    {"sizeof lam_client_options", 32},
    {"lam_client_options.struct_size", 0},
    {"lam_client_options.flags", 4},
    {"lam_client_options.socket_path", 8},
    {"lam_client_options.arena_bytes", 16},
    {"lam_client_options.timeout_ms", 24},
    {"lam_client_options.connect_timeout_ms", 28},
    {"sizeof lam_model_info", 264},
    {"lam_model_info.struct_size", 0},
    {"lam_model_info.embedding_dim", 4},
    {"lam_model_info.max_tokens", 8},
    {"lam_model_info.vocab_size", 12},
    {"lam_model_info.n_buckets", 16},
    {"lam_model_info.buckets", 20},
    {"lam_model_info.fingerprint", 84},
    {"lam_model_info.name", 156},
    {"lam_model_info.backend", 220},
    {"lam_model_info.daemon_epoch", 240},
    {"lam_model_info.precision", 248},
    {"sizeof lam_embed_tokens_request", 40},
    {"lam_embed_tokens_request.struct_size", 0},
    {"lam_embed_tokens_request.flags", 4},
    {"lam_embed_tokens_request.token_ids", 8},
    {"lam_embed_tokens_request.lengths", 16},
    {"lam_embed_tokens_request.n_sequences", 24},
    {"lam_embed_tokens_request.timeout_ms", 32},
    {"lam_embed_tokens_request.reserved", 36},
    {"sizeof lam_embed_text_request", 40},
    {"lam_embed_text_request.struct_size", 0},
    {"lam_embed_text_request.flags", 4},
    {"lam_embed_text_request.texts", 8},
    {"lam_embed_text_request.lengths", 16},
    {"lam_embed_text_request.n_texts", 24},
    {"lam_embed_text_request.timeout_ms", 32},
    {"lam_embed_text_request.max_tokens", 36},
    {"sizeof lam_result", 40},
    {"lam_result.struct_size", 0},
    {"lam_result.embedding_dim", 4},
    {"lam_result.n_sequences", 8},
    {"lam_result.data", 16},
    {"lam_result.internal_", 24},
    {"sizeof lam_client_stats", 104},
    {"lam_client_stats.struct_size", 0},
    {"lam_client_stats.inflight", 4},
    {"lam_client_stats.inflight_high_water", 8},
    {"lam_client_stats.reserved0", 12},
    {"lam_client_stats.requests_submitted", 16},
    {"lam_client_stats.requests_completed", 24},
    {"lam_client_stats.requests_failed", 32},
    {"lam_client_stats.sequences_embedded", 40},
    {"lam_client_stats.bytes_submitted", 48},
    {"lam_client_stats.queue_us_total", 56},
    {"lam_client_stats.compute_us_total", 64},
    {"lam_client_stats.connects", 72},
    {"lam_client_stats.daemon_lost", 80},
    {"lam_client_stats.arena_bytes", 88},
    {"lam_client_stats.daemon_epoch", 96},
    {"sizeof lam_log_level", 4},
    {"sizeof lam_status", 4},
    {"sizeof lam_ticket", 8},
};

TEST(AbiLayoutTest, PublicStructsHaveTheFrozenLayoutInC) {
  size_t n = 0;
  for (const abi_entry* e = lam_abi_c_layout; e->name != nullptr; ++e, ++n) {
    auto it = kPublic.find(e->name);
    ASSERT_NE(it, kPublic.end()) << e->name << " is not in the frozen table";
    EXPECT_EQ(e->value, it->second) << e->name;
  }
  EXPECT_EQ(n, kPublic.size());
}

TEST(AbiLayoutTest, PublicStructsHaveTheSameLayoutInCxx) {
  const std::pair<const char*, size_t> cxx[] = {
      SIZE(lam_client_options), ENTRY(lam_client_options, arena_bytes), ENTRY(lam_client_options, connect_timeout_ms),
      SIZE(lam_model_info), ENTRY(lam_model_info, fingerprint), ENTRY(lam_model_info, daemon_epoch),
      SIZE(lam_embed_tokens_request), ENTRY(lam_embed_tokens_request, n_sequences),
      SIZE(lam_embed_text_request), ENTRY(lam_embed_text_request, texts), ENTRY(lam_embed_text_request, n_texts),
      SIZE(lam_result), ENTRY(lam_result, data), ENTRY(lam_result, internal_),
      SIZE(lam_client_stats), ENTRY(lam_client_stats, requests_submitted), ENTRY(lam_client_stats, daemon_epoch)};
  for (const auto& [name, value] : cxx) EXPECT_EQ(value, kPublic.at(name)) << name;
}

TEST(AbiLayoutTest, InitialisersSetTheStructSize) {
  lam_client_options o = LAM_CLIENT_OPTIONS_INIT;
  lam_model_info m = LAM_MODEL_INFO_INIT;
  lam_embed_tokens_request r = LAM_EMBED_TOKENS_REQUEST_INIT;
  lam_result res = LAM_RESULT_INIT;
  lam_embed_text_request tr = LAM_EMBED_TEXT_REQUEST_INIT;
  lam_client_stats st = LAM_CLIENT_STATS_INIT;
  EXPECT_EQ(st.struct_size, sizeof(st));
  EXPECT_EQ(st.requests_submitted, 0u);
  EXPECT_EQ(tr.struct_size, sizeof(tr));
  EXPECT_EQ(tr.texts, nullptr);
  EXPECT_EQ(tr.lengths, nullptr);
  EXPECT_EQ(o.struct_size, sizeof(o));
  EXPECT_EQ(m.struct_size, sizeof(m));
  EXPECT_EQ(r.struct_size, sizeof(r));
  EXPECT_EQ(res.struct_size, sizeof(res));
  EXPECT_EQ(r.token_ids, nullptr);
  EXPECT_EQ(res.data, nullptr);
}

// lam_<struct>_init() (for FFI callers) gives what the macro gives: every byte zero, padding
// included, except struct_size = sizeof. The structs are filled with garbage first.
template <typename T>
void ExpectInitFunctionMatchesMacro(void (*init)(T*), const T& from_macro, const char* name) {
  T t;
  std::memset(static_cast<void*>(&t), 0xAB, sizeof(T));
  init(&t);
  EXPECT_EQ(t.struct_size, sizeof(T)) << name;
  EXPECT_EQ(from_macro.struct_size, sizeof(T)) << name;
  const auto* bytes = reinterpret_cast<const unsigned char*>(&t);
  for (size_t i = sizeof(uint32_t); i < sizeof(T); ++i) EXPECT_EQ(bytes[i], 0) << name << " byte " << i;
  init(nullptr);  // a no-op, not a crash
}

TEST(AbiLayoutTest, InitFunctionsGiveWhatTheInitialisersGive) {
  ExpectInitFunctionMatchesMacro<lam_client_options>(lam_client_options_init, LAM_CLIENT_OPTIONS_INIT, "options");
  ExpectInitFunctionMatchesMacro<lam_model_info>(lam_model_info_init, LAM_MODEL_INFO_INIT, "model_info");
  ExpectInitFunctionMatchesMacro<lam_embed_tokens_request>(lam_embed_tokens_request_init,
                                                           LAM_EMBED_TOKENS_REQUEST_INIT, "tokens_request");
  ExpectInitFunctionMatchesMacro<lam_embed_text_request>(lam_embed_text_request_init, LAM_EMBED_TEXT_REQUEST_INIT,
                                                         "text_request");
  ExpectInitFunctionMatchesMacro<lam_result>(lam_result_init, LAM_RESULT_INIT, "result");
  ExpectInitFunctionMatchesMacro<lam_client_stats>(lam_client_stats_init, LAM_CLIENT_STATS_INIT, "stats");
}

TEST(AbiLayoutTest, SharedMemoryStructsHaveTheProtocolLayout) {
  using namespace lam::shm;
  const std::pair<const char*, std::pair<size_t, size_t>> shm[] = {
      {"SegmentHeader", {sizeof(SegmentHeader), 192}},
      {"SegmentHeader.magic", {offsetof(SegmentHeader, magic), 0}},
      {"SegmentHeader.proto_major", {offsetof(SegmentHeader, proto_major), 8}},
      {"SegmentHeader.proto_minor", {offsetof(SegmentHeader, proto_minor), 10}},
      {"SegmentHeader.header_size", {offsetof(SegmentHeader, header_size), 12}},
      {"SegmentHeader.slot_size", {offsetof(SegmentHeader, slot_size), 16}},
      {"SegmentHeader.request_size", {offsetof(SegmentHeader, request_size), 20}},
      {"SegmentHeader.result_size", {offsetof(SegmentHeader, result_size), 24}},
      {"SegmentHeader.flags", {offsetof(SegmentHeader, flags), 28}},
      {"SegmentHeader.segment_size", {offsetof(SegmentHeader, segment_size), 32}},
      {"SegmentHeader.daemon_epoch", {offsetof(SegmentHeader, daemon_epoch), 40}},
      {"SegmentHeader.client_id", {offsetof(SegmentHeader, client_id), 48}},
      {"SegmentHeader.sq_offset", {offsetof(SegmentHeader, sq_offset), 56}},
      {"SegmentHeader.cq_offset", {offsetof(SegmentHeader, cq_offset), 64}},
      {"SegmentHeader.arena_offset", {offsetof(SegmentHeader, arena_offset), 72}},
      {"SegmentHeader.arena_size", {offsetof(SegmentHeader, arena_size), 80}},
      {"SegmentHeader.sq_entries", {offsetof(SegmentHeader, sq_entries), 88}},
      {"SegmentHeader.cq_entries", {offsetof(SegmentHeader, cq_entries), 92}},
      {"SegmentHeader.embedding_dim", {offsetof(SegmentHeader, embedding_dim), 96}},
      {"SegmentHeader.poll_spin_us", {offsetof(SegmentHeader, poll_spin_us), 100}},
      {"SegmentHeader.daemon_polling", {offsetof(SegmentHeader, daemon_polling), 128}},
      {"SegmentHeader.out_progress", {offsetof(SegmentHeader, out_progress), 136}},
      {"RingCtl", {sizeof(RingCtl), 192}},
      {"RingCtl.tail", {offsetof(RingCtl, tail), 0}},
      {"RingCtl.head", {offsetof(RingCtl, head), 64}},
      {"RingCtl.wake", {offsetof(RingCtl, wake), 128}},
      {"RingCtl.waiters", {offsetof(RingCtl, waiters), 132}},
      {"SubmitDesc", {sizeof(SubmitDesc), 64}},
      {"SubmitDesc.ticket", {offsetof(SubmitDesc, ticket), 0}},
      {"SubmitDesc.opcode", {offsetof(SubmitDesc, opcode), 8}},
      {"SubmitDesc.flags", {offsetof(SubmitDesc, flags), 12}},
      {"SubmitDesc.n_seqs", {offsetof(SubmitDesc, n_seqs), 16}},
      {"SubmitDesc.timeout_ms", {offsetof(SubmitDesc, timeout_ms), 20}},
      {"SubmitDesc.tokens_offset", {offsetof(SubmitDesc, tokens_offset), 24}},
      {"SubmitDesc.lengths_offset", {offsetof(SubmitDesc, lengths_offset), 32}},
      {"SubmitDesc.output_offset", {offsetof(SubmitDesc, output_offset), 40}},
      {"SubmitDesc.total_tokens", {offsetof(SubmitDesc, total_tokens), 48}},
      {"CompletionDesc", {sizeof(CompletionDesc), 128}},
      {"CompletionDesc.ticket", {offsetof(CompletionDesc, ticket), 0}},
      {"CompletionDesc.status", {offsetof(CompletionDesc, status), 8}},
      {"CompletionDesc.n_seqs", {offsetof(CompletionDesc, n_seqs), 12}},
      {"CompletionDesc.output_offset", {offsetof(CompletionDesc, output_offset), 16}},
      {"CompletionDesc.detail", {offsetof(CompletionDesc, detail), 24}},
      {"CompletionDesc.queue_us", {offsetof(CompletionDesc, queue_us), 32}},
      {"CompletionDesc.compute_us", {offsetof(CompletionDesc, compute_us), 40}},
      {"CompletionDesc.message", {offsetof(CompletionDesc, message), 48}},
      {"FrameHeader", {sizeof(FrameHeader), 16}},
      {"FrameHeader.type", {offsetof(FrameHeader, type), 6}},
      {"FrameHeader.payload_size", {offsetof(FrameHeader, payload_size), 8}},
      {"HelloRequest", {sizeof(HelloRequest), 40}},
      {"HelloRequest.abi_version", {offsetof(HelloRequest, abi_version), 4}},
      {"HelloRequest.shm_major", {offsetof(HelloRequest, shm_major), 8}},
      {"HelloRequest.flags", {offsetof(HelloRequest, flags), 16}},
      {"HelloRequest.arena_bytes", {offsetof(HelloRequest, arena_bytes), 24}},
      {"HelloReply", {sizeof(HelloReply), 416}},
      {"HelloReply.status", {offsetof(HelloReply, status), 0}},
      {"HelloReply.daemon_epoch", {offsetof(HelloReply, daemon_epoch), 16}},
      {"HelloReply.segment_size", {offsetof(HelloReply, segment_size), 24}},
      {"HelloReply.embedding_dim", {offsetof(HelloReply, embedding_dim), 40}},
      {"HelloReply.buckets", {offsetof(HelloReply, buckets), 56}},
      {"HelloReply.fingerprint", {offsetof(HelloReply, fingerprint), 120}},
      {"HelloReply.model_name", {offsetof(HelloReply, model_name), 192}},
      {"HelloReply.backend", {offsetof(HelloReply, backend), 256}},
      {"HelloReply.message", {offsetof(HelloReply, message), 272}},
      {"HelloReply.precision", {offsetof(HelloReply, precision), 400}},
  };
  for (const auto& [name, v] : shm) EXPECT_EQ(v.first, v.second) << name;
  static_assert(std::is_trivially_copyable_v<SubmitDesc> && std::is_trivially_copyable_v<CompletionDesc>);
  static_assert(std::is_standard_layout_v<SegmentHeader> && std::is_standard_layout_v<RingCtl>);
}

TEST(AbiLayoutTest, StatusNumbersAreStable) {
  EXPECT_EQ(LAM_STATUS_OK, 0);
  EXPECT_EQ(LAM_STATUS_DAEMON_UNAVAILABLE, 2);
  EXPECT_EQ(LAM_STATUS_BUFFER_TOO_SMALL, 4);
  EXPECT_EQ(LAM_STATUS_PROTOCOL_MISMATCH, 5);
  EXPECT_EQ(LAM_STATUS_OVERLOADED, 8);
  EXPECT_EQ(LAM_STATUS_TOO_LARGE, 10);
  EXPECT_EQ(LAM_STATUS_PERMISSION_DENIED, 11);
  EXPECT_EQ(LAM_STATUS_DEADLINE_EXCEEDED, 16);
  EXPECT_EQ(LAM_STATUS_TOKEN_OUT_OF_RANGE, 22);
  EXPECT_EQ(LAM_STATUS_MALFORMED_REQUEST, 25);
  EXPECT_EQ(LAM_STATUS_PENDING, 26);
}

}  // namespace
