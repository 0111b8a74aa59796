// SPDX-License-Identifier: MIT
#include "http/request_reader.h"

#include <strings.h>

#include <climits>
#include <utility>

namespace lam::http {
namespace {

RequestReader* Self(http_parser* p) { return static_cast<RequestReader*>(p->data); }

bool EqualsNoCase(const std::string& a, const char* b) { return ::strcasecmp(a.c_str(), b) == 0; }

}  // namespace

RequestReader::RequestReader(ReaderLimits limits) : limits_(limits) {
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
  settings_.on_message_begin = &RequestReader::OnMessageBegin;
  settings_.on_url = &RequestReader::OnUrl;
  settings_.on_header_field = &RequestReader::OnHeaderField;
  settings_.on_header_value = &RequestReader::OnHeaderValue;
  settings_.on_headers_complete = &RequestReader::OnHeadersComplete;
  settings_.on_body = &RequestReader::OnBody;
  settings_.on_message_complete = &RequestReader::OnMessageComplete;
}

int RequestReader::Fail(int status, std::string reason) {
  if (error_status_ == 0) {
    error_status_ = status;
    error_reason_ = std::move(reason);
  }
  // Not 0, 1 or 2: from on_headers_complete, 1 would mean "no body" and 2 "upgrade"; any
  // other non-zero value stops http-parser with a callback error.
  return -1;
}

bool RequestReader::CountHeaderBytes(size_t n) {
  header_bytes_ += n;
  return header_bytes_ <= limits_.max_header_bytes;
}

int RequestReader::OnMessageBegin(http_parser* p) {
  RequestReader* r = Self(p);
  r->current_ = Request{};
  r->url_.clear();
  r->field_.clear();
  r->value_.clear();
  r->in_value_ = false;
  r->in_request_ = true;
  r->expect_continue_ = false;
  r->header_bytes_ = 0;
  return 0;
}

int RequestReader::OnUrl(http_parser* p, const char* at, size_t n) {
  RequestReader* r = Self(p);
  if (!r->CountHeaderBytes(n)) return r->Fail(431, "request line and headers exceed http-max-header-bytes");
  r->url_.append(at, n);
  return 0;
}

void RequestReader::CommitHeader() {
  if (EqualsNoCase(field_, "authorization")) {
    current_.authorization = value_;
  } else if (EqualsNoCase(field_, "content-type")) {
    current_.content_type = value_;
  } else if (EqualsNoCase(field_, "expect")) {
    expect_continue_ = ::strcasecmp(value_.c_str(), "100-continue") == 0;
  }
  field_.clear();
  value_.clear();
  in_value_ = false;
}

int RequestReader::OnHeaderField(http_parser* p, const char* at, size_t n) {
  RequestReader* r = Self(p);
  if (!r->CountHeaderBytes(n)) return r->Fail(431, "request line and headers exceed http-max-header-bytes");
  if (r->in_value_) r->CommitHeader();
  r->field_.append(at, n);
  return 0;
}

int RequestReader::OnHeaderValue(http_parser* p, const char* at, size_t n) {
  RequestReader* r = Self(p);
  if (!r->CountHeaderBytes(n)) return r->Fail(431, "request line and headers exceed http-max-header-bytes");
  r->in_value_ = true;
  r->value_.append(at, n);
  return 0;
}

int RequestReader::OnHeadersComplete(http_parser* p) {
  RequestReader* r = Self(p);
  if (r->in_value_) r->CommitHeader();
  r->current_.method = http_method_str(static_cast<http_method>(p->method));
  http_parser_url u;
  http_parser_url_init(&u);
  if (http_parser_parse_url(r->url_.data(), r->url_.size(), 0, &u) != 0 || (u.field_set & (1 << UF_PATH)) == 0) {
    return r->Fail(400, "the request target is not a path");
  }
  r->current_.path = r->url_.substr(u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
  if (r->current_.path.empty() || r->current_.path[0] != '/') return r->Fail(400, "the request target is not a path");
  if (p->http_major != 1 || p->http_minor > 1) {
    return r->Fail(505, "HTTP/" + std::to_string(p->http_major) + "." + std::to_string(p->http_minor) +
                            " is not supported; speak HTTP/1.1");
  }
  // http-parser sets content_length to ULLONG_MAX when the request has no Content-Length.
  if (p->content_length != ULLONG_MAX && p->content_length > r->limits_.max_body_bytes) {
    return r->Fail(413, "the body (" + std::to_string(p->content_length) + " bytes) exceeds http-max-body-bytes (" +
                            std::to_string(r->limits_.max_body_bytes) + ")");
  }
  const bool body_follows = (p->flags & F_CHUNKED) != 0 || (p->content_length != ULLONG_MAX && p->content_length > 0);
  r->continue_pending_ = r->expect_continue_ && body_follows;
  r->current_.keep_alive = http_should_keep_alive(p) != 0;
  return 0;
}

int RequestReader::OnBody(http_parser* p, const char* at, size_t n) {
  RequestReader* r = Self(p);
  if (r->current_.body.size() + n > r->limits_.max_body_bytes) {
    return r->Fail(413, "the body exceeds http-max-body-bytes (" + std::to_string(r->limits_.max_body_bytes) + ")");
  }
  r->current_.body.append(at, n);
  return 0;
}

int RequestReader::OnMessageComplete(http_parser* p) {
  RequestReader* r = Self(p);
  r->ready_ = true;
  // An Upgrade request is answered in HTTP/1.1 as if it had not asked (RFC 9110 7.8 lets a
  // server ignore Upgrade); the connection then closes, so no byte after it is ever read.
  r->current_.keep_alive = r->current_.keep_alive && http_should_keep_alive(p) != 0 && p->upgrade == 0;
  http_parser_pause(p, 1);  // one request at a time: the rest waits until this one is answered
  return 0;
}

RequestReader::Event RequestReader::Feed(const char* data, size_t len, size_t* consumed) {
  *consumed = 0;
  if (error_status_ != 0) return Event::kError;
  if (ready_) return Event::kRequest;
  const size_t n = http_parser_execute(&parser_, &settings_, data, len);
  *consumed = n;
  if (error_status_ != 0) return Event::kError;
  if (ready_) return Event::kRequest;
  const http_errno err = HTTP_PARSER_ERRNO(&parser_);
  if (err != HPE_OK) {
    if (error_status_ == 0) {
      error_status_ = err == HPE_HEADER_OVERFLOW ? 431 : err == HPE_INVALID_VERSION ? 505 : 400;
      error_reason_ = std::string("malformed request: ") + http_errno_description(err);
    }
    return Event::kError;
  }
  // http-parser stops consuming at an upgrade it takes (a request without a body): what follows
  // would be another protocol. An upgrade request with a body is read to its end and answered as
  // any other (above); one cut after its headers only needs more bytes, as when fed whole.
  if (parser_.upgrade && n < len) {
    Fail(400, "protocol upgrades are not supported");
    return Event::kError;
  }
  return Event::kNeedMore;
}

Request RequestReader::TakeRequest() {
  Request r = std::move(current_);
  current_ = Request{};
  ready_ = false;
  in_request_ = false;
  continue_pending_ = false;
  http_parser_pause(&parser_, 0);
  return r;
}

bool RequestReader::TakeExpectContinue() {
  const bool c = continue_pending_;
  continue_pending_ = false;
  return c;
}

}  // namespace lam::http
