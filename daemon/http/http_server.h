// SPDX-License-Identifier: MIT
// lamd's HTTP/1.1 face, on the daemon's own libuv loop (the loop thread owns every handle here):
// listeners on loopback TCP and Unix sockets, keep-alive connections, and the limits that keep
// a hostile peer from holding the daemon: open connections, header and body bytes, a deadline
// for each request to arrive whole (slowloris), an idle timeout, and a write deadline for a peer
// that does not read its answer. Requests are parsed by RequestReader (http-parser) and handed
// to a Handler one at a time per connection; the answer may come later (Respond), e.g. after
// the scheduler computed it. No exception leaves a libuv callback: one from the handler answers
// 500 and closes that connection only.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "http/http_listen.h"
#include "http/request_reader.h"

namespace lam::http {

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones (Retry-After, Allow, ...)
  bool close = false;  // end the connection after this answer
};

struct ServerOptions {
  std::vector<ListenAddress> listen;
  uint32_t max_connections = 256;
  ReaderLimits reader;
  uint32_t request_timeout_ms = 10000;
  uint32_t idle_timeout_ms = 60000;
  uint32_t socket_mode = 0660;
};

// Loop-thread counters (lamctl status, /metrics).
struct ServerStats {
  uint64_t connections_total = 0;
  uint64_t open_connections = 0;
  uint64_t refused_connections_total = 0;  // over max_connections
  uint64_t request_timeouts_total = 0;     // a request that did not arrive whole in time (408)
  uint64_t idle_closed_total = 0;          // keep-alive connections closed for idling
  uint64_t write_timeouts_total = 0;       // peers that did not read their answer in time
  uint64_t parse_errors_total = 0;         // malformed, too large: answered 4xx and closed
  std::map<int, uint64_t> responses_by_code;
};

class HttpServer {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    // A whole request arrived on connection `conn` (loop thread). Answer it with Respond, now or
    // later; the connection reads nothing more until then.
    virtual void OnRequest(uint64_t conn, const ListenAddress& via, Request request) = 0;
    // Connection `conn` closed while its request was unanswered (loop thread).
    virtual void OnAbandoned(uint64_t conn) = 0;
  };

  // `loop` and `handler` must outlive the server; `callback_errors` counts what the callback
  // boundaries caught.
  HttpServer(uv_loop_t* loop, ServerOptions options, Handler* handler, std::atomic<uint64_t>* callback_errors);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens on every address (a stale Unix socket file is replaced, a live one is an
  // error). IO_ERROR naming the address on failure.
  Status Start();
  // Loop thread: answers the request connection `conn` waits on; dropped if it is gone.
  void Respond(uint64_t conn, Response response);
  // Loop thread: closes the listeners and every connection (their close callbacks run on the
  // loop); an answer being written is finished first, within the write timeout.
  void Close();

  // The addresses actually bound ("127.0.0.1:41234" for port 0).
  const std::vector<std::string>& bound() const { return bound_; }
  const ServerStats& stats() const { return stats_; }

 private:
  struct Conn;
  struct Listener;

  static void OnConnection(uv_stream_t* listener, int status);
  static void OnAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  static void OnTimer(uv_timer_t* t);

  void Accept(Listener* l);
  // Parses what `c` has buffered and hands a whole request to the handler.
  void Pump(Conn* c, const char* data, size_t len);
  void Dispatch(Conn* c);
  // Writes `r` on `c`; `then_close` ends the connection once written.
  void Send(Conn* c, const Response& r);
  void AfterWrite(Conn* c, int status);
  void StartIdle(Conn* c);
  void CloseConn(Conn* c);
  // A verdict before any handler saw the request (parse errors, limits, timeouts): written,
  // then the connection lingers (reads and drops) until the peer closes or the linger time ends.
  void Reject(Conn* c, int status, const std::string& message);

  uv_loop_t* loop_;
  ServerOptions options_;
  Handler* handler_;
  std::atomic<uint64_t>* callback_errors_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::string> bound_;
  std::map<uint64_t, Conn*> conns_;
  uint64_t next_id_ = 1;
  bool closed_ = false;
  ServerStats stats_;
};

}  // namespace lam::http
