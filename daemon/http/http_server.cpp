// SPDX-License-Identifier: MIT
#include "http/http_server.h"

#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "http/api.h"
#include "server/guard.h"
#include "server/logging.h"
#include "shm/frame_io.h"

namespace lam::http {
namespace {

std::shared_ptr<spdlog::logger> Log() {
  static auto log = server::Logger("http");
  return log;
}

// Pipelined bytes read while a request is answered are kept up to this; then reading pauses.
constexpr size_t kMaxBacklog = 64 << 10;
// Longest a rejected connection is read and drained before it is closed.
constexpr uint64_t kMaxLingerMs = 2000;

union StreamHandle {
  uv_tcp_t tcp;
  uv_pipe_t pipe;
};

struct WriteReq {
  uv_write_t req;
  std::string data;
};

std::string ResponseText(const Response& r, bool keep_alive) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + ReasonPhrase(r.status) + "\r\n";
  out += "Content-Type: " + r.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  for (const auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
  out += "\r\n";
  out += r.body;
  return out;
}

}  // namespace

struct HttpServer::Listener {
  HttpServer* server = nullptr;
  ListenAddress addr;
  StreamHandle h{};
  bool open = false;
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&h); }
};

struct HttpServer::Conn {
  // kLinger: a verdict was sent and the write side shut down; what the peer still sends is read
  // and dropped until it closes or the linger time ends (closing at once with unread bytes would
  // make the kernel reset the connection and drop the verdict before the peer reads it).
  enum class State { kIdle, kReading, kWaiting, kWriting, kLinger };

  explicit Conn(const ReaderLimits& limits) : reader(limits) {}
  HttpServer* server = nullptr;
  uint64_t id = 0;
  const ListenAddress* via = nullptr;
  StreamHandle h{};
  uv_timer_t timer{};
  int open_handles = 0;
  bool closing = false;
  bool reading = false;
  bool keep_alive = true;
  State state = State::kIdle;
  RequestReader reader;
  std::string backlog;  // bytes that came after the request being answered
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&h); }
};

HttpServer::HttpServer(uv_loop_t* loop, ServerOptions options, Handler* handler, std::atomic<uint64_t>* callback_errors)
    : loop_(loop), options_(std::move(options)), handler_(handler), callback_errors_(callback_errors) {}

HttpServer::~HttpServer() {
  // Close() ran and the loop closed every handle; Conns were freed by their close callbacks.
}

Status HttpServer::Start() {
  for (const ListenAddress& a : options_.listen) {
    auto l = std::make_unique<Listener>();
    l->server = this;
    l->addr = a;
    int rc = 0;
    if (a.is_unix) {
      struct stat st;
      if (::lstat(a.path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) return Status(LAM_STATUS_IO_ERROR, a.path + " exists and is not a socket");
        const int probe = shm::ConnectUnix(a.path);
        if (probe >= 0) {
          ::close(probe);
          return Status(LAM_STATUS_IO_ERROR, "another server is listening on " + a.path);
        }
        ::unlink(a.path.c_str());
      }
      uv_pipe_init(loop_, &l->h.pipe, 0);
      l->open = true;
      l->h.pipe.data = l.get();
      rc = uv_pipe_bind(&l->h.pipe, a.path.c_str());
      if (rc == 0) ::chmod(a.path.c_str(), static_cast<mode_t>(options_.socket_mode));
    } else {
      uv_tcp_init(loop_, &l->h.tcp);
      l->open = true;
      l->h.tcp.data = l.get();
      sockaddr_storage ss{};
      rc = a.ipv6 ? uv_ip6_addr(a.host.c_str(), a.port, reinterpret_cast<sockaddr_in6*>(&ss))
                  : uv_ip4_addr(a.host.c_str(), a.port, reinterpret_cast<sockaddr_in*>(&ss));
      if (rc == 0) {
        rc = uv_tcp_bind(&l->h.tcp, reinterpret_cast<const sockaddr*>(&ss), a.ipv6 ? UV_TCP_IPV6ONLY : 0);
      }
    }
    if (rc == 0) rc = uv_listen(l->stream(), 1024, OnConnection);
    listeners_.push_back(std::move(l));
    Listener* lp = listeners_.back().get();
    if (rc != 0) return Status(LAM_STATUS_IO_ERROR, "HTTP listen on " + a.ToString() + ": " + uv_strerror(rc));
    ListenAddress bound = a;
    if (!a.is_unix) {
      sockaddr_storage ss{};
      int len = sizeof(ss);
      if (uv_tcp_getsockname(&lp->h.tcp, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
        bound.port = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                                    : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
      }
    }
    lp->addr = bound;
    bound_.push_back(bound.ToString());
    Log()->info("HTTP listening on {}", bound.ToString());
  }
  return Status::Ok();
}

void HttpServer::OnConnection(uv_stream_t* listener, int status) {
  auto* l = static_cast<Listener*>(listener->data);
  HttpServer* self = l->server;
  if (status < 0) {
    Log()->warn("accept on {}: {}", l->addr.ToString(), uv_strerror(status));
    return;
  }
  server::Guarded("http accept", self->callback_errors_, [&] { self->Accept(l); });
}

void HttpServer::Accept(Listener* l) {
  auto* c = new Conn(options_.reader);
  c->server = this;
  c->id = next_id_++;
  c->via = &l->addr;
  if (l->addr.is_unix) {
    uv_pipe_init(loop_, &c->h.pipe, 0);
  } else {
    uv_tcp_init(loop_, &c->h.tcp);
  }
  c->h.tcp.data = c;  // the same uv_handle_t field in either member
  uv_timer_init(loop_, &c->timer);
  c->timer.data = c;
  c->open_handles = 2;  // from here CloseConn's close callbacks free the Conn
  conns_[c->id] = c;
  ++stats_.open_connections;
  if (uv_accept(l->stream(), c->stream()) != 0) {
    CloseConn(c);
    return;
  }
  ++stats_.connections_total;
  if (closed_ || conns_.size() > options_.max_connections) {
    ++stats_.refused_connections_total;
    Reject(c, 503, closed_ ? "the daemon is shutting down" : "too many HTTP connections (http-max-connections)");
    return;
  }
  if (!l->addr.is_unix) uv_tcp_nodelay(&c->h.tcp, 1);
  c->reading = uv_read_start(c->stream(), OnAlloc, OnRead) == 0;
  StartIdle(c);
}

void HttpServer::OnAlloc(uv_handle_t*, size_t, uv_buf_t* buf) {
  static thread_local char storage[65536];
  buf->base = storage;
  buf->len = sizeof(storage);
}

void HttpServer::OnRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<Conn*>(s->data);
  HttpServer* self = c->server;
  if (c->closing) return;
  if (n < 0) {
    self->CloseConn(c);  // a peer gone while its request is computed abandons it (OnAbandoned)
    return;
  }
  if (n == 0 || c->state == Conn::State::kLinger) return;  // lingering: dropped
  const bool ok = server::Guarded("http read", self->callback_errors_, [&] {
    if (c->state == Conn::State::kWaiting || c->state == Conn::State::kWriting) {
      // Pipelined: kept until this answer is out.
      c->backlog.append(buf->base, static_cast<size_t>(n));
      if (c->backlog.size() > kMaxBacklog && c->reading) {
        uv_read_stop(c->stream());
        c->reading = false;
      }
      return;
    }
    self->Pump(c, buf->base, static_cast<size_t>(n));
  });
  if (!ok) self->CloseConn(c);
}

void HttpServer::Pump(Conn* c, const char* data, size_t len) {
  if (c->state == Conn::State::kIdle) {
    // The whole request must arrive within request_timeout_ms from its first byte.
    c->state = Conn::State::kReading;
    uv_timer_start(&c->timer, OnTimer, options_.request_timeout_ms, 0);
  }
  size_t consumed = 0;
  const RequestReader::Event ev = c->reader.Feed(data, len, &consumed);
  if (c->reader.TakeExpectContinue() && ev != RequestReader::Event::kError) {
    static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
    auto* w = new WriteReq();
    w->data = kContinue;
    uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    if (uv_write(&w->req, c->stream(), &b, 1, [](uv_write_t* req, int) { delete reinterpret_cast<WriteReq*>(req); }) != 0) {
      delete w;
    }
  }
  switch (ev) {
    case RequestReader::Event::kNeedMore:
      return;
    case RequestReader::Event::kError:
      ++stats_.parse_errors_total;
      Reject(c, c->reader.error_status(), c->reader.error_reason());
      return;
    case RequestReader::Event::kRequest:
      c->backlog.assign(data + consumed, len - consumed);
      Dispatch(c);
      return;
  }
}

void HttpServer::Dispatch(Conn* c) {
  uv_timer_stop(&c->timer);
  c->state = Conn::State::kWaiting;
  Request req = c->reader.TakeRequest();
  c->keep_alive = req.keep_alive;
  const uint64_t id = c->id;
  const bool ok = server::Guarded("http handler", callback_errors_, [&] { handler_->OnRequest(id, *c->via, std::move(req)); });
  if (!ok && !c->closing && c->state == Conn::State::kWaiting) {
    Response r;
    r.status = 500;
    r.body = R"({"error":"internal error; see lamd's log","error_type":"Backend"})";
    r.close = true;
    Send(c, r);
  }
}

void HttpServer::Respond(uint64_t conn, Response response) {
  const auto it = conns_.find(conn);
  if (it == conns_.end()) return;  // the peer left meanwhile
  Conn* c = it->second;
  if (c->closing || c->state != Conn::State::kWaiting) return;
  Send(c, response);
}

void HttpServer::Send(Conn* c, const Response& r) {
  if (r.close || closed_) c->keep_alive = false;
  ++stats_.responses_by_code[r.status];
  auto* w = new WriteReq();
  w->data = ResponseText(r, c->keep_alive);
  w->req.data = c;
  c->state = Conn::State::kWriting;
  // A peer that does not read its answer is cut off after request_timeout_ms.
  uv_timer_start(&c->timer, OnTimer, options_.request_timeout_ms, 0);
  uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  const int rc = uv_write(&w->req, c->stream(), &b, 1, [](uv_write_t* req, int status) {
    std::unique_ptr<WriteReq> wr(reinterpret_cast<WriteReq*>(req));
    auto* conn = static_cast<Conn*>(req->data);
    HttpServer* self = conn->server;
    const bool ok = server::Guarded("http write", self->callback_errors_, [&] { self->AfterWrite(conn, status); });
    if (!ok) self->CloseConn(conn);
  });
  if (rc != 0) {
    delete w;
    CloseConn(c);
  }
}

void HttpServer::AfterWrite(Conn* c, int status) {
  if (c->closing || c->state == Conn::State::kLinger) return;
  uv_timer_stop(&c->timer);
  if (status < 0 || !c->keep_alive) {
    CloseConn(c);
    return;
  }
  StartIdle(c);
  if (!c->backlog.empty()) {
    std::string next = std::move(c->backlog);
    c->backlog.clear();
    Pump(c, next.data(), next.size());
  }
}

void HttpServer::StartIdle(Conn* c) {
  c->state = Conn::State::kIdle;
  if (!c->reading && !c->closing) c->reading = uv_read_start(c->stream(), OnAlloc, OnRead) == 0;
  uv_timer_start(&c->timer, OnTimer, options_.idle_timeout_ms, 0);
}

void HttpServer::OnTimer(uv_timer_t* t) {
  auto* c = static_cast<Conn*>(t->data);
  HttpServer* self = c->server;
  if (c->closing) return;
  switch (c->state) {
    case Conn::State::kIdle:
      ++self->stats_.idle_closed_total;
      self->CloseConn(c);
      break;
    case Conn::State::kReading:
      ++self->stats_.request_timeouts_total;
      if (!server::Guarded("http timeout", self->callback_errors_, [&] {
            self->Reject(c, 408, "the request did not arrive whole within http-request-timeout-ms (" +
                                     std::to_string(self->options_.request_timeout_ms) + " ms)");
          })) {
        self->CloseConn(c);
      }
      break;
    case Conn::State::kWriting:
      ++self->stats_.write_timeouts_total;
      self->CloseConn(c);
      break;
    case Conn::State::kLinger:
      self->CloseConn(c);
      break;
    case Conn::State::kWaiting:
      break;
  }
}

void HttpServer::Reject(Conn* c, int status, const std::string& message) {
  if (c->closing) return;
  ++stats_.responses_by_code[status];
  Response r;
  r.status = status;
  ApiError e;
  e.message = message;
  e.tei_type = "Validation";
  r.body = TeiErrorBody(e);
  c->keep_alive = false;
  c->state = Conn::State::kLinger;
  c->backlog.clear();
  auto* w = new WriteReq();
  w->data = ResponseText(r, false);
  w->req.data = c;
  uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  if (uv_write(&w->req, c->stream(), &b, 1, [](uv_write_t* req, int) { delete reinterpret_cast<WriteReq*>(req); }) != 0) {
    delete w;
    CloseConn(c);
    return;
  }
  // Shut the write side down once the verdict is out, and drop what the peer still sends until
  // it closes; a peer that does not read its verdict is cut off at the linger time.
  auto* sd = new uv_shutdown_t();
  if (uv_shutdown(sd, c->stream(), [](uv_shutdown_t* req, int) { delete req; }) != 0) delete sd;
  if (!c->reading) c->reading = uv_read_start(c->stream(), OnAlloc, OnRead) == 0;
  uv_timer_start(&c->timer, OnTimer, std::min<uint64_t>(options_.request_timeout_ms, kMaxLingerMs), 0);
}

void HttpServer::CloseConn(Conn* c) {
  if (c->closing) return;
  c->closing = true;
  conns_.erase(c->id);
  --stats_.open_connections;
  if (c->state == Conn::State::kWaiting) {
    const uint64_t id = c->id;
    server::Guarded("http abandon", callback_errors_, [&] { handler_->OnAbandoned(id); });
  }
  auto on_closed = [](uv_handle_t* h) {
    auto* conn = static_cast<Conn*>(h->data);
    if (--conn->open_handles == 0) delete conn;
  };
  uv_close(reinterpret_cast<uv_handle_t*>(c->stream()), on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), on_closed);
}

void HttpServer::Close() {
  if (closed_) return;
  closed_ = true;
  for (auto& l : listeners_) {
    if (!l->open) continue;
    l->open = false;
    uv_close(reinterpret_cast<uv_handle_t*>(l->stream()), nullptr);
    if (l->addr.is_unix) ::unlink(l->addr.path.c_str());
  }
  std::vector<Conn*> all;
  for (auto& [id, c] : conns_) all.push_back(c);
  for (Conn* c : all) {
    if (c->state == Conn::State::kWriting) {
      c->keep_alive = false;  // an answer on its way is finished (or cut by the write timeout) first
    } else {
      CloseConn(c);
    }
  }
}

}  // namespace lam::http
