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
    ENTRY(lam_embed_text_request, reserved),
    SIZE(lam_result),
    ENTRY(lam_result, struct_size),
    ENTRY(lam_result, embedding_dim),
    ENTRY(lam_result, n_sequences),
    ENTRY(lam_result, data),
    ENTRY(lam_result, internal_),
    SIZE(lam_status),
    SIZE(lam_ticket),
    {NULL, 0},
};
