// SPDX-License-Identifier: MIT
// One HTTP/1.1 connection's request stream, parsed with nodejs' http-parser (Debian's
// libhttp-parser): bytes in, whole requests out, one at a time (the parser pauses after each, so
// pipelined bytes wait for the answer). Every byte is the peer's: the request line and headers
// together are capped, the body is capped (a Content-Length past the cap is refused before the
// body is read), and anything http-parser refuses ends the connection with a 4xx verdict. Pure
// (no I/O, no libuv): the server feeds it, the fuzzer too (tests/fuzz/http_request_fuzz.cpp).
#pragma once

#include <http_parser.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace lam::http {

struct Request {
  std::string method;         // "GET", "POST", ...
  std::string path;           // URL path, without the query
  std::string authorization;  // the Authorization header's value ("" if absent)
  std::string content_type;
  std::string body;
  bool keep_alive = true;     // HTTP/1.1 without "Connection: close" (http_should_keep_alive)
};

struct ReaderLimits {
  size_t max_header_bytes = 16 << 10;  // request line + header fields and values
  size_t max_body_bytes = 4 << 20;
};

class RequestReader {
 public:
  enum class Event { kNeedMore, kRequest, kError };

  explicit RequestReader(ReaderLimits limits);
  RequestReader(const RequestReader&) = delete;
  RequestReader& operator=(const RequestReader&) = delete;

  // Parses up to `len` bytes and sets *consumed to how many it used. kRequest: a whole request
  // is ready (TakeRequest); the bytes after it were not consumed. kError: error_status() is the
  // answer (400, 413 body too large, 431 headers too large, 505 version) and the connection must
  // close; the reader takes nothing more. kNeedMore: everything was consumed.
  Event Feed(const char* data, size_t len, size_t* consumed);
  // The request Feed announced; the reader then parses the next one.
  Request TakeRequest();

  // True once any byte of the current request has arrived (the server's request timeout).
  bool in_request() const { return in_request_; }
  // True (once per request) when the headers asked "Expect: 100-continue" for a body that is
  // still to come; the server then sends "100 Continue".
  bool TakeExpectContinue();

  int error_status() const { return error_status_; }
  const std::string& error_reason() const { return error_reason_; }

 private:
  static int OnMessageBegin(http_parser* p);
  static int OnUrl(http_parser* p, const char* at, size_t n);
  static int OnHeaderField(http_parser* p, const char* at, size_t n);
  static int OnHeaderValue(http_parser* p, const char* at, size_t n);
  static int OnHeadersComplete(http_parser* p);
  static int OnBody(http_parser* p, const char* at, size_t n);
  static int OnMessageComplete(http_parser* p);
  bool CountHeaderBytes(size_t n);
  void CommitHeader();
  int Fail(int status, std::string reason);

  ReaderLimits limits_;
  http_parser parser_{};
  http_parser_settings settings_{};
  Request current_;
  std::string url_;
  std::string field_, value_;
  bool in_value_ = false;
  bool in_request_ = false;
  bool ready_ = false;
  bool expect_continue_ = false;
  bool continue_pending_ = false;
  size_t header_bytes_ = 0;
  int error_status_ = 0;
  std::string error_reason_;
};

}  // namespace lam::http
