// SPDX-License-Identifier: MIT
// extern "C" glue over lam::client::Client. Every body catches everything: no C++ exception
// crosses the C ABI (STYLE.md 8).
#include <cstring>
#include <new>

#include "client.h"
#include "log.h"
#include "lam/lam.h"
#include "shm/protocol.h"
#include "shm/shm_abi.h"

struct lam_client {
  lam::client::Client impl;
  explicit lam_client(const lam_client_options& o) : impl(o) {}
};

namespace {

// Copies a caller's size-prefixed struct: known fields only, zeros for the rest.
template <typename T>
bool ReadSized(const T* in, T* out) {
  if (in == nullptr || in->struct_size == 0) return false;
  std::memset(static_cast<void*>(out), 0, sizeof(T));
  std::memcpy(static_cast<void*>(out), in, std::min<size_t>(in->struct_size, sizeof(T)));
  return true;
}

lam_status Internal(lam_client* c, const char* what) {
  if (c != nullptr) {
    try {
      c->impl.Fail(LAM_STATUS_INTERNAL, what);
    } catch (...) {
    }
  }
  return LAM_STATUS_INTERNAL;
}

// The blocking calls of the token and text APIs differ only in how they submit: `submit` wraps
// impl.Submit or impl.SubmitText, and `n` is the request's sequence or text count.
template <typename Request, typename Submit>
lam_status EmbedInto(lam_client* client, const Request& r, size_t n, Submit submit, float* out,
                     size_t out_capacity, size_t* out_count) {
  // The size check needs the model's dimension: connect first (cheap when connected).
  lam_model_info info = LAM_MODEL_INFO_INIT;
  if (lam_status st = client->impl.ModelInfo(&info); st != LAM_STATUS_OK) return st;
  const size_t needed = n * info.embedding_dim;
  if (out_count != nullptr) *out_count = needed;
  if (n != 0 && (out_capacity < needed || out == nullptr)) {
    return client->impl.Fail(LAM_STATUS_BUFFER_TOO_SMALL, "output needs " + std::to_string(needed) +
                                                              " floats; capacity is " + std::to_string(out_capacity));
  }
  lam_ticket t = 0;
  if (lam_status st = submit(r, &t); st != LAM_STATUS_OK) return st;
  lam_status st = client->impl.Wait(t, r.timeout_ms, false, out, out_capacity, out_count, nullptr);
  if (st == LAM_STATUS_TIMEOUT) (void)client->impl.Cancel(t);
  return st;
}

template <typename Request, typename Submit>
lam_status EmbedResult(lam_client* client, const Request& r, Submit submit, lam_result* result) {
  lam_ticket t = 0;
  if (lam_status st = submit(r, &t); st != LAM_STATUS_OK) return st;
  lam_status st = client->impl.Wait(t, r.timeout_ms, false, nullptr, 0, nullptr, result);
  if (st == LAM_STATUS_TIMEOUT) (void)client->impl.Cancel(t);
  return st;
}

void ClearResult(lam_result* result) {
  result->embedding_dim = 0;
  result->n_sequences = 0;
  result->data = nullptr;
}

}  // namespace

extern "C" {

LAM_API const char* lam_status_str(lam_status status) {
  switch (status) {
#define LAM_STATUS_STR_(name, num, text) \
  case num:                              \
    return text;
    LAM_STATUS_MAP(LAM_STATUS_STR_)
#undef LAM_STATUS_STR_
    default:
      return "unknown status";
  }
}

LAM_API uint32_t lam_version_number(void) { return LAM_VERSION_NUMBER; }

LAM_API const char* lam_version_string(void) { return LAM_VERSION_STRING; }

LAM_API void lam_api_version(uint32_t* major, uint32_t* minor) {
  if (major != nullptr) *major = LAM_VERSION_MAJOR;
  if (minor != nullptr) *minor = LAM_VERSION_MINOR;
}

LAM_API void lam_protocol_version(uint32_t* major, uint32_t* minor) {
  if (major != nullptr) *major = lam::shm::kShmProtoMajor;
  if (minor != nullptr) *minor = lam::shm::kShmProtoMinor;
}

LAM_API lam_status lam_client_open(const lam_client_options* options, lam_client** out) {
  if (out == nullptr) return LAM_STATUS_INVALID_ARG;
  *out = nullptr;
  lam_client_options o = LAM_CLIENT_OPTIONS_INIT;
  if (options != nullptr && !ReadSized(options, &o)) return LAM_STATUS_INVALID_ARG;
  try {
    auto* c = new lam_client(o);
    *out = c;
    return c->impl.Connect();
  } catch (const std::bad_alloc&) {
    return LAM_STATUS_INTERNAL;
  } catch (...) {
    return Internal(*out, "unexpected exception in lam_client_open");
  }
}

LAM_API void lam_client_close(lam_client* client) {
  if (client == nullptr) return;
  try {
    delete client;
  } catch (...) {
  }
}

LAM_API const char* lam_client_last_error(const lam_client* client) {
  return client == nullptr ? "" : client->impl.last_error();
}

LAM_API lam_status lam_client_get_stats(lam_client* client, lam_client_stats* out) {
  if (client == nullptr || out == nullptr || out->struct_size < sizeof(uint32_t) * 2) return LAM_STATUS_INVALID_ARG;
  try {
    return client->impl.GetStats(out);
  } catch (...) {
    return Internal(client, "unexpected exception in lam_client_get_stats");
  }
}

LAM_API void lam_set_log_callback(lam_log_callback fn, lam_log_level max_level, void* user_data) {
  if (max_level < LAM_LOG_OFF) max_level = LAM_LOG_OFF;
  if (max_level > LAM_LOG_DEBUG) max_level = LAM_LOG_DEBUG;
  lam::client::SetLogCallback(fn, max_level, user_data);
}

LAM_API lam_status lam_client_get_model_info(lam_client* client, lam_model_info* out) {
  if (client == nullptr || out == nullptr || out->struct_size == 0) return LAM_STATUS_INVALID_ARG;
  try {
    return client->impl.ModelInfo(out);
  } catch (...) {
    return Internal(client, "unexpected exception in lam_client_get_model_info");
  }
}

LAM_API lam_status lam_client_get_embedding_dim(lam_client* client, uint32_t* dim) {
  if (client == nullptr || dim == nullptr) return LAM_STATUS_INVALID_ARG;
  try {
    lam_model_info info = LAM_MODEL_INFO_INIT;
    const lam_status st = client->impl.ModelInfo(&info);
    if (st == LAM_STATUS_OK) *dim = info.embedding_dim;
    return st;
  } catch (...) {
    return Internal(client, "unexpected exception in lam_client_get_embedding_dim");
  }
}

LAM_API lam_status lam_client_submit_tokens(lam_client* client, const lam_embed_tokens_request* request,
                                            lam_ticket* ticket) {
  if (client == nullptr || ticket == nullptr) return LAM_STATUS_INVALID_ARG;
  try {
    lam_embed_tokens_request r;
    if (!ReadSized(request, &r)) return client->impl.Fail(LAM_STATUS_INVALID_ARG, "request NULL or struct_size 0");
    return client->impl.Submit(r, ticket);
  } catch (...) {
    return Internal(client, "unexpected exception in lam_client_submit_tokens");
  }
}

LAM_API lam_status lam_client_wait(lam_client* client, lam_ticket ticket, uint32_t timeout_ms, float* out,
                                   size_t out_capacity, size_t* out_count) {
  if (client == nullptr) return LAM_STATUS_INVALID_ARG;
  try {
    return client->impl.Wait(ticket, timeout_ms, false, out, out_capacity, out_count, nullptr);
  } catch (...) {
    return Internal(client, "unexpected exception in lam_client_wait");
  }
}

LAM_API lam_status lam_client_poll(lam_client* client, lam_ticket ticket, float* out, size_t out_capacity,
                                   size_t* out_count) {
  if (client == nullptr) return LAM_STATUS_INVALID_ARG;
  try {
    return client->impl.Wait(ticket, 0, true, out, out_capacity, out_count, nullptr);
  } catch (...) {
    return Internal(client, "unexpected exception in lam_client_poll");
  }
}

LAM_API lam_status lam_client_cancel(lam_client* client, lam_ticket ticket) {
  if (client == nullptr) return LAM_STATUS_INVALID_ARG;
  try {
    return client->impl.Cancel(ticket);
  } catch (...) {
    return Internal(client, "unexpected exception in lam_client_cancel");
  }
}

LAM_API lam_status lam_client_embed_tokens(lam_client* client, const lam_embed_tokens_request* request, float* out,
                                         size_t out_capacity, size_t* out_count) {
  if (client == nullptr) return LAM_STATUS_INVALID_ARG;
  try {
    lam_embed_tokens_request r;
    if (!ReadSized(request, &r)) return client->impl.Fail(LAM_STATUS_INVALID_ARG, "request NULL or struct_size 0");
    return EmbedInto(client, r, r.n_sequences, [client](const lam_embed_tokens_request& q, lam_ticket* t) { return client->impl.Submit(q, t); },
                     out, out_capacity, out_count);
  } catch (...) {
    return Internal(client, "unexpected exception in lam_client_embed_tokens");
  }
}

LAM_API lam_status lam_client_embed_tokens_result(lam_client* client, const lam_embed_tokens_request* request,
                                                lam_result* result) {
  if (client == nullptr || result == nullptr || result->struct_size == 0) return LAM_STATUS_INVALID_ARG;
  try {
    ClearResult(result);
    lam_embed_tokens_request r;
    if (!ReadSized(request, &r)) return client->impl.Fail(LAM_STATUS_INVALID_ARG, "request NULL or struct_size 0");
    return EmbedResult(client, r, [client](const lam_embed_tokens_request& q, lam_ticket* t) { return client->impl.Submit(q, t); },
                       result);
  } catch (...) {
    return Internal(client, "unexpected exception in lam_client_embed_tokens_result");
  }
}

LAM_API lam_status lam_client_submit_text(lam_client* client, const lam_embed_text_request* request,
                                          lam_ticket* ticket) {
  if (client == nullptr || ticket == nullptr) return LAM_STATUS_INVALID_ARG;
  try {
    lam_embed_text_request r;
    if (!ReadSized(request, &r)) return client->impl.Fail(LAM_STATUS_INVALID_ARG, "request NULL or struct_size 0");
    return client->impl.SubmitText(r, ticket);
  } catch (...) {
    return Internal(client, "unexpected exception in lam_client_submit_text");
  }
}

LAM_API lam_status lam_client_embed_text(lam_client* client, const lam_embed_text_request* request, float* out,
                                         size_t out_capacity, size_t* out_count) {
  if (client == nullptr) return LAM_STATUS_INVALID_ARG;
  try {
    lam_embed_text_request r;
    if (!ReadSized(request, &r)) return client->impl.Fail(LAM_STATUS_INVALID_ARG, "request NULL or struct_size 0");
    return EmbedInto(client, r, r.n_texts, [client](const lam_embed_text_request& q, lam_ticket* t) { return client->impl.SubmitText(q, t); },
                     out, out_capacity, out_count);
  } catch (...) {
    return Internal(client, "unexpected exception in lam_client_embed_text");
  }
}

LAM_API lam_status lam_client_embed_text_result(lam_client* client, const lam_embed_text_request* request,
                                                lam_result* result) {
  if (client == nullptr || result == nullptr || result->struct_size == 0) return LAM_STATUS_INVALID_ARG;
  try {
    ClearResult(result);
    lam_embed_text_request r;
    if (!ReadSized(request, &r)) return client->impl.Fail(LAM_STATUS_INVALID_ARG, "request NULL or struct_size 0");
    return EmbedResult(client, r, [client](const lam_embed_text_request& q, lam_ticket* t) { return client->impl.SubmitText(q, t); },
                       result);
  } catch (...) {
    return Internal(client, "unexpected exception in lam_client_embed_text_result");
  }
}

LAM_API void lam_result_release(lam_client* client, lam_result* result) {
  if (client == nullptr || result == nullptr || result->data == nullptr) return;
  try {
    client->impl.Release(result);
  } catch (...) {
  }
}

LAM_API lam_status lam_client_ping(lam_client* client, uint32_t timeout_ms) {
  if (client == nullptr) return LAM_STATUS_INVALID_ARG;
  try {
    lam_ticket t = 0;
    if (lam_status st = client->impl.SubmitNop(timeout_ms, &t); st != LAM_STATUS_OK) return st;
    lam_status st = client->impl.Wait(t, timeout_ms, false, nullptr, 0, nullptr, nullptr);
    if (st == LAM_STATUS_TIMEOUT) (void)client->impl.Cancel(t);
    return st;
  } catch (...) {
    return Internal(client, "unexpected exception in lam_client_ping");
  }
}

// The *_INIT macros as functions (FFI callers). Every byte zero, padding included, then the size.
#define LAM_DEFINE_INIT_(type)                                 \
  LAM_API void type##_init(type* p) {                          \
    if (p == nullptr) return;                                  \
    std::memset(static_cast<void*>(p), 0, sizeof(type));       \
    p->struct_size = static_cast<uint32_t>(sizeof(type));      \
  }
LAM_DEFINE_INIT_(lam_client_options)
LAM_DEFINE_INIT_(lam_model_info)
LAM_DEFINE_INIT_(lam_embed_tokens_request)
LAM_DEFINE_INIT_(lam_embed_text_request)
LAM_DEFINE_INIT_(lam_result)
LAM_DEFINE_INIT_(lam_client_stats)
#undef LAM_DEFINE_INIT_

}  // extern "C"

