/* SPDX-License-Identifier: MIT */
/*
 * lam.h - the C interface of liblamclient, the client library of lamd.
 *
 * lamd is a host daemon that keeps a LAM sentence-embedding model resident and serves it to
 * local processes over shared memory. This header is the whole public API: anything not
 * declared here (the shared-memory layout, the socket protocol, the daemon's internals) is not
 * API and may change in any release. The header is C99 and needs only <stdint.h> and
 * <stddef.h>; it is also valid C++.
 *
 * Conventions
 *   - Every fallible function returns a lam_status (LAM_STATUS_OK == 0). Codes are stable and
 *     listed in lam_status.h; lam_status_str() describes a code and lam_client_last_error()
 *     gives the detail of the last failed call on a handle.
 *   - Option and request structs begin with a struct_size field; initialise them with their
 *     *_INIT macro, or (from a language without C macros: Go, Rust, Python) with the matching
 *     lam_<struct>_init() function, which gives the same value. The library reads only the
 *     fields it knows and rejects struct_size == 0 with LAM_STATUS_INVALID_ARG.
 *   - Memory: the library never returns memory the caller must free(). Outputs go either into
 *     a caller-provided buffer (float* out, size_t out_capacity, size_t* out_count), or into a
 *     lam_result that points into shared memory until lam_result_release().
 *   - Timeouts are in milliseconds: 0 selects the handle's default, LAM_TIMEOUT_INFINITE
 *     waits for ever.
 *
 * Version checks
 *   Three versions are kept apart: the library version (lam_version_number()), the C ABI
 *   version (lam_api_version(): the major changes only when an existing function changes
 *   meaning; minors only add functions), and the daemon protocol version
 *   (lam_protocol_version(); checked against the daemon at connect, a mismatch is
 *   LAM_STATUS_PROTOCOL_MISMATCH). A program built against this header can check at run time:
 *
 *     uint32_t major, minor;
 *     lam_api_version(&major, &minor);
 *     if (major != LAM_VERSION_MAJOR) { ... the loaded library is incompatible ... }
 *
 * Minimal use
 *
 *     lam_client* c = NULL;
 *     if (lam_client_open(NULL, &c) != LAM_STATUS_OK) { ... lam_client_last_error(c) ... }
 *     int32_t ids[] = {101, 7592, 2088, 102};
 *     uint32_t len = 4;
 *     lam_embed_tokens_request req = LAM_EMBED_TOKENS_REQUEST_INIT;
 *     req.token_ids = ids; req.lengths = &len; req.n_sequences = 1;
 *     float emb[384]; size_t n = 0;
 *     lam_status rc = lam_client_embed_tokens(c, &req, emb, 384, &n);
 *     lam_client_close(c);
 */
#ifndef LAM_LAM_H_
#define LAM_LAM_H_

#include <stddef.h>
#include <stdint.h>

#include "lam/lam_status.h"
#include "lam/lam_version.h"

#if defined(_WIN32)
#define LAM_API __declspec(dllexport)
#elif defined(__GNUC__)
#define LAM_API __attribute__((visibility("default")))
#else
#define LAM_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- library ------------------------------------------------------------------------ */

/** Wait as long as it takes (timeout argument or field). */
#define LAM_TIMEOUT_INFINITE 0xFFFFFFFFu
/** Use the handle's default timeout (lam_client_options.timeout_ms). */
#define LAM_TIMEOUT_DEFAULT 0u

/**
 * Static, human-readable description of a status code ("ok", "timed out", ...).
 * @param[in] status any value; unknown codes give "unknown status".
 * @return a static string; never NULL; not owned by the caller.
 * Thread-safety: may be called from any thread at any time.
 */
LAM_API const char* lam_status_str(lam_status status);

/**
 * Version of the loaded library as LAM_VERSION_NUMBER (X*1000000 + Y*1000 + Z).
 * Compare with the LAM_VERSION_NUMBER the program was compiled with.
 * Thread-safety: any thread.
 */
LAM_API uint32_t lam_version_number(void);

/**
 * Version of the loaded library as "X.Y.Z".
 * @return a static string; not owned by the caller.
 * Thread-safety: any thread.
 */
LAM_API const char* lam_version_string(void);

/**
 * C ABI version of the loaded library: the major equals LAM_VERSION_MAJOR (the SOVERSION);
 * minor releases only add functions.
 * @param[out] major may be NULL.
 * @param[out] minor may be NULL.
 * Thread-safety: any thread.
 */
LAM_API void lam_api_version(uint32_t* major, uint32_t* minor);

/**
 * Version of the daemon protocol this library speaks (shared-memory layout and control
 * frames). A daemon with a different major refuses the connection with
 * LAM_STATUS_PROTOCOL_MISMATCH.
 * @param[out] major may be NULL.
 * @param[out] minor may be NULL.
 * Thread-safety: any thread.
 */
LAM_API void lam_protocol_version(uint32_t* major, uint32_t* minor);

/* ---- client handle -------------------------------------------------------------------- */

/**
 * A connection to lamd: the control socket, this process's private shared-memory segment and
 * the requests in flight on it.
 *
 * A lam_client may be used from several threads at once: calls are serialised where they
 * touch shared state and several threads may wait on their own tickets concurrently.
 * lam_client_last_error() reports the last failure on the handle, whichever thread made it.
 * If the daemon goes away, calls fail with LAM_STATUS_DAEMON_UNAVAILABLE (a waiting call
 * within about a second); the next call reconnects by itself once a daemon is back.
 * A handle must not be used after fork() in the child; open a new one there.
 */
typedef struct lam_client lam_client;

/** An asynchronous request on a lam_client (see lam_client_submit_tokens). */
typedef uint64_t lam_ticket;

/**
 * Options for lam_client_open. Initialise with LAM_CLIENT_OPTIONS_INIT.
 */
typedef struct lam_client_options {
  uint32_t struct_size;        /**< sizeof(lam_client_options); set by the INIT macro */
  uint32_t flags;              /**< reserved, 0 */
  const char* socket_path;     /**< NULL: $LAMD_SOCKET, else "/run/lamd/lamd.sock"; copied */
  uint64_t arena_bytes;        /**< shared-memory payload arena wanted; 0 = daemon default */
  uint32_t timeout_ms;         /**< default per-call timeout; 0 = 30000 */
  uint32_t connect_timeout_ms; /**< connect + hello; 0 = 5000 */
} lam_client_options;

/** Initialiser for lam_client_options. */
#define LAM_CLIENT_OPTIONS_INIT { sizeof(lam_client_options), 0, NULL, 0, 0, 0 }

/**
 * Sets *options to LAM_CLIENT_OPTIONS_INIT (every field zero, struct_size = sizeof(lam_client_options)), for callers
 * that cannot use the macro (FFI). NULL does nothing.
 * Thread-safety: any thread.
 */
LAM_API void lam_client_options_init(lam_client_options* options);

/**
 * Opens a client handle and connects to the daemon.
 *
 * @param[in]  options may be NULL for the defaults; borrowed for the call.
 * @param[out] out     receives the handle. On failure other than INVALID_ARG it still
 *                     receives a handle (so lam_client_last_error() can explain) that must be
 *                     closed; it reconnects on the next call.
 * @return LAM_STATUS_OK, LAM_STATUS_INVALID_ARG (out NULL, bad struct_size),
 *         LAM_STATUS_DAEMON_UNAVAILABLE (no daemon on the socket), LAM_STATUS_TIMEOUT,
 *         LAM_STATUS_PERMISSION_DENIED (this uid/gid is not allowed),
 *         LAM_STATUS_PROTOCOL_MISMATCH (library and daemon versions differ),
 *         LAM_STATUS_OVERLOADED (the daemon serves too many clients), LAM_STATUS_INTERNAL.
 * Ownership: the caller owns *out and releases it with lam_client_close().
 * Thread-safety: any thread.
 */
LAM_API lam_status lam_client_open(const lam_client_options* options, lam_client** out);

/**
 * Closes the connection and frees the handle. Pending tickets are abandoned; outstanding
 * lam_results become invalid. lam_client_close(NULL) does nothing.
 * Thread-safety: no other call on this handle may run concurrently or follow.
 */
LAM_API void lam_client_close(lam_client* client);

/**
 * Detail of the last failed call on this handle ("sequence 3 has 9000 tokens; the model
 * maximum is 8192"), or "" if none.
 * @return a string owned by the handle, valid until the next call on it; "" for NULL.
 * Thread-safety: any thread; with several threads, the message may belong to another
 * thread's call.
 */
LAM_API const char* lam_client_last_error(const lam_client* client);

/**
 * What the daemon serves. Initialise with LAM_MODEL_INFO_INIT.
 */
typedef struct lam_model_info {
  uint32_t struct_size;   /**< sizeof(lam_model_info); set by the INIT macro */
  uint32_t embedding_dim; /**< floats per embedding (384) */
  uint32_t max_tokens;    /**< longest sequence accepted, [CLS] and [SEP] included */
  uint32_t vocab_size;    /**< token ids must be in [0, vocab_size) */
  uint32_t n_buckets;     /**< length classes the daemon batches by */
  uint32_t buckets[16];   /**< ascending; the first n_buckets are valid */
  char fingerprint[72];   /**< model content hash, hex, NUL-terminated */
  char name[64];          /**< model name, NUL-terminated */
  char backend[16];       /**< "cpu", "cuda" or "auto", NUL-terminated */
  uint64_t daemon_epoch;  /**< changes whenever the daemon restarts */
  /** What the daemon computes in (lamd --precision), NUL-terminated: "fp32" (bit-exact) or
   *  "bf16" (CPU GEMMs in bf16 with fp32 accumulation) or "tf32" (CUDA GEMMs on tensor cores with
   *  TF32 inputs and fp32 accumulation). Appended: a caller built against an older
   *  header passes a smaller struct_size and gets the fields it knows; an older daemon, which
   *  served fp32 only, is reported as "fp32". */
  char precision[16];
} lam_model_info;

/** Initialiser for lam_model_info. */
#define LAM_MODEL_INFO_INIT { sizeof(lam_model_info), 0, 0, 0, 0, {0}, {0}, {0}, {0}, 0, {0} }

/**
 * Sets *info to LAM_MODEL_INFO_INIT (every field zero, struct_size = sizeof(lam_model_info)), for callers
 * that cannot use the macro (FFI). NULL does nothing.
 * Thread-safety: any thread.
 */
LAM_API void lam_model_info_init(lam_model_info* info);

/**
 * Describes the served model (reconnecting first if needed).
 * @param[in]     client the handle.
 * @param[in,out] out    struct_size set by LAM_MODEL_INFO_INIT; filled on success.
 * @return LAM_STATUS_OK, LAM_STATUS_INVALID_ARG, LAM_STATUS_DAEMON_UNAVAILABLE and the
 *         connection errors of lam_client_open.
 * Thread-safety: any thread.
 */
LAM_API lam_status lam_client_get_model_info(lam_client* client, lam_model_info* out);

/**
 * Floats per embedding of the served model (384 for the LAM models and all-MiniLM-L6-v2), to
 * size output buffers. The daemon sends it at connect: on a connected handle this is a read of
 * the handle, not a round trip (it connects first if the handle is not connected).
 * @param[in]  client the handle.
 * @param[out] dim    receives the dimension.
 * @return LAM_STATUS_OK, LAM_STATUS_INVALID_ARG (client or dim NULL) and the connection errors
 *         of lam_client_open.
 * Thread-safety: any thread.
 */
LAM_API lam_status lam_client_get_embedding_dim(lam_client* client, uint32_t* dim);

/* ---- embedding token ids --------------------------------------------------------------- */

/**
 * A batch of ragged token-id sequences. Initialise with LAM_EMBED_TOKENS_REQUEST_INIT.
 * Sequence i has lengths[i] ids, stored back to back in token_ids, each including [CLS] and
 * [SEP]. The arrays are borrowed for the call only (copied into shared memory).
 */
typedef struct lam_embed_tokens_request {
  uint32_t struct_size;      /**< sizeof(lam_embed_tokens_request); set by the INIT macro */
  uint32_t flags;            /**< reserved, 0 */
  const int32_t* token_ids;  /**< sum(lengths) ids */
  const uint32_t* lengths;   /**< n_sequences lengths, each >= 1 and <= max_tokens */
  size_t n_sequences;        /**< >= 1 */
  uint32_t timeout_ms;       /**< 0 = handle default; LAM_TIMEOUT_INFINITE; the daemon drops
                                  the request unstarted once it is older than this */
  uint32_t reserved;         /**< 0 */
} lam_embed_tokens_request;

/** Initialiser for lam_embed_tokens_request. */
#define LAM_EMBED_TOKENS_REQUEST_INIT { sizeof(lam_embed_tokens_request), 0, NULL, NULL, 0, 0, 0 }

/**
 * Sets *request to LAM_EMBED_TOKENS_REQUEST_INIT (every field zero, struct_size = sizeof(lam_embed_tokens_request)), for callers
 * that cannot use the macro (FFI). NULL does nothing.
 * Thread-safety: any thread.
 */
LAM_API void lam_embed_tokens_request_init(lam_embed_tokens_request* request);

/**
 * Embeds a batch synchronously into a caller-provided buffer: n_sequences rows of
 * embedding_dim L2-normalised floats, row i for sequence i.
 *
 * The result for a sequence is bitwise the same whatever it is batched with.
 *
 * @param[in]  client       the handle.
 * @param[in]  request      the batch; borrowed for the call.
 * @param[out] out          n_sequences * embedding_dim floats; may be NULL if out_capacity is 0.
 * @param[in]  out_capacity capacity of out in floats.
 * @param[out] out_count    floats written, or needed on LAM_STATUS_BUFFER_TOO_SMALL; may be NULL.
 * @return LAM_STATUS_OK;
 *         LAM_STATUS_BUFFER_TOO_SMALL (nothing computed; *out_count = floats needed);
 *         input verdicts: LAM_STATUS_EMPTY_BATCH, LAM_STATUS_EMPTY_SEQUENCE,
 *         LAM_STATUS_TOKEN_OUT_OF_RANGE, LAM_STATUS_SEQUENCE_TOO_LONG, LAM_STATUS_INVALID_ARG,
 *         LAM_STATUS_TOO_LARGE (larger than this handle's arena; the message gives the bytes
 *         needed: reopen with lam_client_options.arena_bytes at least that);
 *         service outcomes: LAM_STATUS_TIMEOUT, LAM_STATUS_DEADLINE_EXCEEDED,
 *         LAM_STATUS_OVERLOADED, LAM_STATUS_DAEMON_UNAVAILABLE, LAM_STATUS_BACKEND_FAILED,
 *         LAM_STATUS_PROTOCOL_MISMATCH, LAM_STATUS_INTERNAL.
 * Ownership: out is written only on LAM_STATUS_OK.
 * Thread-safety: any thread; concurrent calls on one handle are batched together.
 */
LAM_API lam_status lam_client_embed_tokens(lam_client* client, const lam_embed_tokens_request* request,
                                           float* out, size_t out_capacity, size_t* out_count);

/**
 * A zero-copy result: embeddings that stay in the shared-memory segment until released.
 * Initialise with LAM_RESULT_INIT. A lam_result may be released from any thread, once.
 */
typedef struct lam_result {
  uint32_t struct_size;   /**< sizeof(lam_result); set by the INIT macro */
  uint32_t embedding_dim; /**< floats per row */
  size_t n_sequences;     /**< rows */
  const float* data;      /**< n_sequences * embedding_dim floats; read-only; valid until
                               lam_result_release() or lam_client_close() */
  uint64_t internal_[2];  /**< private to the library */
} lam_result;

/** Initialiser for lam_result. */
#define LAM_RESULT_INIT { sizeof(lam_result), 0, 0, NULL, { 0, 0 } }

/**
 * Sets *result to LAM_RESULT_INIT (every field zero, struct_size = sizeof(lam_result)), for callers
 * that cannot use the macro (FFI). NULL does nothing.
 * Thread-safety: any thread.
 */
LAM_API void lam_result_init(lam_result* result);

/**
 * Embeds a batch synchronously and returns the embeddings in place in shared memory
 * (no copy). The arena space stays in use until lam_result_release(): release results
 * promptly, or later requests fail with LAM_STATUS_TOO_LARGE once the arena is full.
 * @param[in]     client  the handle.
 * @param[in]     request the batch; borrowed for the call.
 * @param[in,out] result  LAM_RESULT_INIT-initialised; filled on LAM_STATUS_OK, zeroed otherwise.
 * @return the codes of lam_client_embed_tokens except BUFFER_TOO_SMALL.
 * Ownership: the caller must pass a filled result to lam_result_release().
 * Thread-safety: any thread.
 */
LAM_API lam_status lam_client_embed_tokens_result(lam_client* client, const lam_embed_tokens_request* request,
                                                  lam_result* result);

/**
 * Returns a zero-copy result's shared memory to the handle and clears *result.
 * NULL, an empty or an already released result is a no-op.
 * Thread-safety: any thread; each result once.
 */
LAM_API void lam_result_release(lam_client* client, lam_result* result);

/* ---- asynchronous requests -------------------------------------------------------------- */

/**
 * Submits a batch and returns at once with a ticket to wait on. The token ids are copied
 * before the call returns. At most the ring size (256 by default) tickets can be pending on a
 * handle; beyond that the call waits for completions up to the request's timeout.
 * @param[in]  client  the handle.
 * @param[in]  request the batch; borrowed for the call.
 * @param[out] ticket  receives the ticket.
 * @return LAM_STATUS_OK, LAM_STATUS_INVALID_ARG, LAM_STATUS_EMPTY_BATCH, LAM_STATUS_TOO_LARGE,
 *         LAM_STATUS_TIMEOUT, LAM_STATUS_DAEMON_UNAVAILABLE and the connection errors.
 *         Verdicts on the token ids come from lam_client_wait().
 * Ownership: each ticket must be finished by lam_client_wait/lam_client_poll returning
 * something other than LAM_STATUS_TIMEOUT, LAM_STATUS_PENDING or LAM_STATUS_BUFFER_TOO_SMALL,
 * or dropped with lam_client_cancel().
 * Thread-safety: any thread.
 */
LAM_API lam_status lam_client_submit_tokens(lam_client* client, const lam_embed_tokens_request* request,
                                            lam_ticket* ticket);

/**
 * Waits for a ticket and copies its embeddings out (like lam_client_embed_tokens).
 * @param[in]  client       the handle.
 * @param[in]  ticket       from lam_client_submit_tokens.
 * @param[in]  timeout_ms   0 = handle default; LAM_TIMEOUT_INFINITE.
 * @param[out] out          n_sequences * embedding_dim floats.
 * @param[in]  out_capacity capacity of out in floats.
 * @param[out] out_count    floats written or needed; may be NULL.
 * @return the codes of lam_client_embed_tokens. On LAM_STATUS_TIMEOUT and
 *         LAM_STATUS_BUFFER_TOO_SMALL the ticket stays valid and can be waited on again;
 *         any other result finishes it. LAM_STATUS_INVALID_ARG for an unknown ticket.
 * Thread-safety: any thread; several threads may wait on different tickets at once.
 */
LAM_API lam_status lam_client_wait(lam_client* client, lam_ticket ticket, uint32_t timeout_ms, float* out,
                                   size_t out_capacity, size_t* out_count);

/**
 * Like lam_client_wait without waiting.
 * @return LAM_STATUS_PENDING if the ticket is not finished yet (it stays valid), else as
 *         lam_client_wait.
 * Thread-safety: any thread.
 */
LAM_API lam_status lam_client_poll(lam_client* client, lam_ticket ticket, float* out, size_t out_capacity,
                                   size_t* out_count);

/**
 * Forgets a ticket; its result, if it ever arrives, is discarded.
 * @return LAM_STATUS_OK, or LAM_STATUS_INVALID_ARG for an unknown ticket.
 * Thread-safety: any thread.
 */
LAM_API lam_status lam_client_cancel(lam_client* client, lam_ticket ticket);

/* ---- embedding UTF-8 text (shm protocol 1.1) ------------------------------------------- */

/**
 * A batch of UTF-8 texts that the daemon tokenises with the model's WordPiece vocabulary
 * (vocab.txt) exactly as the model's Hugging Face tokenizer does, adding [CLS] and [SEP] and
 * truncating each text as sentence-transformers does (keeping [SEP] last): for a model
 * directory in the sentence-transformers layout, at its max_seq_length
 * (sentence_bert_config.json; 256 for all-MiniLM-L6-v2) and lower-cased if it says
 * do_lower_case, so that the rows equal SentenceTransformer(dir).encode(texts); otherwise at the
 * model's max_tokens. `max_tokens` asks for another length, up to the model's max_tokens (the
 * position table). An empty text is valid ([CLS][SEP]). Initialise with
 * LAM_EMBED_TEXT_REQUEST_INIT. The texts are borrowed for the call only (copied into shared
 * memory).
 */
typedef struct lam_embed_text_request {
  uint32_t struct_size;      /**< sizeof(lam_embed_text_request); set by the INIT macro */
  uint32_t flags;            /**< reserved, 0 */
  const char* const* texts;  /**< n_texts pointers to UTF-8 bytes (need not be NUL-terminated
                                  when lengths is given; may be NULL where lengths[i] is 0) */
  const size_t* lengths;     /**< byte length of each text; NULL = every text is NUL-terminated */
  size_t n_texts;            /**< >= 1 */
  uint32_t timeout_ms;       /**< 0 = handle default; LAM_TIMEOUT_INFINITE; the daemon drops
                                  the request unstarted once it is older than this */
  uint32_t max_tokens;       /**< tokens kept per text, [CLS] and [SEP] included: 0 = the
                                  model's default (above); else 2..lam_model_info.max_tokens
                                  (LAM_STATUS_INVALID_ARG otherwise). A daemon older than shm
                                  protocol 1.3 cannot: LAM_STATUS_PROTOCOL_MISMATCH. */
} lam_embed_text_request;

/** Initialiser for lam_embed_text_request. */
#define LAM_EMBED_TEXT_REQUEST_INIT { sizeof(lam_embed_text_request), 0, NULL, NULL, 0, 0, 0 }

/**
 * Sets *request to LAM_EMBED_TEXT_REQUEST_INIT (every field zero, struct_size = sizeof(lam_embed_text_request)), for callers
 * that cannot use the macro (FFI). NULL does nothing.
 * Thread-safety: any thread.
 */
LAM_API void lam_embed_text_request_init(lam_embed_text_request* request);

/**
 * Embeds a batch of texts synchronously into a caller-provided buffer: n_texts rows of
 * embedding_dim L2-normalised floats, row i for text i. The daemon tokenises; the rows are
 * bitwise the same as tokenising in-process and calling lam_client_embed_tokens.
 *
 * @param[in]  client       the handle.
 * @param[in]  request      the batch; borrowed for the call.
 * @param[out] out          n_texts * embedding_dim floats; may be NULL if out_capacity is 0.
 * @param[in]  out_capacity capacity of out in floats.
 * @param[out] out_count    floats written, or needed on LAM_STATUS_BUFFER_TOO_SMALL; may be NULL.
 * @return LAM_STATUS_OK;
 *         LAM_STATUS_BUFFER_TOO_SMALL (nothing computed; *out_count = floats needed);
 *         input verdicts: LAM_STATUS_INVALID_UTF8 (lam_client_last_error names the text index
 *         and the byte offset: "text 2: invalid UTF-8 at byte offset 5: ..."),
 *         LAM_STATUS_EMPTY_BATCH (n_texts is 0), LAM_STATUS_INVALID_ARG (request, texts or a
 *         needed texts[i] NULL), LAM_STATUS_TOO_LARGE (texts plus output larger than this
 *         handle's arena; reopen with a larger lam_client_options.arena_bytes);
 *         LAM_STATUS_UNSUPPORTED (the daemon's model has no vocab.txt);
 *         LAM_STATUS_PROTOCOL_MISMATCH (the daemon predates text requests, shm protocol < 1.1);
 *         service outcomes: LAM_STATUS_TIMEOUT, LAM_STATUS_DEADLINE_EXCEEDED,
 *         LAM_STATUS_OVERLOADED, LAM_STATUS_DAEMON_UNAVAILABLE, LAM_STATUS_BACKEND_FAILED,
 *         LAM_STATUS_INTERNAL.
 * Ownership: out is written only on LAM_STATUS_OK.
 * Thread-safety: any thread; concurrent calls on one handle are batched together.
 */
LAM_API lam_status lam_client_embed_text(lam_client* client, const lam_embed_text_request* request,
                                         float* out, size_t out_capacity, size_t* out_count);

/**
 * Like lam_client_embed_text, returning the embeddings in place in shared memory (no copy;
 * see lam_client_embed_tokens_result).
 * @param[in]     client  the handle.
 * @param[in]     request the batch; borrowed for the call.
 * @param[in,out] result  LAM_RESULT_INIT-initialised; filled on LAM_STATUS_OK, zeroed otherwise.
 * @return the codes of lam_client_embed_text except BUFFER_TOO_SMALL.
 * Ownership: the caller must pass a filled result to lam_result_release().
 * Thread-safety: any thread.
 */
LAM_API lam_status lam_client_embed_text_result(lam_client* client, const lam_embed_text_request* request,
                                                lam_result* result);

/**
 * Submits a batch of texts and returns at once with a ticket for lam_client_wait /
 * lam_client_poll / lam_client_cancel (as lam_client_submit_tokens). The texts are copied
 * before the call returns.
 * @param[in]  client  the handle.
 * @param[in]  request the batch; borrowed for the call.
 * @param[out] ticket  receives the ticket.
 * @return LAM_STATUS_OK, LAM_STATUS_INVALID_ARG, LAM_STATUS_EMPTY_BATCH, LAM_STATUS_TOO_LARGE,
 *         LAM_STATUS_PROTOCOL_MISMATCH, LAM_STATUS_TIMEOUT, LAM_STATUS_DAEMON_UNAVAILABLE and
 *         the connection errors. Verdicts on the texts (LAM_STATUS_INVALID_UTF8,
 *         LAM_STATUS_UNSUPPORTED) come from lam_client_wait().
 * Ownership: as lam_client_submit_tokens.
 * Thread-safety: any thread.
 */
LAM_API lam_status lam_client_submit_text(lam_client* client, const lam_embed_text_request* request,
                                          lam_ticket* ticket);

/**
 * A round trip through the shared-memory rings that computes nothing: checks that the
 * daemon is alive and measures the data-plane latency.
 * @param[in] client     the handle.
 * @param[in] timeout_ms 0 = handle default; LAM_TIMEOUT_INFINITE.
 * @return LAM_STATUS_OK, LAM_STATUS_TIMEOUT, LAM_STATUS_DAEMON_UNAVAILABLE, connection errors.
 * Thread-safety: any thread.
 */
LAM_API lam_status lam_client_ping(lam_client* client, uint32_t timeout_ms);

/* ---- statistics --------------------------------------------------------------------- */

/**
 * Client-side counters of one handle, cumulative since lam_client_open (they survive
 * reconnects). Initialise with LAM_CLIENT_STATS_INIT; fields beyond struct_size are not
 * written, so a program built against an older header keeps working.
 */
typedef struct lam_client_stats {
  uint32_t struct_size;          /**< sizeof(lam_client_stats); set by the INIT macro */
  uint32_t inflight;             /**< submitted and not yet completed, now */
  uint32_t inflight_high_water;  /**< most requests in flight at once */
  uint32_t reserved0;
  uint64_t requests_submitted;   /**< embedding, text and ping requests handed to the daemon */
  uint64_t requests_completed;   /**< answers received, any status */
  uint64_t requests_failed;      /**< answers with a status other than LAM_STATUS_OK */
  uint64_t sequences_embedded;   /**< embeddings received in OK answers */
  uint64_t bytes_submitted;      /**< request payload bytes written to shared memory */
  uint64_t queue_us_total;       /**< daemon-reported queueing time, summed over answers */
  uint64_t compute_us_total;     /**< daemon-reported batch compute time, summed over answers */
  uint64_t connects;             /**< successful connections (the first one and reconnects) */
  uint64_t daemon_lost;          /**< times the daemon was found gone (it died or restarted) */
  uint64_t arena_bytes;          /**< payload arena of the current connection; 0 if none */
  uint64_t daemon_epoch;         /**< of the current connection; 0 if none */
} lam_client_stats;

/** Initialiser for lam_client_stats. */
#define LAM_CLIENT_STATS_INIT { sizeof(lam_client_stats), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }

/**
 * Sets *stats to LAM_CLIENT_STATS_INIT (every field zero, struct_size = sizeof(lam_client_stats)), for callers
 * that cannot use the macro (FFI). NULL does nothing.
 * Thread-safety: any thread.
 */
LAM_API void lam_client_stats_init(lam_client_stats* stats);

/**
 * Reads the handle's counters. Never connects and never blocks on the daemon.
 * @param[in]     client the handle.
 * @param[in,out] out    struct_size set by LAM_CLIENT_STATS_INIT; filled on success.
 * @return LAM_STATUS_OK, LAM_STATUS_INVALID_ARG (NULL, struct_size 0).
 * Thread-safety: any thread; the fields are read together under the handle's lock.
 */
LAM_API lam_status lam_client_get_stats(lam_client* client, lam_client_stats* out);

/* ---- logging ------------------------------------------------------------------------ */

/** Severity of a library log message; a callback receives messages up to its max_level. */
typedef enum lam_log_level {
  LAM_LOG_OFF = 0,
  LAM_LOG_ERROR = 1,    /**< the library cannot do what was asked (protocol mismatch, ...) */
  LAM_LOG_WARNING = 2,  /**< the daemon went away, a reconnect failed */
  LAM_LOG_INFO = 3,     /**< connections made and lost */
  LAM_LOG_DEBUG = 4     /**< every failed call with its detail */
} lam_log_level;

/**
 * Receives one log message (a NUL-terminated line without a trailing newline). It may be
 * called from any thread that calls into the library, possibly concurrently, and must not
 * call back into liblamclient.
 */
typedef void (*lam_log_callback)(lam_log_level level, const char* message, void* user_data);

/**
 * Routes the library's log messages up to max_level to fn (fn NULL or LAM_LOG_OFF: silent,
 * the default). liblamclient prints nothing unless asked. For field debugging the
 * environment overrides it: LAM_LOG_LEVEL=error|warning|info|debug sets the level and
 * LAM_LOG_FILE=stderr|PATH appends the messages there (read once, at the first message).
 * Thread-safety: not thread-safe; call it before any other function of the library.
 */
LAM_API void lam_set_log_callback(lam_log_callback fn, lam_log_level max_level, void* user_data);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LAM_LAM_H_ */
