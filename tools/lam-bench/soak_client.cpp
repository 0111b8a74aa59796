// SPDX-License-Identifier: MIT
// lam-bench-soak-client: one client process of `lam-bench soak` (liblamclient only, no engine).
//   lam-bench-soak-client SOCKET ROLE SEED POOL_SEED N_TOKENS N_TINY N_TEXTS MAX_LEN VOCAB MAX_SEQS THINK_MS
// ROLE: worker (random batches of random pool entries, tokens or texts, through every call
// style, pausing 0-2 x THINK_MS between calls), flood (tiny one-sequence requests back to back, 8 in flight) or light (one tiny request
// every 50 ms, for latency). After every call it writes a RecordHeader (soak_common.h), the pool
// indices and, on success, the rows it got to stdout (a pipe to lam-bench), which checks them.
// It runs until killed; it exits 3 if it cannot create a handle or write to the pipe.
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "lam/lam.h"
#include "soak_common.h"

namespace {

using namespace lam::bench::soak;

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void SleepMs(int ms) {
  timespec ts{ms / 1000, static_cast<long>(ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

void WriteAll(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(1, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) std::_Exit(3);  // lam-bench is gone
    p += w;
    n -= static_cast<size_t>(w);
  }
}

struct Call {
  uint8_t kind = kKindTokens;
  uint8_t mode = kModeSubmitWait;
  std::vector<uint32_t> idx;
  // Token requests.
  std::vector<int32_t> ids;
  std::vector<uint32_t> lengths;
  // Text requests.
  std::vector<std::string> texts;
  std::vector<const char*> ptrs;
  std::vector<size_t> text_lengths;
  lam_embed_tokens_request treq = LAM_EMBED_TOKENS_REQUEST_INIT;
  lam_embed_text_request xreq = LAM_EMBED_TEXT_REQUEST_INIT;
  lam_ticket ticket = 0;
  int64_t t0 = 0;

  void Build(const PoolSpec& pool, uint8_t k, std::vector<uint32_t> indices, uint32_t timeout_ms) {
    kind = k;
    idx = std::move(indices);
    ids.clear();
    lengths.clear();
    texts.clear();
    ptrs.clear();
    text_lengths.clear();
    if (kind == kKindTokens) {
      for (uint32_t i : idx) {
        const std::vector<int32_t> s = PoolSequence(pool, i);
        ids.insert(ids.end(), s.begin(), s.end());
        lengths.push_back(static_cast<uint32_t>(s.size()));
      }
      treq = LAM_EMBED_TOKENS_REQUEST_INIT;
      treq.token_ids = ids.data();
      treq.lengths = lengths.data();
      treq.n_sequences = lengths.size();
      treq.timeout_ms = timeout_ms;
    } else {
      for (uint32_t i : idx) texts.push_back(PoolText(pool, i));
      for (const auto& t : texts) {
        ptrs.push_back(t.data());
        text_lengths.push_back(t.size());
      }
      xreq = LAM_EMBED_TEXT_REQUEST_INIT;
      xreq.texts = ptrs.data();
      xreq.lengths = text_lengths.data();
      xreq.n_texts = texts.size();
      xreq.timeout_ms = timeout_ms;
    }
  }
};

class SoakClient {
 public:
  SoakClient(const char* socket, uint8_t role, uint64_t seed, PoolSpec pool, uint32_t max_seqs, uint32_t think_ms)
      : socket_(socket),
        role_(role),
        rng_(seed),
        pool_(pool),
        max_seqs_(max_seqs < 1 ? 1 : max_seqs),
        think_ms_(think_ms) {}

  void Open() {
    lam_client_options o = LAM_CLIENT_OPTIONS_INIT;
    o.socket_path = socket_;
    o.timeout_ms = kWaitMs;
    // On failure other than INVALID_ARG the handle exists and reconnects on the next call
    // (lamd may be restarting right now).
    const lam_status st = lam_client_open(&o, &client_);
    if (client_ == nullptr) {
      std::fprintf(stderr, "lam-bench-soak-client: lam_client_open: status %d\n", static_cast<int>(st));
      std::_Exit(3);
    }
    dim_ = 0;
  }

  void Run() {
    Open();
    uint32_t reopen_after = rng_.Range(50, 400);
    for (uint64_t n = 1;; ++n) {
      lam_status st = LAM_STATUS_OK;
      if (role_ == kRoleFlood) {
        st = Flood();
      } else if (role_ == kRoleLight) {
        st = One(kKindTokens, {rng_.Range(0, pool_.n_tiny - 1)}, kModeSubmitWait);
        SleepMs(50);
      } else {
        st = Worker();
        if (think_ms_ > 0) SleepMs(static_cast<int>(rng_.Range(0, 2 * think_ms_)));
      }
      if (st == LAM_STATUS_DAEMON_UNAVAILABLE) SleepMs(static_cast<int>(rng_.Range(20, 60)));
      if (st == LAM_STATUS_OVERLOADED) SleepMs(5);
      // Workers also churn sessions: a clean close and a new handle now and then.
      if (role_ == kRoleWorker && n % reopen_after == 0) {
        lam_client_close(client_);
        client_ = nullptr;
        Open();
        reopen_after = rng_.Range(50, 400);
      }
    }
  }

 private:
  std::vector<uint32_t> RandomIndices(uint8_t kind) {
    const uint32_t n = rng_.Range(0, 1) == 0 ? rng_.Range(1, max_seqs_ < 4 ? max_seqs_ : 4) : rng_.Range(1, max_seqs_);
    std::vector<uint32_t> v(n);
    const uint32_t hi = (kind == kKindText ? pool_.n_texts : pool_.n_tokens) - 1;
    for (auto& i : v) i = rng_.Range(0, hi);
    return v;
  }

  uint32_t Dim() {
    if (dim_ == 0) {
      lam_model_info mi = LAM_MODEL_INFO_INIT;
      if (lam_client_get_model_info(client_, &mi) == LAM_STATUS_OK) dim_ = mi.embedding_dim;
    }
    return dim_;
  }

  lam_status Worker() {
    const uint32_t u = rng_.Range(0, 99);
    const bool text = pool_.n_texts > 0 && u >= 65;
    const uint8_t kind = text ? kKindText : kKindTokens;
    if (!text && u >= 45) return Pipelined(rng_.Range(2, 4));
    const uint32_t m = rng_.Range(0, 99);
    const uint8_t mode = m < 50 ? kModeSubmitWait : m < 75 ? kModeResult : kModeSync;
    return One(kind, RandomIndices(kind), mode);
  }

  // 8 one-sequence requests of 2-8 tokens in flight, each re-submitted as soon as it is done.
  lam_status Flood() {
    constexpr int kInFlight = 8;
    Call calls[kInFlight];
    bool live[kInFlight] = {};
    lam_status last = LAM_STATUS_OK;
    for (int round = 0; round < 64; ++round) {
      for (int i = 0; i < kInFlight; ++i) {
        if (live[i]) {
          last = Finish(calls[i]);
          live[i] = false;
          if (last == LAM_STATUS_DAEMON_UNAVAILABLE) break;
        }
        calls[i].Build(pool_, kKindTokens, {rng_.Range(0, pool_.n_tiny - 1)}, kDeadlineMs);
        calls[i].mode = kModePipelined;
        if (Submit(calls[i])) live[i] = true;
      }
      if (last == LAM_STATUS_DAEMON_UNAVAILABLE) break;
    }
    for (int i = 0; i < kInFlight; ++i) {
      if (live[i]) last = Finish(calls[i]);
    }
    return last;
  }

  lam_status Pipelined(uint32_t k) {
    std::vector<Call> calls(k);
    std::vector<bool> live(k, false);
    for (uint32_t i = 0; i < k; ++i) {
      calls[i].Build(pool_, kKindTokens, RandomIndices(kKindTokens), kDeadlineMs);
      calls[i].mode = kModePipelined;
      live[i] = Submit(calls[i]);
    }
    lam_status last = LAM_STATUS_OK;
    for (uint32_t i = 0; i < k; ++i) {
      if (live[i]) last = Finish(calls[i]);
    }
    return last;
  }

  // Submits; on failure records the call (status from the submission) and returns false.
  bool Submit(Call& c) {
    c.t0 = NowNs();
    const lam_status st = c.kind == kKindTokens ? lam_client_submit_tokens(client_, &c.treq, &c.ticket)
                                                : lam_client_submit_text(client_, &c.xreq, &c.ticket);
    if (st != LAM_STATUS_OK) {
      Record(c, st, nullptr, 0);
      return false;
    }
    return true;
  }

  lam_status Finish(Call& c) {
    const uint32_t dim = Dim();
    out_.assign(c.idx.size() * (dim == 0 ? 1 : dim), 0.0f);
    size_t count = 0;
    lam_status st = lam_client_wait(client_, c.ticket, kWaitMs, out_.data(), out_.size(), &count);
    if (st == LAM_STATUS_TIMEOUT || st == LAM_STATUS_BUFFER_TOO_SMALL || st == LAM_STATUS_PENDING) {
      lam_client_cancel(client_, c.ticket);  // the ticket stays valid after these: drop it
    }
    if (st == LAM_STATUS_OK && (dim == 0 || count != c.idx.size() * dim)) {
      // A success with the wrong number of floats is a wrong result: send what came back.
      Record(c, st, out_.data(), dim, count);
      return st;
    }
    Record(c, st, st == LAM_STATUS_OK ? out_.data() : nullptr, dim);
    return st;
  }

  lam_status One(uint8_t kind, std::vector<uint32_t> indices, uint8_t mode) {
    Call c;
    c.Build(pool_, kind, std::move(indices), kDeadlineMs);
    c.mode = mode;
    if (mode == kModeSubmitWait) {
      if (!Submit(c)) return last_submit_status_;
      return Finish(c);
    }
    c.t0 = NowNs();
    if (mode == kModeResult) {
      lam_result r = LAM_RESULT_INIT;
      const lam_status st = kind == kKindTokens ? lam_client_embed_tokens_result(client_, &c.treq, &r)
                                                : lam_client_embed_text_result(client_, &c.xreq, &r);
      if (st == LAM_STATUS_OK) {
        if (r.n_sequences != c.idx.size()) {
          Record(c, st, r.data, r.embedding_dim, r.n_sequences * r.embedding_dim);
        } else {
          Record(c, st, r.data, r.embedding_dim);
        }
        lam_result_release(client_, &r);
      } else {
        Record(c, st, nullptr, 0);
      }
      return st;
    }
    const uint32_t dim = Dim();
    out_.assign(c.idx.size() * (dim == 0 ? 1 : dim), 0.0f);
    size_t count = 0;
    const lam_status st = kind == kKindTokens
                              ? lam_client_embed_tokens(client_, &c.treq, out_.data(), out_.size(), &count)
                              : lam_client_embed_text(client_, &c.xreq, out_.data(), out_.size(), &count);
    if (st == LAM_STATUS_OK && (dim == 0 || count != c.idx.size() * dim)) {
      Record(c, st, out_.data(), dim, count);
    } else {
      Record(c, st, st == LAM_STATUS_OK ? out_.data() : nullptr, dim);
    }
    return st;
  }

  // Writes one record. `rows` (dim floats each, c.idx.size() rows) only for status OK; a
  // success that returned `floats` != n * dim floats is sent flagged (bad_count) and padded.
  void Record(const Call& c, lam_status st, const float* rows, uint32_t dim, size_t floats = SIZE_MAX) {
    if (st != LAM_STATUS_OK) last_submit_status_ = st;
    RecordHeader h;
    h.role = role_;
    h.kind = c.kind;
    h.mode = c.mode;
    h.status = st;
    h.n = static_cast<uint32_t>(c.idx.size());
    h.t0_ns = c.t0;
    h.t1_ns = NowNs();
    size_t nfloats = 0;
    if (st == LAM_STATUS_OK && rows != nullptr && dim > 0) {
      nfloats = floats == SIZE_MAX ? c.idx.size() * dim : floats;
      h.dim = dim;
      // The checker reads n * dim floats: a short answer is padded with NaN (never a match).
      pad_.assign(rows, rows + std::min(nfloats, c.idx.size() * dim));
      pad_.resize(c.idx.size() * dim, __builtin_nanf(""));
      if (nfloats != c.idx.size() * dim) h.bad_count = 1;  // flag: count mismatch
    } else if (st == LAM_STATUS_OK) {
      h.bad_count = 1;  // success without rows or without a known dimension
    }
    WriteAll(&h, sizeof(h));
    WriteAll(c.idx.data(), c.idx.size() * sizeof(uint32_t));
    if (h.dim > 0) WriteAll(pad_.data(), pad_.size() * sizeof(float));
  }

  const char* socket_;
  uint8_t role_;
  Rng rng_;
  PoolSpec pool_;
  uint32_t max_seqs_;
  uint32_t think_ms_;  // workers pause 0-2x this between calls
  lam_client* client_ = nullptr;
  uint32_t dim_ = 0;
  lam_status last_submit_status_ = LAM_STATUS_OK;
  std::vector<float> out_, pad_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 12) {
    std::fprintf(stderr,
                 "usage: lam-bench-soak-client SOCKET worker|flood|light SEED POOL_SEED N_TOKENS N_TINY N_TEXTS "
                 "MAX_LEN VOCAB MAX_SEQS THINK_MS\n");
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  const std::string role = argv[2];
  const uint8_t r = role == "flood" ? kRoleFlood : role == "light" ? kRoleLight : kRoleWorker;
  if (role != "flood" && role != "light" && role != "worker") return 2;
  PoolSpec pool;
  pool.seed = std::strtoull(argv[4], nullptr, 10);
  pool.n_tokens = static_cast<uint32_t>(std::strtoul(argv[5], nullptr, 10));
  pool.n_tiny = static_cast<uint32_t>(std::strtoul(argv[6], nullptr, 10));
  pool.n_texts = static_cast<uint32_t>(std::strtoul(argv[7], nullptr, 10));
  pool.max_len = static_cast<uint32_t>(std::strtoul(argv[8], nullptr, 10));
  pool.vocab = static_cast<uint32_t>(std::strtoul(argv[9], nullptr, 10));
  const uint32_t max_seqs = static_cast<uint32_t>(std::strtoul(argv[10], nullptr, 10));
  if (pool.n_tokens == 0 || pool.n_tiny == 0 || pool.n_tiny > pool.n_tokens || pool.vocab < 2) return 2;
  const uint32_t think_ms = static_cast<uint32_t>(std::strtoul(argv[11], nullptr, 10));
  SoakClient c(argv[1], r, std::strtoull(argv[3], nullptr, 10), pool, max_seqs, think_ms);
  c.Run();
}
