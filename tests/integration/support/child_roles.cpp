// SPDX-License-Identifier: MIT
// Child roles of the integration tests. A test re-executes its own binary with
// LAM_ITEST_ROLE=<role>; this constructor runs before GoogleTest's main and exits.
//   worker SOCKET POOL SEED N   N requests of 1-3 pool sequences, every row checked bitwise;
//                               exit 0, 3 on a mismatch, 4 on an error status, 5 on setup.
//   victim SOCKET POOL SEED     like worker but for ever (the test SIGKILLs it); with
//                               SEED % 4 == 0 it connects and sleeps instead.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "integration/support/lamd_harness.h"
#include "integration/support/reference_pool.h"

namespace lam::itest {
namespace {

int RunClient(const char* socket, const char* pool_path, uint64_t seed, long n_requests) {
  ReferencePool pool;
  if (!pool.Load(pool_path)) return 5;
  lam_status st;
  lam_client* c = OpenClient(socket, &st);
  if (c == nullptr) {
    std::fprintf(stderr, "child: open: %d\n", st);
    return 5;
  }
  if (n_requests < 0 && seed % 4 == 0) {
    for (;;) ::pause();
  }
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 7;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  std::vector<float> out;
  for (long r = 0; n_requests < 0 || r < n_requests; ++r) {
    // Mostly single sequences (the engine runs at most 64 per batch), some ragged multi-sequence.
    const size_t k = next() % 8 == 0 ? 2 + next() % 3 : 1;
    std::vector<size_t> pick(k);
    std::vector<int32_t> ids;
    std::vector<uint32_t> lengths;
    for (size_t i = 0; i < k; ++i) {
      pick[i] = next() % pool.seqs.size();
      ids.insert(ids.end(), pool.seqs[pick[i]].begin(), pool.seqs[pick[i]].end());
      lengths.push_back(static_cast<uint32_t>(pool.seqs[pick[i]].size()));
    }
    lam_embed_tokens_request req = LAM_EMBED_TOKENS_REQUEST_INIT;
    req.token_ids = ids.data();
    req.lengths = lengths.data();
    req.n_sequences = k;
    req.timeout_ms = LAM_TIMEOUT_INFINITE;
    out.assign(k * pool.dim, 0.0f);
    const float* rows = out.data();
    lam_result res = LAM_RESULT_INIT;
    const int mode = static_cast<int>(r % 3);  // copy, zero-copy, async
    if (mode == 0) {
      size_t count = 0;
      st = Api().embed_tokens(c, &req, out.data(), out.size(), &count);
    } else if (mode == 1) {
      st = Api().embed_tokens_result(c, &req, &res);
      rows = res.data;
    } else {
      lam_ticket t = 0;
      st = Api().submit_tokens(c, &req, &t);
      size_t count = 0;
      if (st == LAM_STATUS_OK) st = Api().wait(c, t, LAM_TIMEOUT_INFINITE, out.data(), out.size(), &count);
    }
    if (st != LAM_STATUS_OK) {
      std::fprintf(stderr, "child %llu: request %ld: %s: %s\n", static_cast<unsigned long long>(seed), r,
                   Api().status_str(st), Api().client_last_error(c));
      return 4;
    }
    for (size_t i = 0; i < k; ++i) {
      if (std::memcmp(rows + i * pool.dim, pool.embeddings[pick[i]].data(), pool.dim * sizeof(float)) != 0) {
        std::fprintf(stderr, "child %llu: request %ld sequence %zu differs from the in-process engine\n",
                     static_cast<unsigned long long>(seed), r, i);
        return 3;
      }
    }
    if (mode == 1) Api().result_release(c, &res);
  }
  Api().client_close(c);
  return 0;
}

__attribute__((constructor)) void MaybeRunRole(int argc, char** argv) {
  const char* role = std::getenv("LAM_ITEST_ROLE");
  if (role == nullptr) return;
  int rc = 2;
  if (std::strcmp(role, "worker") == 0 && argc == 5) {
    rc = RunClient(argv[1], argv[2], std::strtoull(argv[3], nullptr, 10), std::strtol(argv[4], nullptr, 10));
  } else if (std::strcmp(role, "victim") == 0 && argc == 4) {
    rc = RunClient(argv[1], argv[2], std::strtoull(argv[3], nullptr, 10), -1);
  } else {
    std::fprintf(stderr, "unknown child role '%s' or wrong arguments\n", role);
  }
  std::fflush(stderr);
  _exit(rc);
}

}  // namespace
}  // namespace lam::itest
