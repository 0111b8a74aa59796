// SPDX-License-Identifier: MIT
// libFuzzer: the HTTP face's request path without the engine. The bytes are a connection's
// stream: they go to http/request_reader (http-parser with lamd's header and body caps) once
// whole and once in pieces whose sizes come from the first byte, and every request it yields is
// routed (http/api.h Resolve) and, for the embedding routes, parsed as an OpenAI and as a TEI
// request. Checked besides "no sanitizer report, no exception": both feedings yield the same
// requests and both or neither end in a verdict; a verdict is a 4xx/5xx and the reader takes nothing after it;
// a body never exceeds the cap; an accepted embedding request holds at least one input and only
// int32 token ids; every error document is JSON of the peer's shape; the bearer-token compare
// agrees with ==.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/api.h"
#include "http/request_reader.h"

namespace {

using lam::http::RequestReader;

constexpr lam::http::ReaderLimits kLimits{1024, 4096};

struct Outcome {
  std::vector<std::string> requests;  // method, path, body, keep-alive, authorization
  int verdict = 0;
};

void Check(bool ok) {
  if (!ok) std::abort();
}

Outcome Feed(const uint8_t* data, size_t size, size_t piece) {
  Outcome out;
  RequestReader reader(kLimits);
  std::string pending;
  size_t off = 0;
  while (off < size || !pending.empty()) {
    const size_t n = std::min(piece, size - off);
    pending.append(reinterpret_cast<const char*>(data) + off, n);
    off += n;
    while (true) {
      size_t consumed = 0;
      const RequestReader::Event ev = reader.Feed(pending.data(), pending.size(), &consumed);
      Check(consumed <= pending.size());
      pending.erase(0, consumed);
      if (ev == RequestReader::Event::kError) {
        out.verdict = reader.error_status();
        Check(out.verdict >= 400 && out.verdict <= 599);
        size_t more = 0;
        Check(reader.Feed("x", 1, &more) == RequestReader::Event::kError && more == 0);
        return out;
      }
      if (ev == RequestReader::Event::kNeedMore) break;
      lam::http::Request r = reader.TakeRequest();
      Check(r.body.size() <= kLimits.max_body_bytes);
      out.requests.push_back(r.method + ' ' + r.path + ' ' + r.body + ' ' + (r.keep_alive ? "1" : "0") + ' ' +
                             r.authorization);
      if (pending.empty()) break;
    }
    if (off >= size) break;
  }
  return out;
}

void CheckError(const lam::http::ApiError& e) {
  Check(e.http_status >= 400 && e.http_status <= 599);
  const auto a = nlohmann::json::parse(lam::http::OpenAIErrorBody(e), nullptr, false);
  Check(a.is_object() && a["error"].is_object() && a["error"]["message"].is_string() && a["error"].contains("param"));
  const auto t = nlohmann::json::parse(lam::http::TeiErrorBody(e), nullptr, false);
  Check(t.is_object() && t["error"].is_string() && t["error_type"].is_string());
}

void CheckInput(const lam::http::EmbedInput& in) {
  if (in.is_text) {
    Check(!in.texts.empty() && in.ids.empty());
  } else {
    Check(!in.ids.empty() && in.texts.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] % 17;
  ++data;
  --size;
  const Outcome whole = Feed(data, size, size == 0 ? 1 : size);
  const Outcome split = Feed(data, size, piece);
  // Which 4xx comes first may depend on the pieces (a cap is counted per callback, a bad byte is
  // seen where it lies), but not whether there is one, nor the requests before it.
  Check(whole.requests == split.requests && (whole.verdict != 0) == (split.verdict != 0));

  RequestReader reader(kLimits);
  size_t consumed = 0;
  if (reader.Feed(reinterpret_cast<const char*>(data), size, &consumed) != RequestReader::Event::kRequest) return 0;
  const lam::http::Request r = reader.TakeRequest();
  bool method_ok = false;
  const char* allow = nullptr;
  const lam::http::Route route = lam::http::Resolve(r.method, r.path, &method_ok, &allow);
  Check(allow != nullptr);
  lam::http::ApiLimits limits;
  limits.model_name = "all-MiniLM-L6-v2";
  limits.max_inputs = 8;
  if (route == lam::http::Route::kOpenAIEmbeddings || route == lam::http::Route::kTeiEmbed || r.body.size() > 1) {
    lam::http::EmbedInput in;
    lam::http::ApiError e;
    if (lam::http::ParseOpenAIRequest(r.body, limits, &in, &e)) {
      CheckInput(in);
      Check(in.is_text || in.ids.size() <= limits.max_inputs || in.ids.size() == 1);
    } else {
      CheckError(e);
    }
    if (lam::http::ParseTeiRequest(r.body, limits, &in, &e)) {
      CheckInput(in);
    } else {
      CheckError(e);
    }
  }
  std::string scheme = r.authorization.substr(0, 7);
  for (char& ch : scheme) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  Check(lam::http::BearerTokenMatches(r.authorization, "0123456789abcdef") ==
        (scheme == "bearer " && r.authorization.substr(std::min<size_t>(7, r.authorization.size())) ==
                                    "0123456789abcdef"));
  return 0;
}
