// SPDX-License-Identifier: MIT
#include "http/api.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "server/guard.h"

namespace lam::http {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

// The requests here nest three deep; anything much deeper is refused before nlohmann builds it.
constexpr int kMaxJsonDepth = 32;

std::string Dump(const OrderedJson& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

ApiError Invalid(std::string message, std::string param, int status = 400, std::string code = "") {
  ApiError e;
  e.http_status = status;
  e.message = std::move(message);
  e.type = "invalid_request_error";
  e.param = std::move(param);
  e.code = std::move(code);
  e.tei_type = "Validation";
  return e;
}

// Brackets outside strings, deepest nesting; stops counting past kMaxJsonDepth.
bool DepthWithin(std::string_view s, int max_depth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : s) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

bool ParseBody(std::string_view body, Json* out, ApiError* error) {
  if (!DepthWithin(body, kMaxJsonDepth)) {
    *error = Invalid("the JSON body nests deeper than " + std::to_string(kMaxJsonDepth) + " levels", "");
    return false;
  }
  *out = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) {
    *error = Invalid("the body is not valid JSON (UTF-8)", "");
    return false;
  }
  if (!out->is_object()) {
    *error = Invalid("the body must be a JSON object", "");
    return false;
  }
  return true;
}

const char* Kind(const Json& v) { return v.type_name(); }

// One token id: an integer in int32 range (the vocabulary is checked by the engine, as for
// shared-memory requests).
bool TokenId(const Json& v, const std::string& where, const char* field, int32_t* id, ApiError* error) {
  if (!v.is_number_integer()) {
    *error = Invalid(where + " is a " + Kind(v) + ", not an integer token id", field);
    return false;
  }
  const bool fits = v.is_number_unsigned() ? v.get<uint64_t>() <= uint64_t{INT32_MAX}
                                           : (v.get<int64_t>() >= INT32_MIN && v.get<int64_t>() <= INT32_MAX);
  if (!fits) {
    *error = Invalid("token id " + v.dump() + " at " + where + " is out of the vocabulary range", field, 400,
                     "token_out_of_range");
    return false;
  }
  *id = static_cast<int32_t>(v.get<int64_t>());
  return true;
}

// string | [string] | [int] | [[int]] into *out.
bool ParseInputs(const Json& root, const char* field, const ApiLimits& limits, EmbedInput* out, ApiError* error) {
  const auto it = root.find(field);
  if (it == root.end() || it->is_null()) {
    *error = Invalid(std::string("'") + field + "' is required", field);
    return false;
  }
  const Json& v = *it;
  if (v.is_string()) {
    out->is_text = true;
    out->texts.push_back(v.get<std::string>());
    return true;
  }
  if (!v.is_array()) {
    *error = Invalid(std::string("'") + field + "' must be a string, an array of strings, an array of token ids or "
                         "an array of arrays of token ids, not a " + Kind(v), field);
    return false;
  }
  if (v.empty()) {
    *error = Invalid(std::string("'") + field + "' is an empty array", field);
    return false;
  }
  if (v.size() > limits.max_inputs && !v[0].is_number()) {
    *error = Invalid(std::string("'") + field + "' has " + std::to_string(v.size()) + " inputs, more than the limit of " +
                         std::to_string(limits.max_inputs) + " (max-sequences-per-request)",
                     field, 413);
    return false;
  }
  if (v[0].is_string()) {
    out->is_text = true;
    out->texts.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string()) {
        *error = Invalid(std::string("'") + field + "'[" + std::to_string(i) + "] is a " + Kind(v[i]) +
                             "; an array of strings must hold strings only", field);
        return false;
      }
      out->texts.push_back(v[i].get<std::string>());
    }
    return true;
  }
  out->is_text = false;
  if (v[0].is_number()) {  // one sequence of token ids
    out->ids.emplace_back();
    out->ids.back().reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      int32_t id = 0;
      if (!TokenId(v[i], std::string(field) + "[" + std::to_string(i) + "]", field, &id, error)) return false;
      out->ids.back().push_back(id);
    }
    return true;
  }
  if (v[0].is_array()) {
    out->ids.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      const Json& seq = v[i];
      const std::string where = std::string(field) + "[" + std::to_string(i) + "]";
      if (!seq.is_array()) {
        *error = Invalid(where + " is a " + Kind(seq) + "; an array of token-id arrays must hold arrays only", field);
        return false;
      }
      out->ids.emplace_back();
      out->ids.back().reserve(seq.size());
      for (size_t t = 0; t < seq.size(); ++t) {
        int32_t id = 0;
        if (!TokenId(seq[t], where + "[" + std::to_string(t) + "]", field, &id, error)) return false;
        out->ids.back().push_back(id);
      }
    }
    return true;
  }
  *error = Invalid(std::string("'") + field + "'[0] is a " + Kind(v[0]) +
                       "; expected strings, token ids or arrays of token ids", field);
  return false;
}

// "all-MiniLM-L6-v2" and "sentence-transformers/all-MiniLM-L6-v2" both name the served model.
bool NamesModel(const std::string& asked, const std::string& served) {
  if (asked.empty() || asked == served) return true;
  return asked.size() > served.size() && asked.compare(asked.size() - served.size(), served.size(), served) == 0 &&
         asked[asked.size() - served.size() - 1] == '/';
}

void AppendFloat(std::string* out, float f) {
  if (!std::isfinite(f)) {
    *out += "null";
    return;
  }
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof(buf), f);
  out->append(buf, r.ptr);
}

void AppendVector(std::string* out, const float* v, size_t dim) {
  *out += '[';
  for (size_t d = 0; d < dim; ++d) {
    if (d != 0) *out += ',';
    AppendFloat(out, v[d]);
  }
  *out += ']';
}

}  // namespace

Route Resolve(std::string_view method, std::string_view path, bool* method_ok, const char** allow) {
  struct Entry {
    const char* path;
    const char* method;
    Route route;
  };
  static const Entry kRoutes[] = {
      {"/v1/embeddings", "POST", Route::kOpenAIEmbeddings}, {"/embeddings", "POST", Route::kOpenAIEmbeddings},
      {"/embed", "POST", Route::kTeiEmbed},                 {"/info", "GET", Route::kTeiInfo},
      {"/health", "GET", Route::kHealth},                   {"/ready", "GET", Route::kReady},
      {"/metrics", "GET", Route::kMetrics},
  };
  *method_ok = true;
  *allow = "";
  for (const Entry& e : kRoutes) {
    if (path != e.path) continue;
    *method_ok = method == e.method;
    *allow = e.method;
    return e.route;
  }
  return Route::kNotFound;
}

bool UsesOpenAIErrors(Route route) { return route == Route::kOpenAIEmbeddings; }

bool ParseOpenAIRequest(std::string_view body, const ApiLimits& limits, EmbedInput* out, ApiError* error) {
  *out = EmbedInput{};
  Json j;
  if (!ParseBody(body, &j, error)) return false;
  if (const auto m = j.find("model"); m != j.end() && !m->is_null()) {
    if (!m->is_string()) {
      *error = Invalid("'model' must be a string, not a " + std::string(Kind(*m)), "model");
      return false;
    }
    out->model = m->get<std::string>();
    if (!NamesModel(out->model, limits.model_name)) {
      *error = Invalid("The model '" + server::EscapeClientBytes(out->model, 64) + "' does not exist; this server serves '" +
                           limits.model_name + "'",
                       "model", 404, "model_not_found");
      return false;
    }
  }
  if (const auto f = j.find("encoding_format"); f != j.end() && !f->is_null()) {
    if (!f->is_string() || (f->get<std::string>() != "float" && f->get<std::string>() != "base64")) {
      *error = Invalid("'encoding_format' must be 'float' or 'base64'", "encoding_format");
      return false;
    }
    out->base64 = f->get<std::string>() == "base64";
  }
  if (const auto d = j.find("dimensions"); d != j.end() && !d->is_null()) {
    if (!d->is_number_integer() || d->get<int64_t>() != static_cast<int64_t>(limits.embedding_dim)) {
      *error = Invalid("'dimensions' must be " + std::to_string(limits.embedding_dim) +
                           " (this model's; lamd does not shorten embeddings)",
                       "dimensions");
      return false;
    }
  }
  if (const auto u = j.find("user"); u != j.end() && !u->is_null() && !u->is_string()) {
    *error = Invalid("'user' must be a string", "user");
    return false;
  }
  out->truncate = true;  // as the shared-memory text path and `lamctl embed --text` do
  return ParseInputs(j, "input", limits, out, error);
}

bool ParseTeiRequest(std::string_view body, const ApiLimits& limits, EmbedInput* out, ApiError* error) {
  *out = EmbedInput{};
  Json j;
  if (!ParseBody(body, &j, error)) return false;
  if (const auto n = j.find("normalize"); n != j.end() && !n->is_null()) {
    if (!n->is_boolean()) {
      *error = Invalid("'normalize' must be a boolean", "normalize");
      return false;
    }
    if (!n->get<bool>()) {
      *error = Invalid("'normalize': false is not supported: lamd's models output L2-normalised embeddings",
                       "normalize");
      return false;
    }
  }
  out->truncate = false;  // TEI's default
  if (const auto t = j.find("truncate"); t != j.end() && !t->is_null()) {
    if (!t->is_boolean()) {
      *error = Invalid("'truncate' must be a boolean", "truncate");
      return false;
    }
    out->truncate = t->get<bool>();
  }
  if (const auto d = j.find("truncation_direction"); d != j.end() && !d->is_null()) {
    if (!d->is_string() || (d->get<std::string>() != "right" && d->get<std::string>() != "Right")) {
      *error = Invalid("'truncation_direction' must be 'right' (the only one lamd implements)", "truncation_direction");
      return false;
    }
  }
  if (const auto p = j.find("prompt_name"); p != j.end() && !p->is_null()) {
    *error = Invalid("'prompt_name' is not supported: the model has no prompts", "prompt_name");
    return false;
  }
  return ParseInputs(j, "inputs", limits, out, error);
}

ApiError ErrorForStatus(lam_status code, const std::string& message) {
  ApiError e;
  e.message = message.empty() ? status_code_str(code) : message;
  e.code = status_code_name(code);
  for (char& c : e.code) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  switch (code) {
    case LAM_STATUS_INVALID_ARG:
    case LAM_STATUS_EMPTY_BATCH:
    case LAM_STATUS_EMPTY_SEQUENCE:
    case LAM_STATUS_TOKEN_OUT_OF_RANGE:
    case LAM_STATUS_INVALID_UTF8:
    case LAM_STATUS_MALFORMED_REQUEST:
      e.http_status = 400;
      e.type = "invalid_request_error";
      e.tei_type = code == LAM_STATUS_INVALID_UTF8 ? "Tokenizer" : code == LAM_STATUS_EMPTY_BATCH ? "Empty" : "Validation";
      e.param = "input";
      break;
    case LAM_STATUS_SEQUENCE_TOO_LONG:
    case LAM_STATUS_TOO_LARGE:
      e.http_status = 413;
      e.type = "invalid_request_error";
      e.tei_type = "Validation";
      e.param = "input";
      break;
    case LAM_STATUS_OVERLOADED:
      e.http_status = 429;
      e.type = "rate_limit_error";
      e.tei_type = "Overloaded";
      break;
    case LAM_STATUS_CANCELLED:
    case LAM_STATUS_DAEMON_UNAVAILABLE:
    case LAM_STATUS_MODEL_NOT_LOADED:
      e.http_status = 503;
      e.type = "server_error";
      e.tei_type = "Unhealthy";
      break;
    case LAM_STATUS_DEADLINE_EXCEEDED:
    case LAM_STATUS_TIMEOUT:
      e.http_status = 504;
      e.type = "server_error";
      e.tei_type = "Backend";
      break;
    case LAM_STATUS_UNSUPPORTED:
      e.http_status = 501;
      e.type = "invalid_request_error";
      e.tei_type = "Backend";
      break;
    case LAM_STATUS_PERMISSION_DENIED:
      e.http_status = 403;
      e.type = "permission_error";
      e.tei_type = "Validation";
      break;
    default:
      e.http_status = 500;
      e.type = "server_error";
      e.tei_type = "Backend";
  }
  return e;
}

std::string OpenAIErrorBody(const ApiError& e) {
  OrderedJson j;
  j["error"] = {{"message", e.message},
                {"type", e.type},
                {"param", e.param.empty() ? OrderedJson() : OrderedJson(e.param)},
                {"code", e.code.empty() ? OrderedJson() : OrderedJson(e.code)}};
  return Dump(j);
}

std::string TeiErrorBody(const ApiError& e) {
  OrderedJson j;
  j["error"] = e.message;
  j["error_type"] = e.tei_type.empty() ? "Validation" : e.tei_type;
  return Dump(j);
}

std::string Base64Encode(const void* data, size_t size) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = static_cast<const unsigned char*>(data);
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    const uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < size) {
    const uint32_t v = (uint32_t{p[i]} << 16) | (i + 1 < size ? uint32_t{p[i + 1]} << 8 : 0);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < size ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string OpenAIEmbeddingsBody(const float* data, size_t n, size_t dim, bool base64, const std::string& model,
                                 uint64_t prompt_tokens) {
  static_assert(std::numeric_limits<float>::is_iec559, "float32 bytes are sent as they are");
  std::string out = "{\"object\":\"list\",\"data\":[";
  out.reserve(out.size() + n * (base64 ? dim * 4 / 3 + 64 : dim * 12 + 48) + 128);
  for (size_t i = 0; i < n; ++i) {
    if (i != 0) out += ',';
    out += "{\"object\":\"embedding\",\"index\":" + std::to_string(i) + ",\"embedding\":";
    if (base64) {
      // x86-64 and aarch64 Linux are little-endian: the bytes in memory are OpenAI's layout.
      out += '"' + Base64Encode(data + i * dim, dim * sizeof(float)) + '"';
    } else {
      AppendVector(&out, data + i * dim, dim);
    }
    out += '}';
  }
  out += "],\"model\":" + Dump(OrderedJson(model)) + ",\"usage\":{\"prompt_tokens\":" + std::to_string(prompt_tokens) +
         ",\"total_tokens\":" + std::to_string(prompt_tokens) + "}}";
  return out;
}

std::string TeiEmbeddingsBody(const float* data, size_t n, size_t dim) {
  std::string out = "[";
  out.reserve(n * dim * 12 + 8);
  for (size_t i = 0; i < n; ++i) {
    if (i != 0) out += ',';
    AppendVector(&out, data + i * dim, dim);
  }
  out += ']';
  return out;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

bool BearerTokenMatches(std::string_view authorization, std::string_view token) {
  constexpr std::string_view kScheme = "bearer ";
  if (token.empty() || authorization.size() < kScheme.size()) return false;
  bool scheme_ok = true;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    scheme_ok &= std::tolower(static_cast<unsigned char>(authorization[i])) == kScheme[i];
  }
  const std::string_view given = authorization.substr(kScheme.size());
  // Every byte of the longer of the two is visited whatever the contents; only the lengths show.
  volatile unsigned char diff = given.size() == token.size() ? 0 : 1;
  const size_t n = std::max(given.size(), token.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char a = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    const unsigned char b = i < token.size() ? static_cast<unsigned char>(token[i]) : 0;
    diff = static_cast<unsigned char>(diff | (a ^ b));
  }
  return scheme_ok && diff == 0;
}

}  // namespace lam::http
