// SPDX-License-Identifier: MIT
// lam-bench-http: lamd's HTTP face against its own shared-memory path, and against any other
// OpenAI-compatible embedding server (--peer), with the same texts and the same load shapes.
// For each request size (--texts, texts per request) and connection count (--conns) it keeps
// that many clients busy for --seconds (after --warmup seconds that are not measured), each
// client sending its next request as soon as the previous answer is in:
//   http   one keep-alive connection per client, POST /v1/embeddings (OpenAI JSON, floats)
//   shm    one liblamclient handle per client, lam_client_embed_text (--socket)
//   peer   like http, against --peer HOST:PORT (e.g. a sentence-transformers server)
// and prints requests/s, texts/s and the p50/p99 latency per cell as a Markdown table.
//   lam-bench-http --socket CTRL --http unix:/path|127.0.0.1:PORT [--peer 127.0.0.1:PORT]
//                  [--texts 1,32] [--conns 1,16,64] [--seconds 5] [--warmup 1] [--token-file F]
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

namespace {

using Clock = std::chrono::steady_clock;

std::vector<int> ParseList(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(std::atoi(item.c_str()));
  }
  return out;
}

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

struct Cell {
  uint64_t requests = 0;
  uint64_t errors = 0;
  double seconds = 0;
  std::vector<double> latency_ms;
};

double Pct(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

// Runs `conns` clients for warmup + seconds; `call(client, texts)` makes one request.
template <typename Setup, typename Call>
Cell RunCell(int conns, double warmup, double seconds, Setup setup, Call call) {
  std::atomic<bool> measuring{false}, stop{false};
  std::vector<Cell> per(static_cast<size_t>(conns));
  std::vector<std::thread> threads;
  for (int i = 0; i < conns; ++i) {
    threads.emplace_back([&, i] {
      auto state = setup(i);
      Cell& c = per[static_cast<size_t>(i)];
      while (!stop.load()) {
        const auto t0 = Clock::now();
        const bool ok = call(state, i);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (!measuring.load()) continue;
        if (!ok) {
          ++c.errors;
          continue;
        }
        ++c.requests;
        c.latency_ms.push_back(ms);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(warmup));
  measuring = true;
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  measuring = false;
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  stop = true;
  for (auto& t : threads) t.join();
  Cell all;
  all.seconds = elapsed;
  for (auto& c : per) {
    all.requests += c.requests;
    all.errors += c.errors;
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
  ShmState() = default;
  ShmState(ShmState&& o) noexcept : client(std::exchange(o.client, nullptr)), k(o.k), out(std::move(o.out)) {}
  ShmState(const ShmState&) = delete;
  ~ShmState() { lam_client_close(client); }
};

int Usage() {
  std::fprintf(stderr,
               "usage: lam-bench-http --socket CTRL --http unix:/path|127.0.0.1:PORT [--peer HOST:PORT]\n"
               "                      [--peer-model NAME] [--texts 1,32] [--conns 1,16,64] [--seconds 5]\n"
               "                      [--warmup 1] [--token-file FILE]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path, http, peer, token_file, peer_model = "all-MiniLM-L6-v2";
  std::vector<int> texts = {1, 32}, conns = {1, 16, 64};
  double seconds = 5, warmup = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return Usage();
    const std::string v = argv[++i];
    if (a == "--socket") {
      socket_path = v;
    } else if (a == "--http") {
      http = v;
    } else if (a == "--peer") {
      peer = v;
    } else if (a == "--peer-model") {
      peer_model = v;
    } else if (a == "--token-file") {
      token_file = v;
    } else if (a == "--texts") {
      texts = ParseList(v);
    } else if (a == "--conns") {
      conns = ParseList(v);
    } else if (a == "--seconds") {
      seconds = std::atof(v.c_str());
    } else if (a == "--warmup") {
      warmup = std::atof(v.c_str());
    } else {
      return Usage();
    }
  }
  if (socket_path.empty() || http.empty()) return Usage();
  std::string auth;
  if (!token_file.empty()) {
    std::ifstream f(token_file);
    std::string token;
    std::getline(f, token);
    auth = "Authorization: Bearer " + token + "\r\n";
  }
  const std::vector<std::string> pool = Sentences(4096, 7);

  std::printf("| path | texts/request | connections | requests/s | texts/s | p50 ms | p99 ms | errors |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (int n : texts) {
    // Each client cycles through its own slice of the pool, so no two requests are alike.
    auto body_for = [&](int client, uint64_t k, const std::string& model) {
      nlohmann::json in = nlohmann::json::array();
      for (int t = 0; t < n; ++t) in.push_back(pool[(static_cast<uint64_t>(client) * 977 + k * n + t) % pool.size()]);
      return nlohmann::json({{"model", model}, {"input", in}, {"encoding_format", "float"}}).dump();
    };
    for (int c : conns) {
      struct Target {
        const char* name;
        std::string where;
        std::string model;
      };
      std::vector<Target> targets = {{"lamd http", http, ""}};
      if (!peer.empty()) targets.push_back({"peer http", peer, peer_model});
      for (const Target& t : targets) {
        Cell cell = RunCell(
            c, warmup, seconds,
            [&](int) {
              HttpState s;
              s.fd = Connect(t.where);
              return s;
            },
            [&](HttpState& s, int client) {
              if (s.fd < 0) s.fd = Connect(t.where);
              if (s.fd < 0) return false;
              const std::string body = body_for(client, s.k++, t.model);
              const std::string req = "POST /v1/embeddings HTTP/1.1\r\nHost: bench\r\n" + auth +
                                      "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                                      "\r\n\r\n" + body;
              if (!HttpCall(s.fd, req, &s.buf)) {
                ::close(s.fd);
                s.fd = -1;
                return false;
              }
              return true;
            });
        std::printf("| %s | %d | %d | %.1f | %.1f | %.2f | %.2f | %llu |\n", t.name, n, c,
                    static_cast<double>(cell.requests) / cell.seconds,
                    static_cast<double>(cell.requests) * n / cell.seconds, Pct(cell.latency_ms, 0.50),
                    Pct(cell.latency_ms, 0.99), static_cast<unsigned long long>(cell.errors));
        std::fflush(stdout);
      }
      Cell cell = RunCell(
          c, warmup, seconds,
          [&](int) {
            ShmState s;
            lam_client_options o = LAM_CLIENT_OPTIONS_INIT;
            o.socket_path = socket_path.c_str();
            if (lam_client_open(&o, &s.client) != LAM_STATUS_OK) {
              lam_client_close(s.client);
              s.client = nullptr;
            }
            s.out.resize(static_cast<size_t>(n) * 384);
            return s;
          },
          [&](ShmState& s, int client) {
            if (s.client == nullptr) return false;
            std::vector<const char*> ptrs;
            std::vector<size_t> lengths;
            for (int t = 0; t < n; ++t) {
              const std::string& x = pool[(static_cast<uint64_t>(client) * 977 + s.k * n + t) % pool.size()];
              ptrs.push_back(x.data());
              lengths.push_back(x.size());
            }
            ++s.k;
            lam_embed_text_request r = LAM_EMBED_TEXT_REQUEST_INIT;
            r.texts = ptrs.data();
            r.lengths = lengths.data();
            r.n_texts = static_cast<size_t>(n);
            size_t count = 0;
            return lam_client_embed_text(s.client, &r, s.out.data(), s.out.size(), &count) == LAM_STATUS_OK;
          });
      std::printf("| lamd shm | %d | %d | %.1f | %.1f | %.2f | %.2f | %llu |\n", n, c,
                  static_cast<double>(cell.requests) / cell.seconds, static_cast<double>(cell.requests) * n / cell.seconds,
                  Pct(cell.latency_ms, 0.50), Pct(cell.latency_ms, 0.99), static_cast<unsigned long long>(cell.errors));
      std::fflush(stdout);
    }
  }
  return 0;
}
