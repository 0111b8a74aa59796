// SPDX-License-Identifier: MIT
// The HTTP face's request and reply documents, with the peers' field names and error shapes:
// OpenAI's POST /v1/embeddings and Hugging Face text-embeddings-inference's POST /embed and
// GET /info. Pure functions (no I/O, no engine): the server glue (server/server_http.cpp) runs
// the same admission, tokenizer and scheduler as the shared-memory path between them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lam/lam_status.h"

namespace lam::http {

enum class Route { kOpenAIEmbeddings, kTeiEmbed, kTeiInfo, kHealth, kReady, kMetrics, kNotFound };

// The route of `path`; *method_ok is false when the path exists but not for `method`, and
// *allow is then the method it takes.
Route Resolve(std::string_view method, std::string_view path, bool* method_ok, const char** allow);
// OpenAI's error object for the /v1 routes, TEI's {"error","error_type"} for the others.
bool UsesOpenAIErrors(Route route);

// What an embedding request asks for, after its JSON was checked.
struct EmbedInput {
  bool is_text = true;
  std::vector<std::string> texts;             // is_text: UTF-8 (nlohmann's parser checked it)
  std::vector<std::vector<int32_t>> ids;      // !is_text: token ids, unchecked against the vocabulary
  bool base64 = false;                        // OpenAI encoding_format "base64"
  bool truncate = true;                       // texts longer than the model maximum are cut
  std::string model;                          // as asked ("" = not given)
};

// An answer other than 200: the HTTP status and the fields of either error shape.
struct ApiError {
  int http_status = 400;
  std::string message;
  std::string type;   // OpenAI "type" ("invalid_request_error", ...)
  std::string param;  // OpenAI "param" ("" = null)
  std::string code;   // OpenAI "code" ("" = null)
  std::string tei_type;  // TEI "error_type" ("Validation", "Overloaded", ...)
};

// What the parsers check requests against.
struct ApiLimits {
  std::string model_name;                      // the served model's name
  size_t max_inputs = 65536;                   // texts or sequences per request
  size_t embedding_dim = 384;
};

// OpenAI: {"input": string | [string] | [int] | [[int]], "model", "encoding_format":
// "float"|"base64", "dimensions" (must be the model's), "user"}. False with *error filled when
// the request is not acceptable (400 for shape and type errors, 404 for another model, 413 for
// too many inputs).
bool ParseOpenAIRequest(std::string_view body, const ApiLimits& limits, EmbedInput* out, ApiError* error);
// TEI: {"inputs": string | [string] | [int] | [[int]], "normalize" (default true), "truncate"
// (default false: a text past the model maximum is refused with 413), "truncation_direction":
// "right", "prompt_name": null}.
bool ParseTeiRequest(std::string_view body, const ApiLimits& limits, EmbedInput* out, ApiError* error);

// The HTTP status for a lam_status of the shared-memory path (400 bad input, 413 too large, 429
// overloaded, 503 shutting down, 504 deadline, 500 otherwise) and the error fields to go with it.
ApiError ErrorForStatus(lam_status code, const std::string& message);

std::string OpenAIErrorBody(const ApiError& e);
std::string TeiErrorBody(const ApiError& e);

// {"object":"list","data":[{"object":"embedding","index":i,"embedding":[...] | "base64"}],
//  "model":...,"usage":{"prompt_tokens":n,"total_tokens":n}}; floats are printed in their
// shortest round-trip form (reading them back as float32 gives the same bits), base64 is the
// little-endian float32 bytes as OpenAI sends them.
std::string OpenAIEmbeddingsBody(const float* data, size_t n, size_t dim, bool base64, const std::string& model,
                                 uint64_t prompt_tokens);
// [[...], [...]]
std::string TeiEmbeddingsBody(const float* data, size_t n, size_t dim);

// Standard base64 (RFC 4648, with padding).
std::string Base64Encode(const void* data, size_t size);

// The reason phrase of an HTTP status ("OK", "Too Many Requests", ...).
const char* ReasonPhrase(int status);

// Compares a request's Authorization header with "Bearer <token>" in time that depends on the
// lengths only, never on where the bytes first differ.
bool BearerTokenMatches(std::string_view authorization, std::string_view token);

}  // namespace lam::http
