// SPDX-License-Identifier: MIT
// lamd configuration: built-in defaults, then the config file (`key = value`, `#` comments),
// then command-line flags (`--key value` or `--key=value`, dashes or underscores; parsed with
// CLI11 like lamctl's). Every key of the file is also a flag and vice versa (ConfigKeys).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace lam::server {

struct Config {
  std::string model;                       // model directory (required)
  std::string socket = "/run/lamd/lamd.sock";
  std::string backend = "auto";            // auto | cpu | cuda
  std::string config_file;                 // --config
  std::string log_level = "info";          // off|fatal|error|warning|info|debug|trace
  int threads = 0;                         // CPU backend threads; 0 = all cores
  std::string precision = "fp32";          // fp32 | bf16 | auto (engine.h EngineOptions::precision)
  int device = 0;                          // CUDA device ordinal (backend cuda or auto)
  // Executable cache.
  std::string cache_dir = "/var/cache/lamd";  // persistent executables ("" or "none": memory only)
  uint64_t cache_max_bytes = 2ull << 30;   // size cap of the cache directory
  std::string arch = "sm_90";              // GPU architecture for --precompile
  // Scheduler.
  int64_t max_delay_us = 1000;
  bool dispatch_lone_requests = true;      // see scheduler.h
  uint32_t token_budget = 8192;
  uint32_t max_batch_sequences = 64;
  uint32_t max_queued_sequences = 16384;
  std::vector<uint32_t> buckets;           // empty = 16, 32, ... up to the model maximum
  // Data plane.
  uint64_t arena_bytes = 16ull << 20;      // default arena per client
  uint64_t max_arena_bytes = 64ull << 20;  // cap on what a client may ask for (arena_budget.h)
  uint64_t arena_budget_per_uid = 2ull << 30;  // segment bytes of one uid's live sessions
  uint64_t arena_budget_total = 0;         // segment bytes of all live sessions; 0 = RAM / 4
  uint32_t ring_entries = 256;             // slots per ring (power of two)
  uint32_t polling_us = 0;                 // polling mode: spin this long after activity; 0 = off
  uint32_t idle_spin_us = 50;              // while the engine is idle: spin this long after a submission
  uint32_t max_clients = 4096;
  uint32_t max_sequences_per_request = 65536;
  // Access.
  std::string allow_group = "lam";         // members may connect (besides root and our uid)
  std::vector<uint32_t> allow_uids;        // extra uids allowed
  uint32_t socket_mode = 0660;
  // Per-user limits on the control socket (DESIGN.md invariant 8).
  std::vector<uint32_t> admin_uids;        // may run `cache warm|clear` and see every client (besides root, our uid)
  uint32_t max_sessions_per_uid = 0;       // connections past hello per uid; 0 = a quarter of max_clients
  uint32_t max_pending_connections = 256;  // connections still waiting for hello, all uids
  uint32_t max_pending_per_uid = 64;       // the same, per uid
  uint32_t hello_timeout_ms = 5000;        // a connection without hello after this is closed
  // HTTP face (http/http_server.h): off unless `http` names a listener.
  std::vector<std::string> http;           // loopback TCP (127.0.0.1:8080, [::1]:8080) or a Unix socket path
  std::string http_token_file;             // bearer token every HTTP request must carry ("" = none)
  uint32_t http_max_connections = 256;     // open HTTP connections; beyond: 503 and close
  uint32_t http_max_inflight = 256;        // embedding requests being computed; beyond: 429
  uint32_t http_max_header_bytes = 16 << 10;  // request line + headers; beyond: 431
  uint64_t http_max_body_bytes = 4ull << 20;  // beyond: 413
  uint32_t http_request_timeout_ms = 10000;   // a request must arrive whole within this; else 408
  uint32_t http_idle_timeout_ms = 60000;      // an idle keep-alive connection is closed after this
  uint32_t http_deadline_ms = 60000;          // an embedding not computed by then: 504
  uint32_t http_socket_mode = 0660;           // permissions of HTTP Unix sockets
  // Lifecycle.
  uint32_t shutdown_timeout_ms = 30000;    // SIGTERM: longest wait for in-flight work
};

// Every config key, underscore-spelled: the file's keys and, with dashes, lamd's flags.
const std::vector<std::string>& ConfigKeys();

// What lamd's command line asks for besides settings.
struct CommandLine {
  bool help = false;        // -h, --help
  bool version = false;     // --version
  bool precompile = false;  // --precompile: fill the cache directory offline, then exit
};

// max_sessions_per_uid with its default (0) resolved: a quarter of max_clients, at least 1.
uint32_t SessionsPerUid(const Config& config);

// Applies one `key`/`value` pair (key with dashes or underscores). INVALID_ARG names the key.
Status ApplyConfigKey(Config* config, const std::string& key, const std::string& value);

// Reads a config file into `config`. Errors name the file and line.
Status LoadConfigFile(Config* config, const std::string& path);

// Parses argv: loads every --config file first, then applies the flags over it in command-line
// order (a repeated flag: the last wins; `--http` adds). INVALID_ARG names the flag
// ("--ring-entries: config key 'ring_entries': '100' is not a power of two >= 2",
// "--bogus: unknown option"). With --help or --version nothing else is applied.
Status ParseCommandLine(Config* config, int argc, char** argv, CommandLine* command_line);

// The flag reference printed by --help.
std::string UsageText();

}  // namespace lam::server
