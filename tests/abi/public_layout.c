/* SPDX-License-Identifier: MIT */
/* The public structs' layout as a C compiler sees it (compared with C++ in abi_layout_test). */
#include <stddef.h>

#include "lam/lam.h"

#define ENTRY(type, field) {#type "." #field, offsetof(type, field)}
#define SIZE(type) {"sizeof " #type, sizeof(type)}

typedef struct abi_entry {
  const char* name;
  size_t value;
} abi_entry;

const abi_entry lam_abi_c_layout[] = {
    SIZE(lam_client_options),
    ENTRY(lam_client_options, struct_size),
    ENTRY(lam_client_options, flags),
    ENTRY(lam_client_options, socket_path),
    ENTRY(lam_client_options, arena_bytes),
    ENTRY(lam_client_options, timeout_ms),
    ENTRY(lam_client_options, connect_timeout_ms),
    SIZE(lam_model_info),
    ENTRY(lam_model_info, struct_size),
    ENTRY(lam_model_info, embedding_dim),
    ENTRY(lam_model_info, max_tokens),
    ENTRY(lam_model_info, vocab_size),
    ENTRY(lam_model_info, n_buckets),
    ENTRY(lam_model_info, buckets),
    ENTRY(lam_model_info, fingerprint),
    ENTRY(lam_model_info, name),
    ENTRY(lam_model_info, backend),
    ENTRY(lam_model_info, daemon_epoch),
    ENTRY(lam_model_info, precision),
    SIZE(lam_embed_tokens_request),
    ENTRY(lam_embed_tokens_request, struct_size),
    ENTRY(lam_embed_tokens_request, flags),
    ENTRY(lam_embed_tokens_request, token_ids),
    ENTRY(lam_embed_tokens_request, lengths),
    ENTRY(lam_embed_tokens_request, n_sequences),
    ENTRY(lam_embed_tokens_request, timeout_ms),
    ENTRY(lam_embed_tokens_request, reserved),
    SIZE(lam_embed_text_request),
    ENTRY(lam_embed_text_request, struct_size),
    ENTRY(lam_embed_text_request, flags),
    ENTRY(lam_embed_text_request, texts),
    ENTRY(lam_embed_text_request, lengths),
    ENTRY(lam_embed_text_request, n_texts),
    ENTRY(lam_embed_text_request, timeout_ms),
    ENTRY(lam_embed_text_request, max_tokens),
    SIZE(lam_result),
    ENTRY(lam_result, struct_size),
    ENTRY(lam_result, embedding_dim),
    ENTRY(lam_result, n_sequences),
    ENTRY(lam_result, data),
    ENTRY(lam_result, internal_),
    SIZE(lam_client_stats),
    ENTRY(lam_client_stats, struct_size),
    ENTRY(lam_client_stats, inflight),
    ENTRY(lam_client_stats, inflight_high_water),
    ENTRY(lam_client_stats, reserved0),
    ENTRY(lam_client_stats, requests_submitted),
    ENTRY(lam_client_stats, requests_completed),
    ENTRY(lam_client_stats, requests_failed),
    ENTRY(lam_client_stats, sequences_embedded),
    ENTRY(lam_client_stats, bytes_submitted),
    ENTRY(lam_client_stats, queue_us_total),
    ENTRY(lam_client_stats, compute_us_total),
    ENTRY(lam_client_stats, connects),
    ENTRY(lam_client_stats, daemon_lost),
    ENTRY(lam_client_stats, arena_bytes),
    ENTRY(lam_client_stats, daemon_epoch),
    SIZE(lam_log_level),
    SIZE(lam_status),
    SIZE(lam_ticket),
    {NULL, 0},
};
