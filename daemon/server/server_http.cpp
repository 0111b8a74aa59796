// SPDX-License-Identifier: MIT
// The HTTP face's routes on the Server (http/http_server.h carries the transport, http/api.h the
// documents). Embedding requests take the shared-memory path's steps: the same JSON-to-request
// checks as admission (sequence counts, the engine's Validate: token range, lengths), the same
// text worker and tokenizer, the same scheduler (so HTTP and shared-memory requests share
// batches and get the same bits), and lam_status codes mapped to HTTP statuses.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "lam/lam_version.h"
#include "server/guard.h"
#include "server/logging.h"
#include "server/prometheus.h"
#include "server/server.h"
#include "shm/frame_io.h"

namespace lam::server {
namespace {

std::shared_ptr<spdlog::logger> Log() {
  static auto log = Logger("http");
  return log;
}

// Scheduler client ids of HTTP connections: apart from shared-memory sessions' ids.
constexpr uint64_t kHttpClientBit = uint64_t{1} << 63;

// The token file: a regular file lamd's uid can read and nobody else (like ssh's keys); its
// first line is the token.
Result<std::string> ReadTokenFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return Status(LAM_STATUS_IO_ERROR, "cannot open http-token-file " + path + ": " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status(LAM_STATUS_INVALID_ARG, "http-token-file " + path + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return Status(LAM_STATUS_PERMISSION_DENIED, "http-token-file " + path +
                                                    " is accessible by group or others; chmod 600 it");
  }
  char buf[4096];
  const ssize_t n = ::read(fd, buf, sizeof(buf));
  ::close(fd);
  if (n < 0) return Status(LAM_STATUS_IO_ERROR, "cannot read http-token-file " + path);
  std::string token(buf, static_cast<size_t>(n));
  token = token.substr(0, token.find('\n'));
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ' || token.back() == '\t')) token.pop_back();
  for (char ch : token) {
    if (static_cast<unsigned char>(ch) <= 0x20 || static_cast<unsigned char>(ch) >= 0x7f) {
      return Status(LAM_STATUS_INVALID_ARG, "http-token-file " + path + ": the token must be printable ASCII without spaces");
    }
  }
  if (token.size() < 16) {
    return Status(LAM_STATUS_INVALID_ARG, "http-token-file " + path + ": the token must have at least 16 characters");
  }
  return token;
}

http::Response JsonResponse(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

}  // namespace

struct Server::HttpCall {
  uint64_t conn = 0;
  http::Route route = http::Route::kOpenAIEmbeddings;
  bool base64 = false;
  bool truncate = true;
  std::shared_ptr<std::atomic<bool>> cancelled = std::make_shared<std::atomic<bool>>(false);
};

Status Server::StartHttp() {
  if (config_.http.empty()) return Status::Ok();
  http::ServerOptions o;
  for (const auto& spec : config_.http) {
    auto a = http::ParseListen(spec);
    if (!a.ok()) return a.status();
    o.listen.push_back(*a);
  }
  if (!config_.http_token_file.empty()) {
    auto token = ReadTokenFile(config_.http_token_file);
    if (!token.ok()) return token.status();
    http_token_ = std::move(token).value();
  } else {
    for (const auto& a : o.listen) {
      if (!a.is_unix) {
        Log()->warn("HTTP on {} has no http-token-file: every local user can embed through it", a.ToString());
      }
    }
  }
  o.max_connections = config_.http_max_connections;
  o.reader.max_header_bytes = config_.http_max_header_bytes;
  o.reader.max_body_bytes = config_.http_max_body_bytes;
  o.request_timeout_ms = config_.http_request_timeout_ms;
  o.idle_timeout_ms = config_.http_idle_timeout_ms;
  o.socket_mode = config_.http_socket_mode;
  {
    std::lock_guard<std::mutex> lock(http_done_mu_);
    // The libuv callback boundary (DESIGN.md invariant 7), as Server::Boundary is for the others.
    uv_async_init(&loop_, &http_async_, [](uv_async_t* a) {
      auto* self = static_cast<Server*>(a->data);
      Guarded("http completions", &self->counters_.callback_errors, [&] { OnHttpAsync(a); });
    });
    http_async_.data = this;
    http_async_open_ = true;
  }
  http_ = std::make_unique<http::HttpServer>(&loop_, std::move(o), static_cast<http::HttpServer::Handler*>(this),
                                             &counters_.callback_errors);
  return http_->Start();
}

void Server::RespondError(uint64_t conn, http::Route route, const http::ApiError& e) {
  http::Response r = JsonResponse(e.http_status, http::UsesOpenAIErrors(route) ? http::OpenAIErrorBody(e)
                                                                               : http::TeiErrorBody(e));
  if (e.http_status == 429 || e.http_status == 503) r.headers.emplace_back("Retry-After", "1");
  if (e.http_status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  http_->Respond(conn, std::move(r));
}

void Server::OnRequest(uint64_t conn, const http::ListenAddress&, http::Request request) {
  bool method_ok = true;
  const char* allow = "";
  const http::Route route = http::Resolve(request.method, request.path, &method_ok, &allow);
  if (!http_token_.empty() && !http::BearerTokenMatches(request.authorization, http_token_)) {
    http::ApiError e;
    e.http_status = 401;
    e.message = "Incorrect or missing API key: send 'Authorization: Bearer <token>' (http-token-file)";
    e.type = "invalid_request_error";
    e.code = "invalid_api_key";
    e.tei_type = "Unauthorized";
    RespondError(conn, route, e);
    return;
  }
  if (route == http::Route::kNotFound || !method_ok) {
    http::ApiError e;
    e.http_status = route == http::Route::kNotFound ? 404 : 405;
    e.message = route == http::Route::kNotFound
                    ? "no route " + EscapeClientBytes(request.method, 16) + " " + EscapeClientBytes(request.path, 128)
                    : EscapeClientBytes(request.path, 128) + " takes " + allow;
    e.type = "invalid_request_error";
    e.tei_type = "Validation";
    http::Response r = JsonResponse(e.http_status, http::UsesOpenAIErrors(route) ? http::OpenAIErrorBody(e)
                                                                                 : http::TeiErrorBody(e));
    if (!method_ok) r.headers.emplace_back("Allow", allow);
    http_->Respond(conn, std::move(r));
    return;
  }
  switch (route) {
    case http::Route::kHealth:
      http_->Respond(conn, JsonResponse(200, R"({"status":"ok"})"));
      return;
    case http::Route::kReady: {
      // Live (GET /health) from the start; ready once warm and until the drain.
      const char* state = draining_ ? R"({"status":"draining"})" : serving_ ? R"({"status":"ready"})" : R"({"status":"warming"})";
      const bool ready = serving_ && !draining_;
      http::Response r = JsonResponse(ready ? 200 : 503, state);
      if (!ready) r.headers.emplace_back("Retry-After", "1");
      http_->Respond(conn, std::move(r));
      return;
    }
    case http::Route::kMetrics: {
      http::Response r;
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = PrometheusText(nlohmann::json::parse(StatusJson(kNoViewer)));
      http_->Respond(conn, std::move(r));
      return;
    }
    case http::Route::kTeiInfo:
      http_->Respond(conn, JsonResponse(200, TeiInfoJson()));
      return;
    case http::Route::kOpenAIEmbeddings:
    case http::Route::kTeiEmbed:
      StartEmbed(conn, route, request);
      return;
    case http::Route::kNotFound:
      return;
  }
}

void Server::StartEmbed(uint64_t conn, http::Route route, const http::Request& request) {
  const engine::ModelInfo& mi = engine_->info();
  if (draining_) {
    RespondError(conn, route, http::ErrorForStatus(LAM_STATUS_DAEMON_UNAVAILABLE, "daemon is shutting down"));
    return;
  }
  if (!serving_) {
    RespondError(conn, route,
                 http::ErrorForStatus(LAM_STATUS_DAEMON_UNAVAILABLE, "lamd is warming up (" + WarmupProgressText() + ")"));
    return;
  }
  if (http_calls_.size() >= config_.http_max_inflight) {
    RespondError(conn, route,
                 http::ErrorForStatus(LAM_STATUS_OVERLOADED, "too many HTTP requests in flight (http-max-inflight " +
                                                                 std::to_string(config_.http_max_inflight) + ")"));
    return;
  }
  http::ApiLimits limits;
  limits.model_name = mi.name;
  limits.max_inputs = config_.max_sequences_per_request;
  limits.embedding_dim = static_cast<size_t>(mi.embedding_dim);
  http::EmbedInput in;
  http::ApiError e;
  const bool parsed = route == http::Route::kOpenAIEmbeddings ? http::ParseOpenAIRequest(request.body, limits, &in, &e)
                                                               : http::ParseTeiRequest(request.body, limits, &in, &e);
  if (!parsed) {
    RespondError(conn, route, e);
    return;
  }
  auto call = std::make_shared<HttpCall>();
  call->conn = conn;
  call->route = route;
  call->base64 = in.base64;
  call->truncate = in.truncate;
  const int64_t now = shm::MonotonicNs();
  auto req = std::make_unique<scheduler::Request>();
  req->client_id = kHttpClientBit | conn;
  req->context = call;
  req->cancelled = call->cancelled;
  req->transport = kTransportHttp;
  req->arrival_ns = now;
  if (config_.http_deadline_ms != 0) req->deadline_ns = now + int64_t{config_.http_deadline_ms} * 1'000'000;

  auto fail = [&](const Status& st) {
    counters_.by_status[st.code()].fetch_add(1, std::memory_order_relaxed);
    RecordCompletion(kTransportHttp, nullptr, st.code());
    RespondError(conn, route, http::ErrorForStatus(st.code(), st.message()));
  };
  if (!in.is_text) {
    // Token ids: the engine's Validate, as AdmitEmbed runs it for shared-memory requests.
    req->offsets.assign(1, 0);
    for (const auto& seq : in.ids) {
      req->tokens.insert(req->tokens.end(), seq.begin(), seq.end());
      req->offsets.push_back(static_cast<uint32_t>(req->tokens.size()));
    }
    std::vector<engine::TokenSpan> spans(in.ids.size());
    for (size_t i = 0; i < spans.size(); ++i) {
      spans[i].ids = req->tokens.data() + req->offsets[i];
      spans[i].len = req->offsets[i + 1] - req->offsets[i];
    }
    if (Status st = engine_->Validate(spans); !st.ok()) {
      fail(st);
      return;
    }
    http_calls_[conn] = call;
    if (Status st = scheduler_->Submit(req); !st.ok()) {
      http_calls_.erase(conn);
      fail(st);
    }
    return;
  }
  if (!tokenizer_) {
    fail(Status(LAM_STATUS_UNSUPPORTED, "model has no usable vocab.txt: " + tokenizer_error_));
    return;
  }
  auto text = std::make_shared<TextRequest>();
  size_t bytes = 0;
  for (const auto& t : in.texts) bytes += t.size();
  text->bytes.reserve(bytes);
  for (const auto& t : in.texts) {
    text->bytes += t;
    text->lengths.push_back(static_cast<uint32_t>(t.size()));
  }
  text->req = std::move(req);
  http_calls_[conn] = call;
  // Truncated as sentence-transformers does (the model's max_seq_length), like the shared-memory
  // text path; without truncation one id more is kept and a longer text is refused by name.
  if (!in.truncate) text->refuse_over = static_cast<uint32_t>(text_max_tokens_);
  const size_t max_tokens = text_max_tokens_ + (in.truncate ? 0 : 1);
  QueueTokenize(kHttpClientBit | conn, std::move(text), [c = call->cancelled] { return c->load(); }, max_tokens);
}

void Server::OnAbandoned(uint64_t conn) {
  const auto it = http_calls_.find(conn);
  if (it == http_calls_.end()) return;
  it->second->cancelled->store(true);  // before CancelClient: a racing Submit sees it (scheduler.h)
  http_calls_.erase(it);
  scheduler_->CancelClient(kHttpClientBit | conn);
}

void Server::PostHttpCompletion(std::unique_ptr<scheduler::Request> req, uint64_t detail) {
  std::lock_guard<std::mutex> lock(http_done_mu_);
  http_done_.emplace_back(std::move(req), detail);
  // After FinishShutdown closed the handle (a batch abandoned at the shutdown timeout may still
  // finish), the answer is dropped with the server.
  if (http_async_open_) uv_async_send(&http_async_);
}

void Server::OnHttpAsync(uv_async_t* a) {
  auto* self = static_cast<Server*>(a->data);
  std::vector<std::pair<std::unique_ptr<scheduler::Request>, uint64_t>> done;
  {
    std::lock_guard<std::mutex> lock(self->http_done_mu_);
    done.swap(self->http_done_);
  }
  for (auto& d : done) {
    // One bad completion must not lose the others' answers.
    Guarded("http completion", &self->counters_.callback_errors, [&] { self->FinishHttp(std::move(d.first)); });
  }
}

void Server::FinishHttp(std::unique_ptr<scheduler::Request> req) {
  auto call = std::static_pointer_cast<HttpCall>(req->context);
  counters_.by_status[req->status].fetch_add(1, std::memory_order_relaxed);
  RecordCompletion(kTransportHttp, req.get(), req->status);
  const auto it = http_calls_.find(call->conn);
  if (it == http_calls_.end() || it->second != call) return;  // the peer left
  http_calls_.erase(it);
  if (!http_) return;
  if (req->status == LAM_STATUS_OK) {
    const size_t dim = static_cast<size_t>(engine_->info().embedding_dim);
    const size_t n = req->n_seqs();
    http::Response r;
    r.body = call->route == http::Route::kOpenAIEmbeddings
                 ? http::OpenAIEmbeddingsBody(req->output.data(), n, dim, call->base64, engine_->info().name,
                                              req->tokens.size())
                 : http::TeiEmbeddingsBody(req->output.data(), n, dim);
    http_->Respond(call->conn, std::move(r));
    return;
  }
  http::ApiError e = http::ErrorForStatus(req->status, req->message);
  if (req->status == LAM_STATUS_SEQUENCE_TOO_LONG && !call->truncate) {
    e.message = "Input validation error: " + req->message.substr(0, req->message.find(" has ")) +
                " is longer than the model maximum of " + std::to_string(text_max_tokens_) +
                " tokens and 'truncate' is false";
  }
  RespondError(call->conn, call->route, e);
}

std::string Server::TeiInfoJson() {
  const engine::ModelInfo& mi = engine_->info();
  nlohmann::ordered_json j;
  j["model_id"] = mi.name;
  j["model_sha"] = nullptr;
  j["model_dtype"] = "float32";
  j["model_type"] = {{"embedding", {{"pooling", "mean"}}}};
  j["max_concurrent_requests"] = config_.http_max_inflight;
  j["max_input_length"] = text_max_tokens_;
  j["max_batch_tokens"] = config_.token_budget;
  j["max_batch_requests"] = config_.max_batch_sequences;
  j["max_client_batch_size"] = config_.max_sequences_per_request;
  j["auto_truncate"] = false;
  j["tokenization_workers"] = 1;
  j["version"] = LAM_VERSION_STRING;
  j["sha"] = LAM_BUILD_COMMIT;
  j["docker_label"] = nullptr;
  // lamd's own fields.
  j["embedding_dim"] = mi.embedding_dim;
  j["fingerprint"] = mi.fingerprint;
  j["backend"] = engine_->backend_name();
  j["precision"] = mi.precision;
  j["family"] = engine::family_name(mi.config.family);
  return SafeDump(j);
}

}  // namespace lam::server
