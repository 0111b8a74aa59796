// SPDX-License-Identifier: MIT
// lam-bench-http: lamd's HTTP face against its own shared-memory path, and against any other
// OpenAI-compatible embedding server (--peer), with the same texts and the same load shapes.
// For each request size (--texts, texts per request) and connection count (--conns) it keeps
// that many clients busy, each client sending its next request as soon as the previous answer
// is in:
//   http   one keep-alive connection per client, POST /v1/embeddings (OpenAI JSON, floats)
//   shm    one liblamclient handle per client, lam_client_embed_text (--socket)
//   peer   like http, against --peer HOST:PORT (e.g. infinity-emb, tools/peers/)
// Before timing it checks that all paths return the same embeddings for --check-texts texts.
// Each cell is measured --reps times, the targets back to back in a rotated order (interleaved,
// so that drift of a shared machine hits all of them alike); it prints every measurement, then
// the medians (requests/s, texts/s, p50/p99 latency) and the per-repetition ratios of lamd http
// to the peer and to shm, as Markdown tables. tools/peers/run-peer-bench.sh starts lamd and a
// peer and runs it.
//   lam-bench-http --socket CTRL --http unix:/path|127.0.0.1:PORT [--peer 127.0.0.1:PORT]
//                  [--texts 1,32] [--conns 1,16,64] [--seconds 5] [--warmup 1] [--reps 1] ...
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lam/lam.h"

#include "bench_http_stats.h"

namespace {

using Clock = std::chrono::steady_clock;

// Deterministic English-like sentences of 8-16 words.
std::vector<std::string> Sentences(size_t n, uint64_t seed) {
  static const char* kWords[] = {"the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while",
                                 "cats", "sleep", "in", "sunny", "gardens", "today", "people", "read", "books",
                                 "about", "distant", "mountains", "and", "quiet", "rivers", "near", "old", "towns"};
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  std::vector<std::string> out(n);
  for (auto& s : out) {
    const int words = 8 + static_cast<int>(next() % 9);
    for (int w = 0; w < words; ++w) s += std::string(w ? " " : "") + kWords[next() % 28];
    s += '.';
  }
  return out;
}

int Connect(const std::string& where) {
  if (where.rfind("unix:", 0) == 0 || where[0] == '/') {
    const std::string path = where[0] == '/' ? where : where.substr(5);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }
  const auto colon = where.rfind(':');
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::atoi(where.c_str() + colon + 1)));
  ::inet_pton(AF_INET, where.substr(0, colon).c_str(), &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

// One request on a keep-alive connection; true on a 200 with the whole body read.
bool HttpCall(int fd, const std::string& request, std::string* buf) {
  size_t off = 0;
  while (off < request.size()) {
    const ssize_t n = ::send(fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  buf->clear();
  size_t head_end = std::string::npos, need = std::string::npos;
  char tmp[65536];
  while (need == std::string::npos || buf->size() < need) {
    const ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0) return false;
    buf->append(tmp, static_cast<size_t>(n));
    if (head_end == std::string::npos && (head_end = buf->find("\r\n\r\n")) != std::string::npos) {
      std::string head = buf->substr(0, head_end);
      for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const auto cl = head.find("content-length:");
      if (cl == std::string::npos) return false;
      need = head_end + 4 + std::strtoull(head.c_str() + cl + 15, nullptr, 10);
    }
  }
  return buf->compare(0, 12, "HTTP/1.1 200") == 0 || buf->compare(0, 12, "HTTP/1.0 200") == 0;
}

using lam::bench_http::Measurement;
using lam::bench_http::Options;

struct Cell {
  uint64_t requests = 0;
  uint64_t errors = 0;
  std::string first_error;
  double seconds = 0;
  std::vector<double> latency_ms;
};

// Runs `conns` clients, each sending its next request (`call(state, client)`) as soon as the
// last is answered. The unmeasured warmup lasts --warmup seconds and until every client has had
// an answer (so the server's queue is full); the measured window lasts --seconds and until `conns`
// requests have completed in it (one round of the queue: with slow servers and many
// connections a fixed window would see a handful of early finishers). Neither passes
// --max-seconds. The clients' last requests are waited for, so the next cell starts on an idle
// server.
template <typename Setup, typename Call, typename ErrorOf>
Cell RunCell(int conns, const Options& o, Setup setup, Call call, ErrorOf error_of) {
  std::atomic<bool> measuring{false}, stop{false};
  std::atomic<int> answered{0};
  std::atomic<uint64_t> done{0};
  std::vector<Cell> per(static_cast<size_t>(conns));
  std::vector<std::thread> threads;
  for (int i = 0; i < conns; ++i) {
    threads.emplace_back([&, i] {
      auto state = setup(i);
      Cell& c = per[static_cast<size_t>(i)];
      bool first = true;
      while (!stop.load()) {
        const auto t0 = Clock::now();
        const bool ok = call(state, i);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (first) {
          first = false;
          answered.fetch_add(1);
        }
        if (!measuring.load()) continue;
        done.fetch_add(1);
        if (!ok) {
          if (c.errors++ == 0) c.first_error = error_of(state);
          continue;
        }
        ++c.requests;
        c.latency_ms.push_back(ms);
      }
    });
  }
  auto wait_until = [&o](auto ready) {
    const auto t0 = Clock::now();
    double elapsed = 0;
    while (!ready(elapsed) && elapsed < o.max_seconds) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    }
  };
  wait_until([&](double s) { return s >= o.warmup && answered.load() >= conns; });
  measuring = true;
  const auto t0 = Clock::now();
  wait_until([&](double s) { return s >= o.seconds && done.load() >= static_cast<uint64_t>(conns); });
  measuring = false;
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  stop = true;
  for (auto& t : threads) t.join();
  Cell all;
  all.seconds = elapsed;
  for (auto& c : per) {
    all.requests += c.requests;
    all.errors += c.errors;
    if (all.first_error.empty()) all.first_error = c.first_error;
    all.latency_ms.insert(all.latency_ms.end(), c.latency_ms.begin(), c.latency_ms.end());
  }
  return all;
}

// A keep-alive connection (closed with the state) and a liblamclient handle, one per client.
struct HttpState {
  int fd = -1;
  uint64_t k = 0;
  std::string buf;
  HttpState() = default;
  HttpState(HttpState&& o) noexcept : fd(std::exchange(o.fd, -1)), k(o.k), buf(std::move(o.buf)) {}
  HttpState(const HttpState&) = delete;
  ~HttpState() {
    if (fd >= 0) ::close(fd);
  }
};

struct ShmState {
  lam_client* client = nullptr;
  uint64_t k = 0;
  std::vector<float> out;
  std::string open_error;
  ShmState() = default;
  ShmState(ShmState&& o) noexcept : client(std::exchange(o.client, nullptr)), k(o.k), out(std::move(o.out)) {}
  ShmState(const ShmState&) = delete;
  ~ShmState() { lam_client_close(client); }
};

ShmState OpenShm(const std::string& socket_path, size_t floats) {
  ShmState s;
  lam_client_options o = LAM_CLIENT_OPTIONS_INIT;
  o.socket_path = socket_path.c_str();
  if (const lam_status st = lam_client_open(&o, &s.client); st != LAM_STATUS_OK) {
    s.open_error = s.client ? lam_client_last_error(s.client) : lam_status_str(st);
    lam_client_close(s.client);
    s.client = nullptr;
  }
  s.out.resize(floats);
  return s;
}

// lam_client_embed_text on texts: *count floats (n texts x the model's dimension) land in s->out.
bool ShmEmbed(ShmState* s, const std::vector<const std::string*>& texts, size_t* count) {
  if (s->client == nullptr) return false;
  std::vector<const char*> ptrs;
  std::vector<size_t> lengths;
  for (const std::string* x : texts) {
    ptrs.push_back(x->data());
    lengths.push_back(x->size());
  }
  lam_embed_text_request r = LAM_EMBED_TEXT_REQUEST_INIT;
  r.texts = ptrs.data();
  r.lengths = lengths.data();
  r.n_texts = texts.size();
  // Closed-loop load past saturation queues requests for longer than the default 30 s; the
  // benchmark measures how long they take rather than failing them (the peer has no deadline).
  r.timeout_ms = LAM_TIMEOUT_INFINITE;
  return lam_client_embed_text(s->client, &r, s->out.data(), s->out.size(), count) == LAM_STATUS_OK;
}

std::string EmbeddingsRequest(const std::string& auth, const std::string& model,
                              const std::vector<const std::string*>& texts) {
  nlohmann::json in = nlohmann::json::array();
  for (const std::string* t : texts) in.push_back(*t);
  const std::string body = nlohmann::json({{"model", model}, {"input", in}, {"encoding_format", "float"}}).dump();
  return "POST /v1/embeddings HTTP/1.1\r\nHost: bench\r\n" + auth +
         "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// One request on a fresh connection; the parsed vectors, or false with *error.
bool HttpEmbedOnce(const std::string& where, const std::string& request, std::vector<std::vector<float>>* out,
                   std::string* error) {
  const int fd = Connect(where);
  if (fd < 0) {
    *error = "cannot connect to " + where;
    return false;
  }
  std::string buf;
  const bool ok = HttpCall(fd, request, &buf);
  ::close(fd);
  const size_t head_end = buf.find("\r\n\r\n");
  if (!ok || head_end == std::string::npos) {
    *error = where + " answered: " + buf.substr(0, 200);
    return false;
  }
  return lam::bench_http::ParseOpenAIEmbeddings(buf.substr(head_end + 4), out, error);
}

// Before timing: the same texts through lamd's HTTP face, its shared-memory path and the peer
// must give the same embeddings (cosine >= --min-cosine), so the peer serves the same model
// with the same pooling and the timed work is the same. Prints what it compared.
bool CheckSameEmbeddings(const Options& o, const std::string& auth, const std::vector<std::string>& pool) {
  std::vector<const std::string*> texts;
  for (int i = 0; i < o.check_texts; ++i) texts.push_back(&pool[static_cast<size_t>(i) % pool.size()]);
  std::string error;
  std::vector<std::vector<float>> http, peer;
  if (!HttpEmbedOnce(o.http, EmbeddingsRequest(auth, "", texts), &http, &error)) {
    std::fprintf(stderr, "lam-bench-http: lamd http: %s\n", error.c_str());
    return false;
  }
  const size_t dim = http.empty() ? 0 : http[0].size();
  ShmState s = OpenShm(o.socket_path, texts.size() * dim);
  size_t count = 0;
  if (!ShmEmbed(&s, texts, &count) || count != texts.size() * dim) {
    std::fprintf(stderr, "lam-bench-http: lamd shm: embedding %zu texts failed: %s\n", texts.size(),
                 s.client ? lam_client_last_error(s.client) : s.open_error.c_str());
    return false;
  }
  std::vector<std::vector<float>> shm(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) shm[i].assign(s.out.begin() + i * dim, s.out.begin() + (i + 1) * dim);
  bool ok = true;
  const double shm_cos = lam::bench_http::MinCosine(http, shm);
  std::printf("check: %zu texts, lamd http vs lamd shm: lowest cosine %.7f%s\n", texts.size(), shm_cos,
              http == shm ? " (bit-identical)" : "");
  ok = ok && shm_cos >= o.min_cosine;
  if (!o.peer.empty()) {
    if (!HttpEmbedOnce(o.peer, EmbeddingsRequest(auth, o.peer_model, texts), &peer, &error)) {
      std::fprintf(stderr, "lam-bench-http: %s: %s\n", o.peer_name.c_str(), error.c_str());
      return false;
    }
    const double peer_cos = lam::bench_http::MinCosine(http, peer);
    std::printf("check: %zu texts, lamd http vs %s: lowest cosine %.7f\n", texts.size(), o.peer_name.c_str(), peer_cos);
    ok = ok && peer_cos >= o.min_cosine;
  }
  if (!ok) std::fprintf(stderr, "lam-bench-http: embeddings differ (below --min-cosine %g): not timing\n", o.min_cosine);
  return ok;
}

enum class Kind { kHttp, kShm };
struct Target {
  std::string name;
  Kind kind;
  std::string where;
  std::string model;
};

// Texts request k of a client sends: its own slice of the pool, so no two requests are alike and
// every target gets the same texts in the same order.
std::vector<const std::string*> RequestTexts(const std::vector<std::string>& pool, int n, int client, uint64_t k) {
  std::vector<const std::string*> out;
  for (int t = 0; t < n; ++t) {
    out.push_back(&pool[(static_cast<uint64_t>(client) * 977 + k * static_cast<uint64_t>(n) + static_cast<uint64_t>(t)) %
                        pool.size()]);
  }
  return out;
}

Measurement Measure(const Target& t, int n, int c, int rep, const Options& o, const std::string& auth,
                    const std::vector<std::string>& pool) {
  Cell cell;
  if (t.kind == Kind::kHttp) {
    cell = RunCell(
        c, o,
        [&](int) {
          HttpState s;
          s.fd = Connect(t.where);
          return s;
        },
        [&](HttpState& s, int client) {
          if (s.fd < 0) s.fd = Connect(t.where);
          if (s.fd < 0) return false;
          if (!HttpCall(s.fd, EmbeddingsRequest(auth, t.model, RequestTexts(pool, n, client, s.k++)), &s.buf)) {
            ::close(s.fd);
            s.fd = -1;
            return false;
          }
          return true;
        },
        [](const HttpState& s) { return s.buf.empty() ? std::string("connection failed") : s.buf.substr(0, 300); });
  } else {
    cell = RunCell(
        c, o, [&](int) { return OpenShm(t.where, static_cast<size_t>(n) * 4096); },
        [&](ShmState& s, int client) {
          size_t count = 0;
          return ShmEmbed(&s, RequestTexts(pool, n, client, s.k++), &count);
        },
        [](const ShmState& s) { return std::string(s.client ? lam_client_last_error(s.client) : s.open_error); });
  }
  Measurement m;
  m.target = t.name;
  m.texts = n;
  m.conns = c;
  m.rep = rep;
  m.seconds = cell.seconds;
  m.requests = cell.requests;
  m.errors = cell.errors;
  m.p50_ms = lam::bench_http::Percentile(cell.latency_ms, 0.50);
  m.p99_ms = lam::bench_http::Percentile(cell.latency_ms, 0.99);
  if (cell.errors > 0) {
    std::fprintf(stderr, "lam-bench-http: %s, %d text(s) x %d: %llu errors, the first: %s\n", t.name.c_str(), n, c,
                 static_cast<unsigned long long>(cell.errors), cell.first_error.c_str());
  }
  return m;
}

std::string Range(const std::vector<double>& v) {
  if (v.empty()) return "-";
  char b[96];
  std::snprintf(b, sizeof(b), "%.2fx (%.2f-%.2f)", lam::bench_http::Median(v), *std::min_element(v.begin(), v.end()),
                *std::max_element(v.begin(), v.end()));
  return b;
}

void PrintSummary(const Options& o, const std::vector<Target>& targets, const std::vector<Measurement>& all) {
  using lam::bench_http::Median;
  std::printf("\nMedians over %d repetition(s):\n\n", o.reps);
  std::printf("| path | texts/request | connections | requests/s | texts/s | p50 ms | p99 ms |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (int n : o.texts) {
    for (int c : o.conns) {
      for (const Target& t : targets) {
        std::vector<double> rps, p50, p99;
        for (const Measurement& m : all) {
          if (m.target != t.name || m.texts != n || m.conns != c || m.requests == 0) continue;
          rps.push_back(m.rps());
          p50.push_back(m.p50_ms);
          p99.push_back(m.p99_ms);
        }
        std::printf("| %s | %d | %d | %.1f | %.1f | %.2f | %.2f |\n", t.name.c_str(), n, c, Median(rps),
                    Median(rps) * n, Median(p50), Median(p99));
      }
    }
  }
  std::printf("\nRatios, median (lowest-highest) of the per-repetition ratios (> 1: lamd http is better):\n\n");
  const bool peer = targets.size() > 2;
  const std::string& pn = peer ? targets[2].name : targets[1].name;
  if (peer) {
    std::printf("| texts/request | connections | requests/s http/%s | p50 %s/http | requests/s http/shm | p50 shm/http |\n",
                pn.c_str(), pn.c_str());
    std::printf("|---|---|---|---|---|---|\n");
  } else {
    std::printf("| texts/request | connections | requests/s http/shm | p50 shm/http |\n|---|---|---|---|\n");
  }
  for (int n : o.texts) {
    for (int c : o.conns) {
      const auto shm = lam::bench_http::CellRatios(all, "lamd http", "lamd shm", n, c);
      if (peer) {
        const auto r = lam::bench_http::CellRatios(all, "lamd http", pn, n, c);
        std::printf("| %d | %d | %s | %s | %s | %s |\n", n, c, Range(r.throughput).c_str(), Range(r.p50).c_str(),
                    Range(shm.throughput).c_str(), Range(shm.p50).c_str());
      } else {
        std::printf("| %d | %d | %s | %s |\n", n, c, Range(shm.throughput).c_str(), Range(shm.p50).c_str());
      }
    }
  }
  if (!peer) return;
  // Issue 13's targets: >= 2x the peer's throughput at 64 connections, a lower p50 at 1.
  std::printf("\n");
  for (int n : o.texts) {
    for (int c : o.conns) {
      const auto r = lam::bench_http::CellRatios(all, "lamd http", pn, n, c);
      if (c == 64 && !r.throughput.empty()) {
        std::printf("target %d text(s) x 64 connections, requests/s >= 2x %s: %.2fx, %s\n", n, pn.c_str(),
                    Median(r.throughput), Median(r.throughput) >= 2 ? "met" : "NOT met");
      }
      if (c == 1 && !r.p50.empty()) {
        std::printf("target %d text(s) x 1 connection, p50 below %s's: %.2fx, %s\n", n, pn.c_str(), Median(r.p50),
                    Median(r.p50) > 1 ? "met" : "NOT met");
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string error;
  if (!lam::bench_http::ParseArgs(argc, argv, &o, &error)) {
    std::fprintf(stderr, "lam-bench-http: %s\n%s", error.c_str(), lam::bench_http::UsageText());
    return 2;
  }
  std::string auth;
  if (!o.token_file.empty()) {
    std::ifstream f(o.token_file);
    std::string token;
    std::getline(f, token);
    auth = "Authorization: Bearer " + token + "\r\n";
  }
  std::vector<std::string> pool;
  if (!o.text_file.empty()) {
    std::ifstream f(o.text_file);
    for (std::string line; std::getline(f, line);) {
      if (!line.empty()) pool.push_back(line);
    }
    if (pool.empty()) {
      std::fprintf(stderr, "lam-bench-http: no texts in %s\n", o.text_file.c_str());
      return 2;
    }
  } else {
    pool = Sentences(4096, 7);
  }
  if (o.check_texts > 0 && !CheckSameEmbeddings(o, auth, pool)) return 1;

  std::vector<Target> targets = {{"lamd http", Kind::kHttp, o.http, ""}, {"lamd shm", Kind::kShm, o.socket_path, ""}};
  if (!o.peer.empty()) targets.push_back({o.peer_name, Kind::kHttp, o.peer, o.peer_model});
  // Interleaved: every repetition of a cell runs all targets back to back (in a rotated order),
  // so the ratios compare measurements taken minutes apart at most on a machine whose speed drifts.
  std::printf("\n| path | texts/request | connections | rep | window s | requests/s | texts/s | p50 ms | p99 ms | errors |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  std::vector<Measurement> all;
  for (int n : o.texts) {
    for (int c : o.conns) {
      for (int rep = 0; rep < o.reps; ++rep) {
        for (size_t i : lam::bench_http::RotatedOrder(targets.size(), rep)) {
          const Measurement m = Measure(targets[i], n, c, rep, o, auth, pool);
          std::printf("| %s | %d | %d | %d | %.1f | %.1f | %.1f | %.2f | %.2f | %llu |\n", m.target.c_str(), n, c, rep + 1,
                      m.seconds, m.rps(), m.rps() * n, m.p50_ms, m.p99_ms, static_cast<unsigned long long>(m.errors));
          std::fflush(stdout);
          all.push_back(m);
        }
      }
    }
  }
  PrintSummary(o, targets, all);
  return 0;
}
