// SPDX-License-Identifier: MIT
#include "server/config.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "common/cli.h"

#include "http/http_listen.h"

namespace lam::server {
namespace {

std::string Trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string NormaliseKey(std::string k) {
  std::replace(k.begin(), k.end(), '-', '_');
  return k;
}

Status BadValue(const std::string& key, const std::string& value, const char* what) {
  return Status(LAM_STATUS_INVALID_ARG, "config key '" + key + "': '" + value + "' is not " + what);
}

// Unsigned integer with optional K/M/G suffix (powers of 1024) and 0x / 0 prefixes.
bool ParseU64(const std::string& v, uint64_t* out) {
  if (v.empty() || v[0] == '-') return false;
  errno = 0;
  char* end = nullptr;
  unsigned long long x = std::strtoull(v.c_str(), &end, 0);
  if (errno != 0 || end == v.c_str()) return false;
  std::string suffix(end);
  uint64_t mult = 1;
  if (suffix == "K" || suffix == "k" || suffix == "KiB") {
    mult = 1ull << 10;
  } else if (suffix == "M" || suffix == "MiB") {
    mult = 1ull << 20;
  } else if (suffix == "G" || suffix == "GiB") {
    mult = 1ull << 30;
  } else if (!suffix.empty()) {
    return false;
  }
  if (x > UINT64_MAX / mult) return false;
  *out = x * mult;
  return true;
}

template <typename T>
Status SetUnsigned(T* field, const std::string& key, const std::string& value, uint64_t max) {
  uint64_t x = 0;
  if (!ParseU64(value, &x) || x > max) return BadValue(key, value, "a valid unsigned integer");
  *field = static_cast<T>(x);
  return Status::Ok();
}

Status SetBool(bool* field, const std::string& key, const std::string& value) {
  std::string v;
  for (char ch : value) v += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (v == "true" || v == "yes" || v == "on" || v == "1") {
    *field = true;
  } else if (v == "false" || v == "no" || v == "off" || v == "0") {
    *field = false;
  } else {
    return BadValue(key, value, "true or false");
  }
  return Status::Ok();
}

Status SetList(std::vector<uint32_t>* field, const std::string& key, const std::string& value) {
  field->clear();
  std::stringstream ss(value);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = Trim(item);
    if (item.empty()) continue;
    uint64_t x = 0;
    if (!ParseU64(item, &x) || x > UINT32_MAX) return BadValue(key, value, "a comma list of unsigned integers");
    field->push_back(static_cast<uint32_t>(x));
  }
  return Status::Ok();
}

}  // namespace

const std::vector<std::string>& ConfigKeys() {
  static const std::vector<std::string> kKeys = {
      "model", "socket", "config", "backend", "precision", "log_level", "threads", "device", "cache_dir", "cache_max_bytes",
      "arch", "max_delay_us", "dispatch_lone_requests", "token_budget", "max_batch_sequences",
      "max_queued_sequences", "buckets", "arena_bytes", "max_arena_bytes", "arena_budget_per_uid",
      "arena_budget_total", "ring_entries", "polling_us", "idle_spin_us", "max_clients",
      "max_sequences_per_request", "allow_group", "allow_uids", "socket_mode", "admin_uids",
      "max_sessions_per_uid", "max_pending_connections", "max_pending_per_uid", "hello_timeout_ms", "http",
      "http_token_file", "http_max_connections", "http_max_inflight", "http_max_header_bytes",
      "http_max_body_bytes", "http_request_timeout_ms", "http_idle_timeout_ms", "http_deadline_ms",
      "http_socket_mode", "shutdown_timeout_ms"};
  return kKeys;
}

Status ApplyConfigKey(Config* c, const std::string& raw_key, const std::string& value) {
  const std::string key = NormaliseKey(raw_key);
  const auto& keys = ConfigKeys();
  if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
    return Status(LAM_STATUS_INVALID_ARG, "unknown config key '" + raw_key + "'");
  }
  if (key == "model") { c->model = value; return Status::Ok(); }
  if (key == "socket") { c->socket = value; return Status::Ok(); }
  if (key == "config") { c->config_file = value; return Status::Ok(); }
  if (key == "backend") {
    if (value != "auto" && value != "cpu" && value != "cuda") return BadValue(key, value, "auto, cpu or cuda");
    c->backend = value;
    return Status::Ok();
  }
  if (key == "precision") {
    if (value != "fp32" && value != "bf16" && value != "tf32" && value != "auto") {
      return BadValue(key, value, "fp32, bf16, tf32 or auto");
    }
    c->precision = value;
    return Status::Ok();
  }
  if (key == "log_level") {
    static const char* kLevels[] = {"off", "fatal", "error", "warning", "info", "debug", "trace"};
    for (const char* l : kLevels) {
      if (value == l) {
        c->log_level = value;
        return Status::Ok();
      }
    }
    return BadValue(key, value, "one of off|fatal|error|warning|info|debug|trace");
  }
  if (key == "threads") return SetUnsigned(&c->threads, key, value, 4096);
  if (key == "device") return SetUnsigned(&c->device, key, value, 1024);
  if (key == "cache_dir") { c->cache_dir = value; return Status::Ok(); }
  if (key == "cache_max_bytes") return SetUnsigned(&c->cache_max_bytes, key, value, 1ull << 44);
  if (key == "arch") {
    if (value.rfind("sm_", 0) != 0 || value.size() < 5) return BadValue(key, value, "a GPU architecture such as sm_90");
    c->arch = value;
    return Status::Ok();
  }
  if (key == "max_delay_us") return SetUnsigned(&c->max_delay_us, key, value, 60'000'000);
  if (key == "dispatch_lone_requests") return SetBool(&c->dispatch_lone_requests, key, value);
  if (key == "token_budget") return SetUnsigned(&c->token_budget, key, value, 1u << 24);
  if (key == "max_batch_sequences") return SetUnsigned(&c->max_batch_sequences, key, value, 1u << 16);
  if (key == "max_queued_sequences") return SetUnsigned(&c->max_queued_sequences, key, value, 1u << 24);
  if (key == "buckets") return SetList(&c->buckets, key, value);
  if (key == "arena_bytes") return SetUnsigned(&c->arena_bytes, key, value, 1ull << 36);
  if (key == "max_arena_bytes") return SetUnsigned(&c->max_arena_bytes, key, value, 1ull << 36);
  if (key == "arena_budget_per_uid") return SetUnsigned(&c->arena_budget_per_uid, key, value, 1ull << 44);
  if (key == "arena_budget_total") return SetUnsigned(&c->arena_budget_total, key, value, 1ull << 44);
  if (key == "ring_entries") {
    LAM_RETURN_IF_ERROR(SetUnsigned(&c->ring_entries, key, value, 1u << 16));
    if (c->ring_entries < 2 || (c->ring_entries & (c->ring_entries - 1)) != 0) {
      return BadValue(key, value, "a power of two >= 2");
    }
    return Status::Ok();
  }
  if (key == "polling_us") return SetUnsigned(&c->polling_us, key, value, 10'000'000);
  if (key == "idle_spin_us") return SetUnsigned(&c->idle_spin_us, key, value, 1'000'000);
  if (key == "max_clients") return SetUnsigned(&c->max_clients, key, value, 1u << 20);
  if (key == "max_sequences_per_request") return SetUnsigned(&c->max_sequences_per_request, key, value, 1u << 24);
  if (key == "allow_group") { c->allow_group = value; return Status::Ok(); }
  if (key == "allow_uids") return SetList(&c->allow_uids, key, value);
  if (key == "socket_mode") {
    char* end = nullptr;
    const unsigned long m = std::strtoul(value.c_str(), &end, 8);
    if (value.empty() || *end != '\0' || m > 0777) return BadValue(key, value, "an octal mode such as 0660");
    c->socket_mode = static_cast<uint32_t>(m);
    return Status::Ok();
  }
  if (key == "admin_uids") return SetList(&c->admin_uids, key, value);
  if (key == "max_sessions_per_uid") return SetUnsigned(&c->max_sessions_per_uid, key, value, 1u << 20);
  if (key == "max_pending_connections") {
    LAM_RETURN_IF_ERROR(SetUnsigned(&c->max_pending_connections, key, value, 1u << 20));
    if (c->max_pending_connections == 0) return BadValue(key, value, "at least 1");
    return Status::Ok();
  }
  if (key == "max_pending_per_uid") {
    LAM_RETURN_IF_ERROR(SetUnsigned(&c->max_pending_per_uid, key, value, 1u << 20));
    if (c->max_pending_per_uid == 0) return BadValue(key, value, "at least 1");
    return Status::Ok();
  }
  if (key == "hello_timeout_ms") {
    LAM_RETURN_IF_ERROR(SetUnsigned(&c->hello_timeout_ms, key, value, 3'600'000));
    if (c->hello_timeout_ms == 0) return BadValue(key, value, "at least 1 ms");
    return Status::Ok();
  }
  if (key == "http") {
    // Repeatable and a comma list; an empty value clears what came before (e.g. the config file's).
    if (Trim(value).empty()) {
      c->http.clear();
      return Status::Ok();
    }
    std::stringstream ss(value);
    std::string item;
    while (std::getline(ss, item, ',')) {
      item = Trim(item);
      if (item.empty()) continue;
      auto listen = http::ParseListen(item);
      if (!listen.ok()) return Status(LAM_STATUS_INVALID_ARG, "config key '" + key + "': " + listen.status().message());
      c->http.push_back(item);
    }
    return Status::Ok();
  }
  if (key == "http_token_file") { c->http_token_file = value; return Status::Ok(); }
  if (key == "http_max_connections") {
    LAM_RETURN_IF_ERROR(SetUnsigned(&c->http_max_connections, key, value, 1u << 20));
    if (c->http_max_connections == 0) return BadValue(key, value, "at least 1");
    return Status::Ok();
  }
  if (key == "http_max_inflight") {
    LAM_RETURN_IF_ERROR(SetUnsigned(&c->http_max_inflight, key, value, 1u << 20));
    if (c->http_max_inflight == 0) return BadValue(key, value, "at least 1");
    return Status::Ok();
  }
  if (key == "http_max_header_bytes") {
    LAM_RETURN_IF_ERROR(SetUnsigned(&c->http_max_header_bytes, key, value, 1u << 20));
    if (c->http_max_header_bytes < 256) return BadValue(key, value, "at least 256");
    return Status::Ok();
  }
  if (key == "http_max_body_bytes") return SetUnsigned(&c->http_max_body_bytes, key, value, 1ull << 32);
  if (key == "http_request_timeout_ms") {
    LAM_RETURN_IF_ERROR(SetUnsigned(&c->http_request_timeout_ms, key, value, 3'600'000));
    if (c->http_request_timeout_ms == 0) return BadValue(key, value, "at least 1 ms");
    return Status::Ok();
  }
  if (key == "http_idle_timeout_ms") {
    LAM_RETURN_IF_ERROR(SetUnsigned(&c->http_idle_timeout_ms, key, value, 86'400'000));
    if (c->http_idle_timeout_ms == 0) return BadValue(key, value, "at least 1 ms");
    return Status::Ok();
  }
  if (key == "http_deadline_ms") return SetUnsigned(&c->http_deadline_ms, key, value, 86'400'000);
  if (key == "http_socket_mode") {
    char* end = nullptr;
    const unsigned long m = std::strtoul(value.c_str(), &end, 8);
    if (value.empty() || *end != '\0' || m > 0777) return BadValue(key, value, "an octal mode such as 0660");
    c->http_socket_mode = static_cast<uint32_t>(m);
    return Status::Ok();
  }
  if (key == "shutdown_timeout_ms") return SetUnsigned(&c->shutdown_timeout_ms, key, value, 86'400'000);
  // A key of ConfigKeys() that no branch above applies: a bug of this file (see the unit test).
  return Status(LAM_STATUS_INTERNAL, "config key '" + key + "' is listed but not applied");
}

uint32_t SessionsPerUid(const Config& c) {
  if (c.max_sessions_per_uid != 0) return c.max_sessions_per_uid;
  return std::max<uint32_t>(1, c.max_clients / 4);
}

Status LoadConfigFile(Config* config, const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status(LAM_STATUS_IO_ERROR, "cannot open config file " + path);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    const auto hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    line = Trim(line);
    if (line.empty()) continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) {
      return Status(LAM_STATUS_INVALID_ARG,
                    path + ":" + std::to_string(lineno) + ": expected 'key = value'");
    }
    const std::string key = Trim(line.substr(0, eq));
    if (NormaliseKey(key) == "config") {
      return Status(LAM_STATUS_INVALID_ARG, path + ":" + std::to_string(lineno) + ": 'config' cannot be nested");
    }
    Status st = ApplyConfigKey(config, key, Trim(line.substr(eq + 1)));
    if (!st.ok()) return Status(st.code(), path + ":" + std::to_string(lineno) + ": " + st.message());
  }
  return Status::Ok();
}

Status ParseCommandLine(Config* config, int argc, char** argv, CommandLine* command_line) {
  *command_line = CommandLine{};
  CLI::App app("lamd", "lamd");
  app.set_help_flag();  // --help prints UsageText(), the reference the man page follows
  app.allow_extras();   // reported below as "--name: unknown option"
  app.add_flag("-h,--help", command_line->help);
  app.add_flag("--version", command_line->version);
  app.add_flag("--precompile", command_line->precompile);
  std::vector<std::pair<std::string, CLI::Option*>> options;
  for (const std::string& key : ConfigKeys()) {
    std::string dashed = key;
    std::replace(dashed.begin(), dashed.end(), '_', '-');
    std::string names = "--" + dashed;
    if (dashed != key) names += ",--" + key;
    options.emplace_back(key, app.add_option(names)->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll));
  }
  try {
    cli::Parse(app, cli::Arguments(argc, argv));
  } catch (const CLI::ParseError& e) {
    return Status(LAM_STATUS_INVALID_ARG, cli::Describe(e));
  }
  if (command_line->help || command_line->version) return Status::Ok();
  if (const std::string bad = cli::Leftover(app.remaining()); !bad.empty()) return Status(LAM_STATUS_INVALID_ARG, bad);
  for (const auto& [key, opt] : options) {
    if (key != "config") continue;
    for (const std::string& path : opt->results()) {
      config->config_file = path;
      LAM_RETURN_IF_ERROR(LoadConfigFile(config, path));
    }
  }
  // parse_order() lists an option once per occurrence; results() holds its values in that order.
  std::unordered_map<const CLI::Option*, size_t> used;
  std::unordered_map<const CLI::Option*, const std::string*> key_of;
  for (const auto& [key, opt] : options) key_of[opt] = &key;
  for (const CLI::Option* opt : app.parse_order()) {
    const auto k = key_of.find(opt);
    if (k == key_of.end() || *k->second == "config") continue;
    const size_t i = used[opt]++;
    if (i >= opt->results().size()) continue;
    Status st = ApplyConfigKey(config, *k->second, opt->results()[i]);
    if (!st.ok()) return Status(st.code(), opt->get_name() + ": " + st.message());
  }
  return Status::Ok();
}

std::string UsageText() {
  return R"(usage: lamd --model DIR [--socket PATH] [--backend auto|cpu|cuda] [--config FILE] [flags]

Serves LAM sentence embeddings to local processes over shared memory.
Every flag is also a config-file key (same name, dashes or underscores): key = value.

  --model DIR                  model directory (config.json, model.safetensors, vocab.txt)
  --socket PATH                control socket (default /run/lamd/lamd.sock; env LAMD_SOCKET)
  --backend auto|cpu|cuda      compute backend (default auto)
  --config FILE                config file read before the flags
  --log-level LEVEL            off|fatal|error|warning|info|debug|trace (default info)
  --threads N                  CPU backend threads, 0 = all cores
  --precision fp32|bf16|tf32|auto
                               GEMM precision (default fp32: bit-exact). bf16: projections and FFN
                               in bf16 with fp32 accumulation, on CPUs with AVX512_BF16 or AMX
                               (refused elsewhere, and by the cuda backend); tf32: the cuda
                               backend's projections on tensor cores (TF32 inputs, fp32
                               accumulation; refused on the CPU); auto: bf16 where the CPU backend
                               runs it natively, else fp32
  --device N                   CUDA device ordinal for --backend cuda|auto (default 0)
  --cache-dir DIR              persistent executable cache (default /var/cache/lamd; none = off)
  --cache-max-bytes N          size cap of the cache directory (default 2 GiB)
  --precompile                 offline: fill --cache-dir with the CUDA kernel image lamd loads
                               for --arch (default sm_90; no GPU needed), print times, exit
  --arch sm_XX                 GPU architecture for --precompile
  --max-delay-us N             longest a sequence waits for batch mates (default 1000)
  --dispatch-lone-requests B   true: a request reaching an idle daemon after max-delay-us without
                               other arrivals runs at once instead of waiting (default true)
  --token-budget N             tokens per batch (default 8192)
  --max-batch-sequences N      sequences per batch (default 64)
  --max-queued-sequences N     queue bound across clients; beyond: OVERLOADED (default 16384)
  --buckets L1,L2,...          length classes (default 16,32,... up to the model maximum)
  --arena-bytes N[K|M|G]       default per-client payload arena (default 16M)
  --max-arena-bytes N[K|M|G]   largest arena a client may ask for (default 64M)
  --arena-budget-per-uid N[K|M|G]  shared memory (segments) all sessions of one uid may hold;
                               beyond: hello refused with OVERLOADED (default 2G)
  --arena-budget-total N[K|M|G]  the same for all clients together (default 0 = RAM / 4)
  --ring-entries N             submission/completion ring slots, power of two (default 256)
  --polling-us N               polling mode: spin on the rings N us after activity (default 0 = off)
  --idle-spin-us N             while the engine is idle, keep watching the rings N us after a
                               submission before sleeping (default 50; 0 = always sleep)
  --max-clients N              concurrent connections past hello (default 4096; root's and
                               lamd's own status/cache connections do not count)
  --max-sessions-per-uid N     the same per uid: beyond it OVERLOADED (default 0 = a quarter of
                               --max-clients)
  --max-pending-connections N  connections still waiting for hello, all uids; beyond it a new
                               connection is refused at once with OVERLOADED (default 256)
  --max-pending-per-uid N      the same per uid (default 64)
  --hello-timeout-ms N         a connection that has not said hello after N ms is closed (default 5000)
  --max-sequences-per-request N  (default 65536)
  --allow-group NAME           group whose members may connect (default lam)
  --allow-uids U1,U2           extra uids that may connect (root and lamd's own uid always may)
  --admin-uids U1,U2           uids that may run 'cache warm|clear' and see every client in status
                               (root and lamd's own uid always may)
  --socket-mode OCTAL          permissions of the socket (default 0660)
  --shutdown-timeout-ms N      SIGTERM: longest wait for in-flight work (default 30000)

HTTP face (off by default; OpenAI POST /v1/embeddings, TEI POST /embed and GET /info,
GET /health, /ready, /metrics):
  --http LISTEN[,LISTEN]       listen on a loopback TCP address (127.0.0.1:8080, [::1]:8080,
                               localhost:8080) and/or a Unix socket path; repeatable
  --http-token-file PATH       every HTTP request must send 'Authorization: Bearer <token>'; the
                               file must not be readable by group or others
  --http-max-connections N     open HTTP connections; beyond: 503 and close (default 256)
  --http-max-inflight N        HTTP embedding requests being computed; beyond: 429 (default 256)
  --http-max-header-bytes N    request line + headers; beyond: 431 (default 16K)
  --http-max-body-bytes N      request body; beyond: 413 (default 4M)
  --http-request-timeout-ms N  a request must arrive whole within N ms, else 408 (default 10000)
  --http-idle-timeout-ms N     an idle keep-alive connection is closed after N ms (default 60000)
  --http-deadline-ms N         an embedding not computed after N ms: 504 (default 60000; 0 = none)
  --http-socket-mode OCTAL     permissions of HTTP Unix sockets (default 0660)
  --version, --help
)";
}

}  // namespace lam::server
