/* SPDX-License-Identifier: MIT */
/*
 * lam_status.h: the one list of lam status codes (included by lam.h; do not include directly).
 *
 * Numbers are stable and never reused. Retired codes stay here as comments.
 * The same X-macro drives the enum, lam_status_str() and the Go/Rust bindings.
 * Codes 1-9 are failures of the call or the service; codes from 20 are verdicts
 * on the caller's input ("expected" outcomes that the caller can fix).
 */
#ifndef LAM_STATUS_H_
#define LAM_STATUS_H_

#include <stdint.h>

/* X(NAME, number, "static description") */
#define LAM_STATUS_MAP(X)                                                              \
  X(OK, 0, "ok")                                                                       \
  X(INVALID_ARG, 1, "invalid argument")                                                \
  X(DAEMON_UNAVAILABLE, 2, "daemon unavailable")                                       \
  X(TIMEOUT, 3, "timed out")                                                           \
  X(BUFFER_TOO_SMALL, 4, "buffer too small")                                           \
  X(PROTOCOL_MISMATCH, 5, "protocol or ABI version mismatch")                          \
  X(MODEL_NOT_LOADED, 6, "model not loaded")                                           \
  X(BACKEND_FAILED, 7, "backend failed")                                               \
  X(OVERLOADED, 8, "overloaded, try again later")                                      \
  X(INTERNAL, 9, "internal error")                                                     \
  X(TOO_LARGE, 10, "request too large for the shared-memory arena")                    \
  X(PERMISSION_DENIED, 11, "permission denied")                                        \
  X(MODEL_INVALID, 12, "model files invalid")                                          \
  X(IO_ERROR, 13, "i/o error")                                                         \
  X(NOT_FOUND, 14, "not found")                                                        \
  X(CANCELLED, 15, "cancelled")                                                        \
  X(DEADLINE_EXCEEDED, 16, "deadline exceeded before compute")                         \
  X(UNSUPPORTED, 17, "not supported by this build or device")                          \
  X(EMPTY_BATCH, 20, "empty batch")                                                    \
  X(EMPTY_SEQUENCE, 21, "empty sequence")                                              \
  X(TOKEN_OUT_OF_RANGE, 22, "token id out of the vocabulary range")                    \
  X(SEQUENCE_TOO_LONG, 23, "sequence longer than the model maximum")                   \
  X(INVALID_UTF8, 24, "invalid UTF-8 text")                                            \
  X(MALFORMED_REQUEST, 25, "malformed request descriptor")                           \
  X(PENDING, 26, "request still in progress")

typedef int32_t lam_status;

enum lam_status_code {
#define LAM_STATUS_ENUM_(name, num, text) LAM_STATUS_##name = num,
  LAM_STATUS_MAP(LAM_STATUS_ENUM_)
#undef LAM_STATUS_ENUM_
  LAM_STATUS_LAST_ /* not a status; one past the highest */
};

#endif /* LAM_STATUS_H_ */
