// SPDX-License-Identifier: MIT
// lamd's HTTP face against a real daemon: OpenAI and TEI embeddings are bitwise what a
// liblamclient client gets from the same daemon (texts and token ids, float and base64), HTTP
// and shared-memory requests share batches, lam_status verdicts map to the documented HTTP
// statuses and error shapes, and hostile HTTP (malformed request lines, huge headers and bodies,
// bad JSON, wrong types, slowloris, connection floods, peers that leave mid-request) gets clean
// errors while the daemon keeps serving both faces. Python's `openai`, `requests` and
// prometheus_client drive the same daemon in tests/python/test_http_face.py.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "integration/support/lamd_harness.h"
#include "shm/frame_io.h"

namespace lam::itest {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Reply {
  int status = 0;  // 0: no (whole) answer before the peer closed or the time ran out
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  bool closed = false;  // the server closed the connection after the answer
};

bool SendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads one answer (status line, headers, Content-Length body) from `fd`; `*pending` keeps
// what was read past it (the next pipelined answer).
Reply ReadReply(int fd, std::string* pending, int timeout_ms = 20000) {
  Reply r;
  std::string& buf = *pending;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  size_t need = std::string::npos;
  size_t head_end = std::string::npos;
  while (true) {
    if (head_end == std::string::npos && (head_end = buf.find("\r\n\r\n")) != std::string::npos) {
      const std::string head = buf.substr(0, head_end);
      if (head.rfind("HTTP/1.1 ", 0) == 0) r.status = std::atoi(head.c_str() + 9);
      size_t pos = head.find("\r\n");
      while (pos != std::string::npos && pos < head.size()) {
        const size_t next = head.find("\r\n", pos + 2);
        const std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
        const size_t colon = line.find(':');
        if (colon != std::string::npos) {
          std::string k = line.substr(0, colon);
          for (char& ch : k) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          r.headers[k] = line.substr(colon + 2);
        }
        pos = next;
      }
      need = head_end + 4 + static_cast<size_t>(std::atoll(r.headers["content-length"].c_str()));
    }
    if (need != std::string::npos && buf.size() >= need) {
      r.body = buf.substr(head_end + 4, need - head_end - 4);
      buf.erase(0, need);
      r.closed = r.headers["connection"] == "close";
      return r;
    }
    const int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (left <= 0) {
      r.status = 0;
      return r;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, left) <= 0) continue;
    char tmp[65536];
    const ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0) {
      r.status = 0;
      r.closed = true;
      return r;
    }
    buf.append(tmp, static_cast<size_t>(n));
  }
}

// True when the server closed `fd` within timeout_ms (EOF or reset), whatever it sent first.
bool ClosedWithin(int fd, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char tmp[4096];
    if (::recv(fd, tmp, sizeof(tmp), 0) <= 0) return true;
  }
  return false;
}

std::string Request(const std::string& method, const std::string& target, const std::string& body = "",
                    const std::string& extra_headers = "") {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: lamd\r\n" + extra_headers;
  if (!body.empty() || method == "POST") {
    r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return r + "\r\n" + body;
}

// One request on a fresh connection to the Unix socket `path`.
Reply Roundtrip(const std::string& path, const std::string& raw, int timeout_ms = 20000) {
  const int fd = shm::ConnectUnix(path);
  if (fd < 0) return {};
  std::string pending;
  Reply r;
  if (SendAll(fd, raw)) r = ReadReply(fd, &pending, timeout_ms);
  ::close(fd);
  return r;
}

Reply Post(const std::string& path, const std::string& target, const std::string& body,
           const std::string& extra_headers = "") {
  return Roundtrip(path, Request("POST", target, body, extra_headers));
}

std::vector<float> JsonFloats(const Json& row) {
  std::vector<float> v;
  for (const auto& x : row) v.push_back(x.get<float>());
  return v;
}

std::vector<float> Base64Floats(const std::string& s) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
  };
  std::string bytes;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    const int v = val(c);
    if (v < 0) continue;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

bool SameBits(const std::vector<float>& a, const float* b, size_t n) {
  return a.size() == n && std::memcmp(a.data(), b, n * sizeof(float)) == 0;
}

class HttpFaceTest : public LamdTest {
 protected:
  void SetUp() override {
    LamdTest::SetUp();
    // Beside the control socket, in SocketPath()'s short /tmp directory (sun_path: 107 bytes).
    http_ = socket_.substr(0, socket_.rfind('/')) + "/http.sock";
  }
  // A lamd with HTTP on a Unix socket in the test's directory, plus `extra` flags.
  void StartLamd(std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), {"--http", http_});
    lamd_ = std::make_unique<LamdProcess>(socket_, extra);
    ASSERT_TRUE(lamd_->Start());
  }
  Json Status() {
    int rc = -1;
    const std::string out = Lamctl({"status", "--json", "--socket", socket_}, &rc);
    EXPECT_EQ(rc, 0);
    return Json::parse(out, nullptr, false);
  }
  // One embedding through the shared-memory client, to show lamd still serves it.
  std::vector<float> ShmEmbed(const std::vector<int32_t>& ids) {
    lam_status st = LAM_STATUS_OK;
    lam_client* c = OpenClient(socket_, &st);
    EXPECT_NE(c, nullptr) << Api().status_str(st);
    if (c == nullptr) return {};
    const uint32_t len = static_cast<uint32_t>(ids.size());
    lam_embed_tokens_request req = LAM_EMBED_TOKENS_REQUEST_INIT;
    req.token_ids = ids.data();
    req.lengths = &len;
    req.n_sequences = 1;
    std::vector<float> out(384);
    size_t n = 0;
    st = Api().embed_tokens(c, &req, out.data(), out.size(), &n);
    EXPECT_EQ(st, LAM_STATUS_OK) << Api().client_last_error(c);
    Api().client_close(c);
    return out;
  }
  void ExpectStillServing() {
    const Reply r = Post(http_, "/embed", R"({"inputs":"still serving"})");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(ShmEmbed({101, 7592, 102}).size(), 384u);
  }

  std::string http_;
  std::unique_ptr<LamdProcess> lamd_;
};

TEST_F(HttpFaceTest, OpenAIAndTeiEmbeddingsAreBitwiseTheSharedMemoryResults) {
  StartLamd();
  const std::vector<std::string> texts = {"Hello, world!", "Ünïcödé text — with accents and 漢字", ""};
  lam_status st = LAM_STATUS_OK;
  lam_client* c = OpenClient(socket_, &st);
  ASSERT_NE(c, nullptr) << Api().status_str(st);
  std::vector<const char*> ptrs;
  std::vector<size_t> lengths;
  for (const auto& t : texts) {
    ptrs.push_back(t.c_str());
    lengths.push_back(t.size());
  }
  lam_embed_text_request treq = LAM_EMBED_TEXT_REQUEST_INIT;
  treq.texts = ptrs.data();
  treq.lengths = lengths.data();
  treq.n_texts = texts.size();
  std::vector<float> want(texts.size() * 384);
  size_t n = 0;
  ASSERT_EQ(Api().embed_text(c, &treq, want.data(), want.size(), &n), LAM_STATUS_OK) << Api().client_last_error(c);

  const std::vector<int32_t> a = RandomSequence(1, 40), b = RandomSequence(2, 7);
  const std::vector<uint32_t> lens = {40, 7};
  std::vector<int32_t> ids = a;
  ids.insert(ids.end(), b.begin(), b.end());
  lam_embed_tokens_request kreq = LAM_EMBED_TOKENS_REQUEST_INIT;
  kreq.token_ids = ids.data();
  kreq.lengths = lens.data();
  kreq.n_sequences = 2;
  std::vector<float> want_ids(2 * 384);
  ASSERT_EQ(Api().embed_tokens(c, &kreq, want_ids.data(), want_ids.size(), &n), LAM_STATUS_OK);
  Api().client_close(c);

  // OpenAI, texts, float and base64.
  for (const char* format : {"float", "base64"}) {
    const Json body = {{"model", "ignored-prefix/" + Status()["model"]["name"].get<std::string>()},
                       {"input", texts},
                       {"encoding_format", format}};
    const Reply r = Post(http_, "/v1/embeddings", body.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.headers.at("content-type"), "application/json");
    const Json j = Json::parse(r.body);
    EXPECT_EQ(j["object"], "list");
    ASSERT_EQ(j["data"].size(), texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
      EXPECT_EQ(j["data"][i]["object"], "embedding");
      EXPECT_EQ(j["data"][i]["index"], i);
      const std::vector<float> got = std::string(format) == "float" ? JsonFloats(j["data"][i]["embedding"])
                                                                     : Base64Floats(j["data"][i]["embedding"]);
      EXPECT_TRUE(SameBits(got, want.data() + i * 384, 384)) << format << " text " << i;
    }
    EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 6);  // [CLS] [SEP] per text at least
    EXPECT_EQ(j["usage"]["prompt_tokens"], j["usage"]["total_tokens"]);
  }
  // OpenAI, one string and arrays of token ids.
  {
    const Reply r = Post(http_, "/v1/embeddings", Json({{"input", texts[0]}}).dump());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(SameBits(JsonFloats(Json::parse(r.body)["data"][0]["embedding"]), want.data(), 384));
    const Reply k = Post(http_, "/v1/embeddings", Json({{"input", {a, b}}}).dump());
    ASSERT_EQ(k.status, 200) << k.body;
    const Json j = Json::parse(k.body);
    EXPECT_EQ(j["usage"]["prompt_tokens"], 47);
    EXPECT_TRUE(SameBits(JsonFloats(j["data"][0]["embedding"]), want_ids.data(), 384));
    EXPECT_TRUE(SameBits(JsonFloats(j["data"][1]["embedding"]), want_ids.data() + 384, 384));
    const Reply one = Post(http_, "/v1/embeddings", Json({{"input", b}}).dump());
    ASSERT_EQ(one.status, 200) << one.body;
    EXPECT_TRUE(SameBits(JsonFloats(Json::parse(one.body)["data"][0]["embedding"]), want_ids.data() + 384, 384));
  }
  // TEI: an array of arrays.
  {
    const Reply r = Post(http_, "/embed", Json({{"inputs", texts}, {"normalize", true}}).dump());
    ASSERT_EQ(r.status, 200) << r.body;
    const Json j = Json::parse(r.body);
    ASSERT_TRUE(j.is_array());
    ASSERT_EQ(j.size(), texts.size());
    for (size_t i = 0; i < texts.size(); ++i) EXPECT_TRUE(SameBits(JsonFloats(j[i]), want.data() + i * 384, 384));
    const Reply info = Roundtrip(http_, Request("GET", "/info"));
    ASSERT_EQ(info.status, 200);
    const Json ij = Json::parse(info.body);
    EXPECT_EQ(ij["model_id"], Status()["model"]["name"]);
    EXPECT_EQ(ij["max_input_length"], Status()["model"]["max_tokens"]);
  }
  // Counted per transport.
  const Json s = Status();
  bool saw_http = false;
  for (const auto& row : s["transports"]["by_transport"]) {
    if (row["transport"] == "http") {
      saw_http = true;
      EXPECT_EQ(row["requests"], 6);
      EXPECT_EQ(row["sequences_total"], 13);
    }
  }
  EXPECT_TRUE(saw_http);
  EXPECT_EQ(lamd_->Stop(), 0);
}

TEST_F(HttpFaceTest, HttpAndSharedMemoryRequestsShareOneBatch) {
  // Neither request runs alone: the first waits up to 2 s for batch mates.
  StartLamd({"--max-delay-us", "2000000", "--dispatch-lone-requests", "false"});
  const uint64_t batches_before = Status()["batches"]["batches_total"].get<uint64_t>();
  lam_status st = LAM_STATUS_OK;
  lam_client* c = OpenClient(socket_, &st);
  ASSERT_NE(c, nullptr);
  const std::vector<int32_t> ids = RandomSequence(5, 12);
  const uint32_t len = 12;
  lam_embed_tokens_request req = LAM_EMBED_TOKENS_REQUEST_INIT;
  req.token_ids = ids.data();
  req.lengths = &len;
  req.n_sequences = 1;
  lam_ticket ticket = 0;
  ASSERT_EQ(Api().submit_tokens(c, &req, &ticket), LAM_STATUS_OK);
  const auto t0 = Clock::now();
  const Reply r = Post(http_, "/v1/embeddings", Json({{"input", {RandomSequence(6, 12)}}}).dump());
  ASSERT_EQ(r.status, 200) << r.body;
  std::vector<float> out(384);
  size_t n = 0;
  ASSERT_EQ(Api().wait(c, ticket, 30000, out.data(), out.size(), &n), LAM_STATUS_OK);
  Api().client_close(c);
  const Json s = Status();
  if (Clock::now() - t0 < std::chrono::milliseconds(1800)) {
    // Both arrived inside one batching window: one batch of two sequences.
    EXPECT_EQ(s["batches"]["batches_total"].get<uint64_t>(), batches_before + 1);
    EXPECT_EQ(s["batches"]["batch_size_histogram"]["2-3"], 1);
  }
  EXPECT_EQ(lamd_->Stop(), 0);
}

TEST_F(HttpFaceTest, VerdictsMapToHttpStatusesAndThePeersErrorShapes) {
  StartLamd({"--max-sequences-per-request", "4"});
  struct Case {
    const char* target;
    std::string body;
    int status;
    const char* code;  // OpenAI error.code ("" = null) or TEI error_type
  };
  std::vector<int32_t> too_long(9000, 1000);
  too_long.front() = 101;
  too_long.back() = 102;
  std::string long_text;
  for (int i = 0; i < 9000; ++i) long_text += "word ";
  const std::vector<Case> cases = {
      {"/v1/embeddings", R"({"input":[[101, 30522, 102]]})", 400, "token_out_of_range"},
      {"/v1/embeddings", R"({"input":[[101, 2147483648]]})", 400, "token_out_of_range"},
      {"/v1/embeddings", R"({"input":[[101, -1, 102]]})", 400, "token_out_of_range"},
      {"/v1/embeddings", R"({"input":[[]]})", 400, "empty_sequence"},
      {"/v1/embeddings", R"({"input":[]})", 400, ""},
      {"/v1/embeddings", R"({"input":["a", 1]})", 400, ""},
      {"/v1/embeddings", R"({"input":[1.5]})", 400, ""},
      {"/v1/embeddings", R"({"input":{"a":1}})", 400, ""},
      {"/v1/embeddings", R"({"model":"gpt-4","input":"x"})", 404, "model_not_found"},
      {"/v1/embeddings", R"({"input":"x","encoding_format":"int8"})", 400, ""},
      {"/v1/embeddings", R"({"input":"x","dimensions":12})", 400, ""},
      {"/v1/embeddings", R"({"input":["a","b","c","d","e"]})", 413, ""},
      {"/v1/embeddings", Json({{"input", {too_long}}}).dump(), 413, "sequence_too_long"},
      {"/v1/embeddings", R"({"input":"unterminated)", 400, ""},
      {"/v1/embeddings", "[1,2,3]", 400, ""},
      {"/v1/embeddings", std::string(100, '[') + std::string(100, ']'), 400, ""},
      {"/v1/embeddings", "{\"input\":\"\xff\xfe\"}", 400, ""},
      {"/embed", R"({"inputs":"x","normalize":false})", 400, "Validation"},
      {"/embed", R"({"inputs":"x","truncate":"yes"})", 400, "Validation"},
      {"/embed", Json({{"inputs", long_text}}).dump(), 413, "Validation"},
      {"/embed", R"({"inputs":[]})", 400, "Validation"},
      {"/embed", "not json", 400, "Validation"},
  };
  for (const Case& k : cases) {
    const Reply r = Post(http_, k.target, k.body);
    SCOPED_TRACE(std::string(k.target) + " " + k.body.substr(0, 80));
    EXPECT_EQ(r.status, k.status) << r.body;
    EXPECT_FALSE(r.closed);  // a verdict on the body keeps the connection
    const Json j = Json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.body;
    if (std::string(k.target) == "/v1/embeddings") {
      ASSERT_TRUE(j["error"].is_object()) << r.body;
      EXPECT_TRUE(j["error"]["message"].is_string());
      EXPECT_TRUE(j["error"]["type"].is_string());
      EXPECT_TRUE(j["error"].contains("param"));
      if (k.code[0] != '\0') {
        EXPECT_EQ(j["error"]["code"], k.code);
      }
    } else {
      EXPECT_TRUE(j["error"].is_string()) << r.body;
      EXPECT_EQ(j["error_type"], k.code);
    }
  }
  // (TEI's truncate: true is checked on all-MiniLM-L6-v2 in tests/python/test_http_face.py,
  // where the maximum is 512 tokens, not this model's 8192.)
  const Reply nf = Roundtrip(http_, Request("GET", "/nowhere"));
  EXPECT_EQ(nf.status, 404);
  const Reply na = Roundtrip(http_, Request("GET", "/v1/embeddings"));
  EXPECT_EQ(na.status, 405);
  EXPECT_EQ(na.headers.at("allow"), "POST");
  EXPECT_EQ(Roundtrip(http_, Request("GET", "/health")).status, 200);
  EXPECT_EQ(Roundtrip(http_, Request("GET", "/ready")).status, 200);
  ExpectStillServing();
  EXPECT_EQ(lamd_->Stop(), 0);
}

TEST_F(HttpFaceTest, HostileBytesGetCleanErrorsAndLamdKeepsServing) {
  StartLamd({"--http-max-header-bytes", "4096", "--http-max-body-bytes", "65536"});
  struct Case {
    std::string raw;
    int status;
  };
  const std::vector<Case> cases = {
      {"GARBAGE\r\n\r\n", 400},
      {"GET /health HTTP/9.9\r\n\r\n", 505},
      {"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8000, 'a') + "\r\n\r\n", 431},
      {"GET /" + std::string(8000, 'a') + " HTTP/1.1\r\n\r\n", 431},
      {"POST /embed HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", 413},
      {"POST /embed HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n20000\r\n" + std::string(0x20000, 'x'), 413},
      {"POST /embed HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400},
      {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400},
      {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11), 400},
      {"GET http://[::1 HTTP/1.1\r\n\r\n", 400},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.raw.substr(0, 40));
    const Reply r = Roundtrip(http_, k.raw);
    EXPECT_EQ(r.status, k.status) << r.body;
    EXPECT_TRUE(r.closed);
  }
  // A peer that sends half a request and leaves, one that leaves while its request computes,
  // and 100 connections that each send a request and close at once.
  for (int i = 0; i < 3; ++i) {
    const int fd = shm::ConnectUnix(http_);
    ASSERT_GE(fd, 0);
    SendAll(fd, i == 0 ? "POST /embed HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"in"
                       : Request("POST", "/embed", R"({"inputs":["a","b","c"]})"));
    ::close(fd);
  }
  std::vector<int> fds;
  for (int i = 0; i < 100; ++i) {
    const int fd = shm::ConnectUnix(http_);
    ASSERT_GE(fd, 0);
    SendAll(fd, Request("POST", "/v1/embeddings", R"({"input":"flood"})"));
    fds.push_back(fd);
  }
  for (int fd : fds) ::close(fd);
  // Keep-alive and pipelining: two requests in one write, two answers in order.
  {
    const int fd = shm::ConnectUnix(http_);
    ASSERT_GE(fd, 0);
    std::string pending;
    ASSERT_TRUE(SendAll(fd, Request("GET", "/health") + Request("POST", "/embed", R"({"inputs":"x"})")));
    const Reply a = ReadReply(fd, &pending);
    const Reply b = ReadReply(fd, &pending);
    EXPECT_EQ(a.status, 200);
    EXPECT_EQ(a.body, R"({"status":"ok"})");
    EXPECT_EQ(b.status, 200);
    EXPECT_EQ(b.body.front(), '[');
    ASSERT_TRUE(SendAll(fd, Request("GET", "/ready")));
    EXPECT_EQ(ReadReply(fd, &pending).status, 200);
    ::close(fd);
  }
  ExpectStillServing();
  const Json s = Status();
  EXPECT_GE(s["http"]["http_parse_errors_total"].get<int>(), 10);
  EXPECT_EQ(s["clients"]["callback_errors_total"], 0);
  EXPECT_EQ(lamd_->Stop(), 0);
}

TEST_F(HttpFaceTest, SlowAndIdlePeersAreCutOffWhileOthersAreServed) {
  StartLamd({"--http-request-timeout-ms", "400", "--http-idle-timeout-ms", "600"});
  // Slowloris: one header byte every 50 ms never completes a request within 400 ms.
  const int slow = shm::ConnectUnix(http_);
  ASSERT_GE(slow, 0);
  const std::string raw = Request("GET", "/health", "", "X-Slow: " + std::string(200, 'z') + "\r\n");
  const auto t0 = Clock::now();
  std::string got;
  size_t i = 0;
  bool cut = false;
  // Sent whole, the request would take 10 s; the cut comes long before (sanitizer builds included).
  while (!cut && Clock::now() - t0 < std::chrono::seconds(12)) {
    // Once lamd has answered 408 it drops what still comes (or the send fails after it closed).
    if (i < raw.size() && ::send(slow, raw.data() + i++, 1, MSG_NOSIGNAL) != 1) i = raw.size();
    pollfd p{slow, POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) {
      char buf[4096];
      const ssize_t n = ::recv(slow, buf, sizeof(buf), 0);
      if (n <= 0) cut = true;
      if (n > 0) got.append(buf, static_cast<size_t>(n));
    }
    // Meanwhile other peers are served.
    if (i == 5) {
      EXPECT_EQ(Post(http_, "/embed", R"({"inputs":"meanwhile"})").status, 200);
    }
  }
  ::close(slow);
  EXPECT_TRUE(cut);
  EXPECT_EQ(got.rfind("HTTP/1.1 408 ", 0), 0u) << got;
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(8));
  // An idle keep-alive connection is closed after 600 ms.
  const int idle = shm::ConnectUnix(http_);
  ASSERT_GE(idle, 0);
  std::string pending;
  ASSERT_TRUE(SendAll(idle, Request("GET", "/health")));
  EXPECT_EQ(ReadReply(idle, &pending).status, 200);
  EXPECT_TRUE(ClosedWithin(idle, 3000));
  ::close(idle);
  const Json s = Status();
  EXPECT_EQ(s["http"]["http_request_timeouts_total"], 1);
  EXPECT_GE(s["http"]["http_idle_closed_total"].get<int>(), 1);
  ExpectStillServing();
  EXPECT_EQ(lamd_->Stop(), 0);
}

TEST_F(HttpFaceTest, ConnectionsBeyondTheLimitAreRefusedAndTheLimitRecovers) {
  StartLamd({"--http-max-connections", "8"});
  std::vector<int> held;
  for (int i = 0; i < 8; ++i) {
    const int fd = shm::ConnectUnix(http_);
    ASSERT_GE(fd, 0);
    std::string pending;
    ASSERT_TRUE(SendAll(fd, Request("GET", "/health")));
    ASSERT_EQ(ReadReply(fd, &pending).status, 200);  // open and counted
    held.push_back(fd);
  }
  const Reply refused = Roundtrip(http_, Request("GET", "/health"));
  EXPECT_EQ(refused.status, 503);
  EXPECT_TRUE(refused.closed);
  for (int fd : held) ::close(fd);
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {
    served = Roundtrip(http_, Request("GET", "/health")).status == 200;
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(served);
  EXPECT_GE(Status()["http"]["http_refused_connections_total"].get<int>(), 1);
  EXPECT_EQ(lamd_->Stop(), 0);
}

TEST_F(HttpFaceTest, BearerTokenGuardsEveryRouteOnTcp) {
  const std::string token_file = dir_ + "/token";
  const std::string token = "s3cret-token-0123456789abcdef";
  {
    std::ofstream f(token_file);
    f << token << "\n";
  }
  // Readable by others: refused at start.
  ::chmod(token_file.c_str(), 0644);
  {
    LamdProcess bad(socket_, {"--http", "127.0.0.1:0", "--http-token-file", token_file});
    EXPECT_FALSE(bad.Start(30000));
  }
  ::chmod(token_file.c_str(), 0600);
  lamd_ = std::make_unique<LamdProcess>(socket_, std::vector<std::string>{"--http", "127.0.0.1:0",
                                                                          "--http-token-file", token_file});
  ASSERT_TRUE(lamd_->Start());
  const Json listeners = Status()["http"]["http_listeners"];
  ASSERT_EQ(listeners.size(), 1u);
  const std::string addr = listeners[0].get<std::string>();
  const int port = std::atoi(addr.substr(addr.rfind(':') + 1).c_str());
  ASSERT_GT(port, 0);
  auto tcp = [&](const std::string& raw) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    Reply r;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0 && SendAll(fd, raw)) {
      std::string pending;
      r = ReadReply(fd, &pending);
    }
    ::close(fd);
    return r;
  };
  Reply none = tcp(Request("POST", "/v1/embeddings", R"({"input":"x"})"));
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.headers["www-authenticate"], "Bearer");
  EXPECT_EQ(Json::parse(none.body)["error"]["code"], "invalid_api_key");
  EXPECT_EQ(tcp(Request("GET", "/metrics", "", "Authorization: Bearer " + token + "x\r\n")).status, 401);
  EXPECT_EQ(tcp(Request("GET", "/metrics", "", "Authorization: Bearer " + token.substr(1) + "\r\n")).status, 401);
  EXPECT_EQ(tcp(Request("GET", "/embed", "", "Authorization: Basic " + token + "\r\n")).status, 401);
  EXPECT_EQ(tcp(Request("POST", "/embed", R"({"inputs":"x"})", "Authorization: Bearer " + token + "\r\n")).status, 200);
  const Reply m = tcp(Request("GET", "/metrics", "", "authorization: bearer " + token + "\r\n"));
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("lamd_request_duration_seconds_bucket{transport=\"http\",le=\"+Inf\"}"), std::string::npos);
  EXPECT_EQ(lamd_->Stop(), 0);
}

TEST_F(HttpFaceTest, ReadyAnswers503WhileDrainingAndInFlightWorkIsAnswered) {
  StartLamd({"--max-delay-us", "1500000", "--dispatch-lone-requests", "false"});
  EXPECT_EQ(Roundtrip(http_, Request("GET", "/ready")).status, 200);
  // An HTTP request waits 1.5 s for batch mates; SIGTERM meanwhile.
  const int fd = shm::ConnectUnix(http_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, Request("POST", "/embed", R"({"inputs":"in flight"})")));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_EQ(::kill(lamd_->pid(), SIGTERM), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  Reply ready = Roundtrip(http_, Request("GET", "/ready"));
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.headers["retry-after"], "1");
  const Reply refused = Post(http_, "/v1/embeddings", R"({"input":"late"})");
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(Json::parse(refused.body)["error"]["type"], "server_error");
  std::string pending;
  const Reply done = ReadReply(fd, &pending);
  EXPECT_EQ(done.status, 200) << done.body;
  ::close(fd);
  EXPECT_EQ(lamd_->Stop(), 0);  // exits 0: the drain finished the in-flight request
}

}  // namespace
}  // namespace lam::itest
