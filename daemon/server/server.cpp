// SPDX-License-Identifier: MIT
#include "server/server.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <random>

#include "lam/lam_version.h"
#include "server/admission.h"
#include "server/conn.h"
#include "server/guard.h"
#include "server/logging.h"
#include "shm/frame_io.h"
#include "shm/protocol.h"
#include "tokenizer/sentence_config.h"

namespace lam::server {

namespace {

struct WriteReq {
  uv_write_t req;
  std::vector<char> data;
};

std::shared_ptr<spdlog::logger> Log() {
  static auto log = Logger("server");
  return log;
}

void CopyString(char* dst, size_t cap, const std::string& s) {
  const size_t n = std::min(cap - 1, s.size());
  std::memcpy(dst, s.data(), n);
  dst[n] = '\0';
}

// True when a whole hello frame is already readable on `fd` (MSG_PEEK: nothing is consumed).
bool HelloWaiting(int fd) {
  char buf[sizeof(shm::FrameHeader) + sizeof(shm::HelloRequest)];
  const ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
  if (n < static_cast<ssize_t>(sizeof(shm::FrameHeader))) return false;
  shm::FrameHeader h;
  std::memcpy(&h, buf, sizeof(h));
  return h.magic == shm::kFrameMagic && h.type == shm::kFrameHello && h.payload_size <= shm::kMaxClientFramePayload &&
         static_cast<size_t>(n) >= sizeof(h) + std::min<size_t>(h.payload_size, sizeof(shm::HelloRequest));
}

// Refusals and timeouts of connections that have not said hello: a flood must not flood the log.
LogLimiter& PendingLogLimiter() {
  static LogLimiter limiter;
  return limiter;
}

// The session's `closed` flag as the scheduler's Request::cancelled (the request's context
// keeps the session alive anyway; the aliasing shared_ptr keeps it so on its own).
std::shared_ptr<const std::atomic<bool>> ClosedFlag(const std::shared_ptr<ClientSession>& s) {
  return std::shared_ptr<const std::atomic<bool>>(s, &s->closed);
}

// A text request is tokenised in slices of about this many bytes or texts (a few ms each on
// one core); other clients' text jobs run between two slices (text_worker.h).
constexpr size_t kTokenizeSliceBytes = 64 << 10;
constexpr size_t kTokenizeSliceTexts = 256;

uint64_t RandomEpoch() {
  std::random_device rd;
  return (uint64_t{rd()} << 32) ^ rd() ^ static_cast<uint64_t>(shm::MonotonicNs());
}

}  // namespace

template <auto Fn, typename H, typename... A>
void Server::Boundary(H* h, A... a) noexcept {
  auto* self = static_cast<Server*>(h->data);
  Guarded("libuv callback", &self->counters_.callback_errors, [&] { Fn(h, a...); });
}

Server::Server(Config config, engine::Engine* engine, WarmupFn warmup)
    : config_(std::move(config)), engine_(engine), warmup_fn_(std::move(warmup)),
      policy_(::getuid(), config_.allow_uids, config_.allow_group, config_.admin_uids),
      limits_(ConnLimitsOptions{config_.max_pending_connections, config_.max_pending_per_uid, config_.max_clients,
                                SessionsPerUid(config_)}),
      arena_budget_(ArenaBudget::Create({config_.arena_budget_per_uid, config_.arena_budget_total})) {}

Server::~Server() {
  if (warmup_thread_.joinable()) warmup_thread_.join();
  if (data_plane_) data_plane_->Stop();
  text_worker_.Stop();
  if (scheduler_) scheduler_->Shutdown();
}

Status Server::Start() {
  epoch_ = RandomEpoch();
  start_ns_ = shm::MonotonicNs();
  scheduler::Options so;
  so.max_delay_us = config_.max_delay_us;
  so.dispatch_lone_requests = config_.dispatch_lone_requests;
  so.token_budget = config_.token_budget;
  so.max_batch_sequences = config_.max_batch_sequences;
  so.max_queued_sequences = config_.max_queued_sequences;
  so.buckets = config_.buckets;
  scheduler_ = std::make_unique<scheduler::Scheduler>(engine_, so, this);
  // The model directory's sentence-transformers pipeline: a pipeline lamd would compute
  // differently is refused here, not served with other embeddings.
  auto sentence = tokenizer::LoadSentenceConfig(config_.model);
  if (!sentence.ok()) return sentence.status();
  const size_t model_max_tokens = static_cast<size_t>(engine_->info().config.max_tokens);
  text_max_tokens_ = tokenizer::DefaultTextMaxTokens(*sentence, model_max_tokens);
  if (sentence->max_seq_length > model_max_tokens) {
    Log()->warn("{}: max_seq_length {} exceeds the model's {} positions; texts are truncated at {}", config_.model,
                sentence->max_seq_length, model_max_tokens, text_max_tokens_);
  }
  if (sentence->present && !sentence->normalize) {
    Log()->warn("{}: the sentence-transformers pipeline has no Normalize module; lamd's embeddings are "
                "L2-normalised (cosines are sentence-transformers', norms are 1)", config_.model);
  }
  if (auto tok = tokenizer::WordPieceTokenizer::LoadFromModelDir(config_.model); tok.ok()) {
    tokenizer_.emplace(std::move(tok).value());
    if (sentence->do_lower_case) tokenizer_->LowerCaseInput();
  } else {
    tokenizer_error_ = tok.status().message();
    Log()->warn("no tokenizer for {}: {}; text requests will be refused", config_.model, tokenizer_error_);
  }

  if (int rc = uv_loop_init(&loop_); rc != 0) return Status(LAM_STATUS_INTERNAL, uv_strerror(rc));
  loop_.data = this;
  // Before the control socket: once that accepts, the HTTP listeners are bound too (nothing is
  // served before Run()). On failure the loop is torn down here: lamd exits without leaks.
  if (Status st = StartHttp(); !st.ok()) {
    if (http_) http_->Close();
    {
      std::lock_guard<std::mutex> lock(http_done_mu_);
      if (http_async_open_) uv_close(reinterpret_cast<uv_handle_t*>(&http_async_), nullptr);
      http_async_open_ = false;
    }
    uv_run(&loop_, UV_RUN_NOWAIT);
    uv_loop_close(&loop_);
    return st;
  }

  if (config_.socket.empty() || config_.socket.size() >= sizeof(sockaddr_un::sun_path)) {
    return Status(LAM_STATUS_INVALID_ARG, "socket path '" + config_.socket + "' is empty or longer than " +
                                              std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
  }
  // A socket file left by a dead daemon is removed; a live daemon on it is an error.
  struct stat st;
  if (::lstat(config_.socket.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Status(LAM_STATUS_IO_ERROR, config_.socket + " exists and is not a socket");
    }
    const int probe = shm::ConnectUnix(config_.socket);
    if (probe >= 0) {
      ::close(probe);
      return Status(LAM_STATUS_IO_ERROR, "another daemon is serving " + config_.socket);
    }
    ::unlink(config_.socket.c_str());
  }
  uv_pipe_init(&loop_, &listener_, 0);
  listener_.data = this;
  if (int rc = uv_pipe_bind(&listener_, config_.socket.c_str()); rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
    return Status(LAM_STATUS_IO_ERROR, "bind " + config_.socket + ": " + uv_strerror(rc));
  }
  ::chmod(config_.socket.c_str(), static_cast<mode_t>(config_.socket_mode));
  if (policy_.has_group() && ::geteuid() == 0) {
    if (::chown(config_.socket.c_str(), static_cast<uid_t>(-1), policy_.group_gid()) != 0) {
      Log()->warn("chown {} to group {}: {}", config_.socket, config_.allow_group, std::strerror(errno));
    }
  }
  if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 1024, OnConnection); rc != 0) {
    return Status(LAM_STATUS_IO_ERROR, std::string("listen: ") + uv_strerror(rc));
  }
  listening_ = true;

  uv_async_init(&loop_, &async_, Boundary<&Server::OnAsync>);
  async_.data = this;
  {
    std::lock_guard<std::mutex> lock(async_mu_);
    async_open_ = true;
  }
  uv_signal_init(&loop_, &sigterm_);
  sigterm_.data = this;
  uv_signal_start(&sigterm_, Boundary<&Server::OnSignal>, SIGTERM);
  uv_signal_init(&loop_, &sigint_);
  sigint_.data = this;
  uv_signal_start(&sigint_, Boundary<&Server::OnSignal>, SIGINT);
  uv_timer_init(&loop_, &watchdog_);
  watchdog_.data = this;
  uint64_t wd_usec = 0;
  if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
    const uint64_t every_ms = std::max<uint64_t>(wd_usec / 2000, 1);
    uv_timer_start(&watchdog_, Boundary<&Server::OnWatchdog>, every_ms, every_ms);
  }
  uv_timer_init(&loop_, &drain_timer_);
  drain_timer_.data = this;
  data_plane_ = std::make_unique<DataPlane>(
      static_cast<DataPlane::Sink*>(this), config_.polling_us, config_.idle_spin_us,
      [s = scheduler_.get()] { return s->Idle(); }, 2 * config_.ring_entries);
  LAM_RETURN_IF_ERROR(data_plane_->Start());
  // A broken pipe to a vanished client is an error return, not a signal.
  ::signal(SIGPIPE, SIG_IGN);
  return Status::Ok();
}

int Server::Run() {
  {
    std::lock_guard<std::mutex> lock(warmup_mu_);
    warmup_total_ = engine_->buckets().size();
  }
  if (warmup_fn_) {
    sd_notify(0, "STATUS=warming up");
    warmup_thread_ = std::thread([this] {
      Status status(LAM_STATUS_INTERNAL, "the warm-up threw; see lamd's log");
      WarmupInfo info;
      Guarded("warm-up", &counters_.callback_errors, [&] {
        Result<WarmupInfo> r = warmup_fn_([this](const cache::WarmProgress& p) {
          sd_notifyf(0, "STATUS=warming up: bucket %zu/%zu (%s)", p.index, p.total, p.bucket.c_str());
          std::lock_guard<std::mutex> lock(warmup_mu_);
          warmup_done_ = p.index;
          warmup_total_ = p.total;
          warmup_bucket_ = p.bucket;
        });
        status = r.status();
        if (r.ok()) info = std::move(r).value();
      });
      {
        std::lock_guard<std::mutex> lock(warmup_mu_);
        warmup_ = std::move(info);
        warmup_status_ = status;
      }
      warmup_finished_.store(true);
      WakeLoop();  // FinishWarmup runs on the loop
    });
  } else {
    warmup_finished_.store(true);
    FinishWarmup();
  }
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
  return exit_code_;
}

void Server::RequestStop() {
  stop_requested_.store(true);
  WakeLoop();
}

void Server::WakeLoop() {
  // Run() may have returned (a failed warm-up ends it by itself): async_ is then closed, and
  // libuv aborts on a send to a closed handle.
  std::lock_guard<std::mutex> lock(async_mu_);
  if (async_open_) uv_async_send(&async_);
}

// ---- connections -----------------------------------------------------------------------

void Server::OnConnection(uv_stream_t* listener, int status) {
  auto* self = static_cast<Server*>(listener->data);
  if (status < 0) {
    Log()->warn("accept: {}", uv_strerror(status));
    return;
  }
  Guarded("accept", &self->counters_.callback_errors, [&] { self->Accept(listener); });
}

void Server::Accept(uv_stream_t* listener) {
  auto* c = new Conn();
  c->server = this;
  c->id = next_client_id_++;
  uv_pipe_init(&loop_, &c->pipe, 0);
  c->pipe.data = c;
  uv_timer_init(&loop_, &c->hello_timer);
  c->hello_timer.data = c;
  c->open_handles = 2;  // from here the Conn is freed by CloseConn's close callbacks
  try {
    if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->pipe)) != 0) {
      CloseConn(c, "accept failed");
      return;
    }
    counters_.connections_total.fetch_add(1);
    uv_os_fd_t fd;
    socklen_t len = sizeof(c->cred);
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c->pipe), &fd) != 0 ||
        ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) != 0) {
      CloseConn(c, "no peer credentials");
      return;
    }
    // The caps only bite on connections that hold a slot: one whose hello is already here is
    // served in this loop iteration.
    const Status admit = limits_.AdmitPending(c->cred.uid, limits_.AtPendingCap(c->cred.uid) && HelloWaiting(fd));
    if (!admit.ok()) {
      counters_.refused_pending.fetch_add(1);
      uint64_t suppressed = 0;
      if (PendingLogLimiter().Allow(&suppressed)) {
        Log()->warn("refused a connection of pid {}: {} ({} more refusals or timeouts not logged)", c->cred.pid,
                    admit.message(), suppressed);
      }
      Refuse(c, admit, "too many connections waiting for hello");
      return;
    }
    c->counted_pending = true;
    conns_[c->id] = c;
    uv_timer_start(&c->hello_timer, OnHelloTimeout, config_.hello_timeout_ms, 0);
    uv_read_start(reinterpret_cast<uv_stream_t*>(&c->pipe), OnAlloc, OnRead);
  } catch (...) {
    CloseConn(c, "internal error at accept");
    throw;
  }
}

void Server::OnHelloTimeout(uv_timer_t* t) {
  auto* c = static_cast<Conn*>(t->data);
  Server* self = c->server;
  Guarded("hello deadline", &self->counters_.callback_errors, [&] {
    if (c->closing || c->hello_done) return;
    self->counters_.hello_timeouts.fetch_add(1);
    uint64_t suppressed = 0;
    if (PendingLogLimiter().Allow(&suppressed)) {
      Log()->warn("connection of pid {} (uid {}) sent no hello within {} ms; closing ({} more refusals or "
                  "timeouts not logged)",
                  c->cred.pid, c->cred.uid, self->config_.hello_timeout_ms, suppressed);
    }
    self->Refuse(c,
                 Status(LAM_STATUS_TIMEOUT,
                        "no hello within " + std::to_string(self->config_.hello_timeout_ms) + " ms (hello-timeout-ms)"),
                 "hello deadline");
  });
  // A throw above leaves the connection open: close it anyway (CloseConn does not throw).
  if (!c->closing && !c->hello_done) self->CloseConn(c, "hello deadline");
}

void Server::Refuse(Conn* c, const Status& st, const char* why) {
  shm::HelloReply r{};
  r.status = st.code();
  r.abi_version = LAM_VERSION_NUMBER;
  r.shm_major = shm::kShmProtoMajor;
  r.shm_minor = shm::kShmProtoMinor;
  r.daemon_epoch = epoch_;
  r.client_id = c->id;
  CopyString(r.message, sizeof(r.message), st.message());
  char buf[sizeof(shm::FrameHeader) + sizeof(r)];
  const shm::FrameHeader h{shm::kFrameMagic, shm::kControlProtoMajor, shm::kFrameHelloReply,
                           static_cast<uint32_t>(sizeof(r)), 0};
  std::memcpy(buf, &h, sizeof(h));
  std::memcpy(buf + sizeof(h), &r, sizeof(r));
  uv_os_fd_t fd;
  // One try, never a wait: a peer that does not read loses the explanation, not our time.
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c->pipe), &fd) == 0) {
    (void)!::send(fd, buf, sizeof(buf), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  CloseConn(c, why);
}

void Server::OnAlloc(uv_handle_t*, size_t, uv_buf_t* buf) {
  static thread_local char storage[65536];
  buf->base = storage;
  buf->len = sizeof(storage);
}

void Server::OnRead(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<Conn*>(stream->data);
  Server* self = c->server;
  if (n < 0) {
    self->CloseConn(c, n == UV_EOF ? "peer closed" : uv_strerror(static_cast<int>(n)));
    return;
  }
  if (n == 0 || c->closing) return;
  const bool ok = Guarded("control frame", &self->counters_.callback_errors, [&] {
    c->rbuf.append(buf->base, static_cast<size_t>(n));
    self->ProcessFrames(c);
  });
  if (!ok) self->CloseConn(c, "internal error handling a control frame");
}

void Server::ProcessFrames(Conn* c) {
  while (!c->closing && !c->busy && c->rbuf.size() >= sizeof(shm::FrameHeader)) {
    shm::FrameHeader h;
    std::memcpy(&h, c->rbuf.data(), sizeof(h));
    if (h.magic != shm::kFrameMagic) {
      counters_.protocol_errors.fetch_add(1);
      CloseConn(c, "bad frame magic");
      return;
    }
    if (h.payload_size > shm::kMaxClientFramePayload) {
      counters_.protocol_errors.fetch_add(1);
      CloseConn(c, "frame too large");
      return;
    }
    if (c->rbuf.size() < sizeof(h) + h.payload_size) break;
    const bool version_ok = h.proto_major == shm::kControlProtoMajor;
    if (!version_ok && h.type != shm::kFrameHello) {
      counters_.protocol_errors.fetch_add(1);
      CloseConn(c, "control protocol major mismatch");
      return;
    }
    if (h.type == shm::kFrameHello && MustWaitForWarmup(c, c->rbuf.data() + sizeof(h), h.payload_size, version_ok)) {
      // Answered when the warm-up ends (ReleaseParkedHellos): the client waits inside its
      // connect timeout instead of failing. The connection still counts as pending (the caps
      // bound how many wait), but its hello arrived: the hello deadline no longer applies.
      c->busy = true;
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->pipe));
      uv_timer_stop(&c->hello_timer);
      parked_hellos_.push_back(c->id);
      return;
    }
    if (h.type == shm::kFrameHello) {
      HandleHello(c, c->rbuf.data() + sizeof(h), h.payload_size, version_ok);
    } else {
      HandleFrame(c, h.type, c->rbuf.data() + sizeof(h), h.payload_size);
    }
    if (c->closing) return;
    c->rbuf.erase(0, sizeof(h) + h.payload_size);
  }
}

void Server::HandleFrame(Conn* c, uint16_t type, const char* payload, uint32_t size) {
  if (!c->hello_done) {
    counters_.protocol_errors.fetch_add(1);
    CloseConn(c, "frame before hello");
    return;
  }
  switch (type) {
    case shm::kFramePing:
      SendFrame(c, shm::kFramePong, std::string(payload, std::min<uint32_t>(size, 64)));
      break;
    case shm::kFrameStatusRequest:
      SendFrame(c, shm::kFrameStatusReply, StatusJson(c->cred.uid));
      break;
    case shm::kFrameCacheRequest:
      HandleCacheRequest(c, payload, size);
      break;
    default:
      counters_.protocol_errors.fetch_add(1);
      CloseConn(c, "unknown frame type");
  }
}

namespace {

// A cache warm|clear on libuv's thread pool: the loop keeps serving while executables compile.
struct CacheJob {
  uv_work_t req{};
  Server* server = nullptr;
  uint64_t conn_id = 0;
  std::string verb;
  std::string reply;
};

}  // namespace

void Server::HandleCacheRequest(Conn* c, const char* payload, uint32_t size) {
  const std::string verb(payload, size);
  if (verb != "warm" && verb != "clear") {  // ls (or an unknown verb): cheap, answered here
    SendFrame(c, shm::kFrameCacheReply, CacheJson(verb));
    return;
  }
  if (!policy_.IsAdmin(c->cred.uid)) {
    counters_.admin_refused.fetch_add(1);
    SendFrame(c, shm::kFrameCacheReply,
              CacheErrorJson(LAM_STATUS_PERMISSION_DENIED,
                             "uid " + std::to_string(c->cred.uid) + " may not run 'cache " + verb +
                                 "': only root, lamd's uid " + std::to_string(policy_.self_uid()) +
                                 " and admin-uids may"));
    return;
  }
  if (!serving_) {
    SendFrame(c, shm::kFrameCacheReply,
              CacheErrorJson(LAM_STATUS_DAEMON_UNAVAILABLE,
                             "lamd is warming up (" + WarmupProgressText() + "); 'cache " + verb + "' waits until it is ready"));
    return;
  }
  auto job = std::make_unique<CacheJob>();
  job->server = this;
  job->conn_id = c->id;
  job->verb = verb;
  job->req.data = job.get();
  auto work = [](uv_work_t* req) {
    auto* j = static_cast<CacheJob*>(req->data);
    Server* self = j->server;
    const bool ok = Guarded("cache job", &self->counters_.callback_errors, [&] {
      std::lock_guard<std::mutex> lock(self->cache_mu_);
      j->reply = self->CacheJson(j->verb);
    });
    if (!ok) j->reply = CacheErrorJson(LAM_STATUS_INTERNAL, "cache " + j->verb + " failed; see lamd's log");
  };
  auto after = [](uv_work_t* req, int) {
    std::unique_ptr<CacheJob> j(static_cast<CacheJob*>(req->data));
    Server* self = j->server;
    const auto it = self->conns_.find(j->conn_id);
    if (it == self->conns_.end()) return;  // the client left meanwhile
    Conn* conn = it->second;
    const bool ok = Guarded("cache reply", &self->counters_.callback_errors, [&] {
      conn->busy = false;
      self->SendFrame(conn, shm::kFrameCacheReply, j->reply);
      // Frames that came after the request were held back to keep the replies in order.
      self->ProcessFrames(conn);
      if (!conn->closing && !conn->busy) {
        uv_read_start(reinterpret_cast<uv_stream_t*>(&conn->pipe), OnAlloc, OnRead);
      }
    });
    if (!ok) self->CloseConn(conn, "internal error answering a cache request");
  };
  if (int rc = uv_queue_work(&loop_, &job->req, work, after); rc != 0) {
    SendFrame(c, shm::kFrameCacheReply,
              CacheErrorJson(LAM_STATUS_OVERLOADED, std::string("cannot start the cache job: ") + uv_strerror(rc)));
    return;
  }
  job.release();  // owned by `after`
  c->busy = true;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->pipe));
}

void Server::HandleHello(Conn* c, const char* payload, uint32_t size, bool version_ok) {
  shm::HelloRequest h{};
  std::memcpy(&h, payload, std::min<size_t>(size, sizeof(h)));
  shm::HelloReply r{};
  r.abi_version = LAM_VERSION_NUMBER;
  r.shm_major = shm::kShmProtoMajor;
  r.shm_minor = shm::kShmProtoMinor;
  r.daemon_epoch = epoch_;
  r.client_id = c->id;
  std::string why;
  Status st;
  if (c->hello_done) {
    st = Status(LAM_STATUS_MALFORMED_REQUEST, "second hello on one connection");
  } else if (!version_ok) {
    st = Status(LAM_STATUS_PROTOCOL_MISMATCH, "control protocol major differs; the daemon speaks " +
                                                  std::to_string(shm::kControlProtoMajor));
  } else if (size < 12) {
    st = Status(LAM_STATUS_MALFORMED_REQUEST, "hello too short");
  } else if (h.abi_version / 1000000 != LAM_VERSION_MAJOR) {
    st = Status(LAM_STATUS_PROTOCOL_MISMATCH,
                "client library ABI " + std::to_string(h.abi_version) + " vs daemon " +
                    std::to_string(LAM_VERSION_NUMBER) + " (major versions differ)");
  } else if (h.shm_major != shm::kShmProtoMajor) {
    st = Status(LAM_STATUS_PROTOCOL_MISMATCH, "shared-memory protocol " + std::to_string(h.shm_major) +
                                                  " vs daemon " + std::to_string(shm::kShmProtoMajor));
  } else if (!policy_.Allows(c->cred.uid, c->cred.gid, &why)) {
    counters_.connections_rejected.fetch_add(1);
    uint64_t suppressed = 0;
    if (PendingLogLimiter().Allow(&suppressed)) {
      Log()->warn("refused pid {}: {} ({} more refusals or timeouts not logged)", c->cred.pid, why, suppressed);
    }
    st = Status(LAM_STATUS_PERMISSION_DENIED, why);
  } else if (draining_) {
    st = Status(LAM_STATUS_DAEMON_UNAVAILABLE, "daemon is shutting down");
  }

  const bool want_segment = (h.flags & shm::kHelloWantSegment) != 0;
  // An admin's connection without a segment (lamctl) is not counted: a full daemon stays visible.
  const bool counted = !want_segment ? !policy_.IsAdmin(c->cred.uid) : true;
  if (st.ok() && counted) {
    st = limits_.CheckSession(c->cred.uid);
    if (!st.ok()) {
      counters_.refused_quota.fetch_add(1);
      uint64_t suppressed = 0;
      if (PendingLogLimiter().Allow(&suppressed)) {
        Log()->warn("refused pid {}: {} ({} more refusals or timeouts not logged)", c->cred.pid, st.message(),
                    suppressed);
      }
    }
  }
  int fds[2] = {-1, -1};
  int n_fds = 0;
  if (st.ok() && want_segment) {
    SessionParams p;
    p.client_id = c->id;
    p.daemon_epoch = epoch_;
    p.ring_entries = config_.ring_entries;
    const uint64_t cap = std::max<uint64_t>(config_.max_arena_bytes, 65536);
    p.arena_bytes = std::clamp<uint64_t>(h.arena_bytes == 0 ? config_.arena_bytes : h.arena_bytes, 65536, cap);
    p.embedding_dim = static_cast<uint32_t>(engine_->info().embedding_dim);
    p.polling_us = config_.polling_us;
    p.stream_results = h.shm_minor >= shm::kShmMinorStreamedResults;
    // The whole segment counts: the daemon writes the rings too (arena_budget.h).
    const uint64_t segment = shm::ComputeLayout(p.ring_entries, p.ring_entries, p.arena_bytes).segment_size;
    auto reserved = arena_budget_->Reserve(c->cred.uid, segment);
    if (!reserved.ok()) {
      st = reserved.status();
      uint64_t suppressed = 0;
      if (PendingLogLimiter().Allow(&suppressed)) {
        Log()->warn("client {} (pid {}, uid {}): {} ({} more refusals or timeouts not logged)", c->id, c->cred.pid,
                    c->cred.uid, st.message(), suppressed);
      }
    } else {
      auto made = ClientSession::Create(p);
      if (!made.ok()) {
        // Out of memory or descriptors: the daemon is overloaded, the client did nothing wrong.
        Log()->error("client {}: {}", c->id, made.status().ToString());
        st = Status(LAM_STATUS_OVERLOADED, "no shared-memory segment for this client now: " + made.status().message());
      } else {
        c->session = std::move(made.value());
        c->session->HoldReservation(std::move(reserved.value()));
        c->session->pid = c->cred.pid;
        c->session->uid = c->cred.uid;
        fds[0] = c->session->memfd();
        fds[1] = c->session->doorbell_fd();
        n_fds = 2;
        r.segment_size = c->session->segment_size();
      }
    }
  }
  r.status = st.code();
  if (st.ok()) {
    const engine::ModelInfo& mi = engine_->info();
    r.embedding_dim = static_cast<uint32_t>(mi.embedding_dim);
    r.max_tokens = static_cast<uint32_t>(mi.config.max_tokens);
    r.vocab_size = static_cast<uint32_t>(mi.config.vocab_size);
    const auto& b = scheduler_->buckets();
    r.n_buckets = static_cast<uint32_t>(std::min(b.size(), shm::kMaxBuckets));
    for (uint32_t i = 0; i < r.n_buckets; ++i) {
      // More classes than fit: keep the largest in the last slot.
      r.buckets[i] = (i + 1 == r.n_buckets) ? b.back() : b[i];
    }
    CopyString(r.fingerprint, sizeof(r.fingerprint), mi.fingerprint);
    CopyString(r.model_name, sizeof(r.model_name), mi.name);
    CopyString(r.backend, sizeof(r.backend), engine_->backend_name());
    CopyString(r.precision, sizeof(r.precision), mi.precision);
  } else {
    CopyString(r.message, sizeof(r.message), st.message());
  }
  r.n_fds = static_cast<uint32_t>(n_fds);
  const bool sent = SendHelloReply(c, &r, sizeof(r), fds, n_fds);
  if (!st.ok() || !sent) {
    CloseConn(c, st.ok() ? "hello reply failed" : "hello refused");
    return;
  }
  c->hello_done = true;
  uv_timer_stop(&c->hello_timer);
  if (c->counted_pending) {
    limits_.ReleasePending(c->cred.uid);
    c->counted_pending = false;
  }
  if (counted) {
    limits_.AddSession(c->cred.uid);
    c->counted_session = true;
  }
  if (c->session) {
    data_plane_->Add(c->session);
    Log()->debug("client {} (pid {}, uid {}) connected, arena {} bytes", c->id, c->cred.pid,
                 c->cred.uid, c->session->arena_size());
  }
}

bool Server::SendHelloReply(Conn* c, const void* reply, size_t size, const int* fds, int n_fds) {
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c->pipe), &fd) != 0) return false;
  std::vector<char> buf(sizeof(shm::FrameHeader) + size);
  shm::FrameHeader h{shm::kFrameMagic, shm::kControlProtoMajor, shm::kFrameHelloReply,
                     static_cast<uint32_t>(size), 0};
  std::memcpy(buf.data(), &h, sizeof(h));
  std::memcpy(buf.data() + sizeof(h), reply, size);
  size_t off = 0;
  bool fds_sent = n_fds == 0;
  const int64_t deadline = shm::MonotonicNs() + 200'000'000;
  while (off < buf.size()) {
    iovec iov{buf.data() + off, buf.size() - off};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 2)];
    if (!fds_sent) {
      msg.msg_control = cbuf;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * static_cast<size_t>(n_fds));
      cmsghdr* cm = CMSG_FIRSTHDR(&msg);
      cm->cmsg_level = SOL_SOCKET;
      cm->cmsg_type = SCM_RIGHTS;
      cm->cmsg_len = CMSG_LEN(sizeof(int) * static_cast<size_t>(n_fds));
      std::memcpy(CMSG_DATA(cm), fds, sizeof(int) * static_cast<size_t>(n_fds));
    }
    const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      // The socket is non-blocking; a fresh socket's buffer is nearly always empty, but wait
      // briefly rather than fail a hello on a transiently full buffer.
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && shm::MonotonicNs() < deadline) {
        pollfd p{fd, POLLOUT, 0};
        ::poll(&p, 1, 20);
        continue;
      }
      return false;
    }
    fds_sent = true;
    off += static_cast<size_t>(n);
  }
  return true;
}

void Server::SendFrame(Conn* c, uint16_t type, const std::string& payload) {
  auto* w = new WriteReq();
  w->data.resize(sizeof(shm::FrameHeader) + payload.size());
  shm::FrameHeader h{shm::kFrameMagic, shm::kControlProtoMajor, type,
                     static_cast<uint32_t>(payload.size()), 0};
  std::memcpy(w->data.data(), &h, sizeof(h));
  std::memcpy(w->data.data() + sizeof(h), payload.data(), payload.size());
  uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  const int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->pipe), &b, 1,
                          [](uv_write_t* req, int) { delete reinterpret_cast<WriteReq*>(req); });
  if (rc != 0) delete w;
}

void Server::CloseConn(Conn* c, const char* why) {
  if (c->closing) return;
  c->closing = true;
  conns_.erase(c->id);
  if (c->counted_pending) limits_.ReleasePending(c->cred.uid);
  if (c->counted_session) limits_.ReleaseSession(c->cred.uid);
  c->counted_pending = c->counted_session = false;
  if (c->session) {
    c->session->closed.store(true);
    data_plane_->Remove(c->id);
    scheduler_->CancelClient(c->id);
    const uint32_t inflight = c->session->inflight();
    if (inflight != 0) counters_.cancelled_on_disconnect.fetch_add(inflight);
    Log()->debug("client {} disconnected ({}), {} requests cancelled", c->id, why, inflight);
  } else {
    Log()->trace("connection {} closed ({})", c->id, why);
  }
  auto on_closed = [](uv_handle_t* h) {
    auto* conn = static_cast<Conn*>(h->data);
    if (--conn->open_handles == 0) delete conn;  // drops the session reference
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->hello_timer), on_closed);
}

// ---- data plane ----------------------------------------------------------------------------

void Server::OnViolation(uint64_t client_id, const char* why) {
  {
    std::lock_guard<std::mutex> lock(handoff_mu_);
    handoff_broken_.emplace_back(client_id, why);
  }
  WakeLoop();
}

void Server::CompleteNow(ClientSession* s, uint64_t ticket, uint64_t output_offset, const Status& st,
                         uint64_t detail) {
  shm::CompletionDesc cd{};
  cd.ticket = ticket;
  cd.status = st.code();
  cd.output_offset = output_offset;
  cd.detail = detail;
  CopyString(cd.message, sizeof(cd.message), st.message());
  counters_.by_status[st.code()].fetch_add(1, std::memory_order_relaxed);
  RecordCompletion(kTransportShm, nullptr, st.code());
  s->requests.fetch_add(1, std::memory_order_relaxed);
  if (!st.ok()) s->errors.fetch_add(1, std::memory_order_relaxed);
  s->Complete(cd, nullptr, 0, false);  // a full ring sets s->broken; the drain loop acts on it
}

void Server::OnSubmission(const std::shared_ptr<ClientSession>& session, const shm::SubmitDesc& d) {
  ClientSession* s = session.get();
  if (d.opcode == shm::kOpNop) {
    counters_.nop_total.fetch_add(1, std::memory_order_relaxed);
    shm::CompletionDesc cd{};
    cd.ticket = d.ticket;
    cd.status = LAM_STATUS_OK;
    s->Complete(cd, nullptr, 0, false);
    return;
  }
  if (d.opcode == shm::kOpEmbedText) {
    HandleTextSubmission(session, d);
    return;
  }
  if (d.opcode != shm::kOpEmbedTokens) {
    CompleteNow(s, d.ticket, d.output_offset,
                Status(LAM_STATUS_MALFORMED_REQUEST, "unknown opcode " + std::to_string(d.opcode)), 0);
    return;
  }
  auto req = std::make_unique<scheduler::Request>();
  AdmissionLimits limits;
  limits.embedding_dim = static_cast<uint32_t>(engine_->info().embedding_dim);
  limits.max_sequences_per_request = config_.max_sequences_per_request;
  uint64_t detail = 0;
  Status st = AdmitEmbed(d, s->arena(), s->arena_size(), *engine_, limits, shm::MonotonicNs(),
                         req.get(), &detail);
  if (!st.ok()) {
    CompleteNow(s, d.ticket, d.output_offset, st, detail);
    return;
  }
  req->client_id = s->id();
  req->context = session;
  req->cancelled = ClosedFlag(session);  // CloseConn may run while this thread still drains
  req->transport = kTransportShm;
  req->arrival_ns = shm::MonotonicNs();
  s->MarkInFlight();
  st = scheduler_->Submit(req);
  if (!st.ok()) {
    RecordCompletion(kTransportShm, nullptr, st.code());
    shm::CompletionDesc cd{};
    cd.ticket = d.ticket;
    cd.status = st.code();
    cd.output_offset = d.output_offset;
    CopyString(cd.message, sizeof(cd.message), st.message());
    counters_.by_status[st.code()].fetch_add(1, std::memory_order_relaxed);
    s->requests.fetch_add(1, std::memory_order_relaxed);
    s->errors.fetch_add(1, std::memory_order_relaxed);
    s->Complete(cd, nullptr, 0, true);
  }
}

void Server::HandleTextSubmission(const std::shared_ptr<ClientSession>& session, const shm::SubmitDesc& d) {
  ClientSession* s = session.get();
  if (!tokenizer_) {
    CompleteNow(s, d.ticket, d.output_offset,
                Status(LAM_STATUS_UNSUPPORTED, "model has no usable vocab.txt: " + tokenizer_error_), 0);
    return;
  }
  // The loop only copies the payload out of the segment (a memcpy); tokenising happens on
  // text_worker_ (see text_worker.h for why not here).
  auto text = std::make_shared<TextRequest>();
  AdmissionLimits limits;
  limits.embedding_dim = static_cast<uint32_t>(engine_->info().embedding_dim);
  limits.max_sequences_per_request = config_.max_sequences_per_request;
  limits.model_max_tokens = static_cast<uint32_t>(engine_->info().config.max_tokens);
  uint64_t detail = 0;
  Status st = AdmitText(d, s->arena(), s->arena_size(), limits, shm::MonotonicNs(), text.get(), &detail);
  if (!st.ok()) {
    CompleteNow(s, d.ticket, d.output_offset, st, detail);
    return;
  }
  text->req->client_id = s->id();
  text->req->context = session;
  // The scheduler refuses (and drops) the request once the session is closed, checked under its
  // lock: a client killed while its text was being tokenised leaves nothing queued.
  text->req->cancelled = ClosedFlag(session);
  text->req->transport = kTransportShm;
  text->req->arrival_ns = shm::MonotonicNs();
  s->MarkInFlight();  // released by PostCompletion like any scheduled request
  // Truncate as sentence-transformers does (its max_seq_length), unless the request asked for
  // another length within the model's position table.
  const size_t max_tokens = text->max_tokens != 0 ? text->max_tokens : text_max_tokens_;
  QueueTokenize(s->id(), std::move(text), [session] { return session->closed.load(); }, max_tokens);
}

void Server::QueueTokenize(uint64_t client, std::shared_ptr<TextRequest> text, std::function<bool()> cancelled,
                           size_t max_tokens) {
  TextWorker::Job job;
  // Between two slices the worker serves other clients, and drops the job if its client is gone.
  job.cancelled = std::move(cancelled);
  job.step = [this, text, max_tokens, cursor = TokenizeCursor{}]() mutable {
    uint64_t bad = 0;
    Status ts = TokenizeTextSlice(*tokenizer_, *engine_, max_tokens, text.get(), &cursor, kTokenizeSliceBytes,
                                  kTokenizeSliceTexts, &bad);
    if (ts.ok() && !cursor.done) return false;
    std::unique_ptr<scheduler::Request> req = std::move(text->req);
    if (ts.ok()) ts = scheduler_->Submit(req);
    if (!ts.ok()) {
      req->tokens.clear();
      req->offsets.clear();
      req->status = ts.code();
      req->message = ts.message();
      PostCompletion(std::move(req), bad);
    }
    return true;
  };
  if (!text_worker_.Post(client, std::move(job))) {
    text->req->status = LAM_STATUS_CANCELLED;
    text->req->message = "daemon is shutting down";
    PostCompletion(std::move(text->req), 0);
  }
}

void Server::RecordCompletion(uint32_t transport, const scheduler::Request* req, lam_status status) {
  const int64_t now = shm::MonotonicNs();
  std::lock_guard<std::mutex> lock(metrics_mu_);
  TransportMetrics& m = transport_metrics_[transport < kTransportCount ? transport : 0];
  ++m.by_status[status >= 0 && status < LAM_STATUS_LAST_ ? status : LAM_STATUS_INTERNAL];
  if (req == nullptr) return;
  if (req->arrival_ns != 0) m.request_seconds.Observe(now - req->arrival_ns);
  if (status == LAM_STATUS_OK) {
    m.queue_seconds.Observe(req->queue_ns);
    m.sequences += req->n_seqs();
    m.tokens += req->tokens.size();
  }
}

void Server::OnComplete(std::unique_ptr<scheduler::Request> req) { PostCompletion(std::move(req), 0); }

void Server::PostCompletion(std::unique_ptr<scheduler::Request> req, uint64_t detail) {
  if (req->transport == kTransportHttp) {
    PostHttpCompletion(std::move(req), detail);
    return;
  }
  auto s = std::static_pointer_cast<ClientSession>(req->context);
  if (s->closed.load()) return;  // the client is gone; its segment is freed with the last ref
  counters_.by_status[req->status].fetch_add(1, std::memory_order_relaxed);
  RecordCompletion(kTransportShm, req.get(), req->status);
  s->requests.fetch_add(1, std::memory_order_relaxed);
  shm::CompletionDesc cd{};
  cd.ticket = req->ticket;
  cd.status = req->status;
  cd.output_offset = req->output_offset;
  cd.queue_us = static_cast<uint64_t>(req->queue_ns / 1000);
  cd.compute_us = static_cast<uint64_t>(req->compute_ns / 1000);
  cd.detail = detail;
  const bool ok = req->status == LAM_STATUS_OK;
  if (ok) {
    cd.n_seqs = static_cast<uint32_t>(req->n_seqs());
  } else {
    s->errors.fetch_add(1, std::memory_order_relaxed);
    CopyString(cd.message, sizeof(cd.message), req->message);
  }
  bool streamed = false;
  const bool pushed = s->Complete(cd, ok ? req->output.data() : nullptr, ok ? req->output.size() : 0, true, &streamed);
  if (streamed) counters_.results_streamed.fetch_add(1, std::memory_order_relaxed);
  if (!pushed) {
    OnViolation(s->id(), "completion ring full");
  } else if (s->sq_blocked.exchange(false)) {
    data_plane_->Kick(s->id());  // submissions waited for this room
  }
}

void Server::OnAsync(uv_async_t* a) {
  auto* self = static_cast<Server*>(a->data);
  std::vector<std::pair<uint64_t, std::string>> broken;
  {
    std::lock_guard<std::mutex> lock(self->handoff_mu_);
    broken.swap(self->handoff_broken_);
  }
  for (const auto& [id, why] : broken) {
    auto it = self->conns_.find(id);
    if (it == self->conns_.end()) continue;
    self->counters_.clients_disconnected_for_violations.fetch_add(1);
    Log()->warn("client {} (pid {}): {}; disconnecting", id, it->second->cred.pid, why);
    self->CloseConn(it->second, why.c_str());
  }
  if (self->warmup_finished_.load() && !self->warmup_handled_) self->FinishWarmup();
  if (self->stop_requested_.exchange(false)) self->BeginShutdown();
}

void Server::FinishWarmup() {
  warmup_handled_ = true;
  if (warmup_thread_.joinable()) warmup_thread_.join();
  Status st;
  double seconds = 0;
  size_t buckets = 0;
  {
    std::lock_guard<std::mutex> lock(warmup_mu_);
    st = warmup_status_;
    seconds = warmup_.total_seconds;
    buckets = warmup_.buckets.size();
  }
  if (!st.ok()) {
    Log()->critical("warmup failed: {}", st.ToString());
    sd_notifyf(0, "STATUS=warmup failed: %s", st.message().c_str());
    exit_code_ = 1;
    BeginShutdown();
    return;
  }
  if (draining_) return;  // stopped while warming: parked hellos were refused already
  serving_ = true;
  if (warmup_fn_) Log()->info("warmup done: {} buckets in {:.3f} s; serving on {}", buckets, seconds, config_.socket);
  sd_notifyf(0, "READY=1\nSTATUS=serving %s (%s)", engine_->info().name.c_str(), engine_->backend_name());
  ReleaseParkedHellos();
}

void Server::ReleaseParkedHellos() {
  std::vector<uint64_t> parked;
  parked.swap(parked_hellos_);
  for (uint64_t id : parked) {
    const auto it = conns_.find(id);
    if (it == conns_.end()) continue;
    Conn* c = it->second;
    const bool ok = Guarded("parked hello", &counters_.callback_errors, [&] {
      c->busy = false;
      ProcessFrames(c);
      if (!c->closing && !c->busy) uv_read_start(reinterpret_cast<uv_stream_t*>(&c->pipe), OnAlloc, OnRead);
    });
    if (!ok) CloseConn(c, "internal error answering a hello held during warm-up");
  }
}

bool Server::MustWaitForWarmup(const Conn* c, const char* payload, uint32_t size, bool version_ok) const {
  if (serving_ || draining_ || !version_ok) return false;
  shm::HelloRequest h{};
  std::memcpy(&h, payload, std::min<size_t>(size, sizeof(h)));
  // Connections without a segment (lamctl status, ping, cache ls) are answered at once, and so
  // is a hello that will be refused anyway.
  std::string why;
  return (h.flags & shm::kHelloWantSegment) != 0 && policy_.Allows(c->cred.uid, c->cred.gid, &why);
}

std::string Server::WarmupProgressText() {
  std::lock_guard<std::mutex> lock(warmup_mu_);
  std::string s = "bucket " + std::to_string(warmup_done_) + " of " + std::to_string(warmup_total_) + " done";
  if (!warmup_bucket_.empty()) s += " (last " + warmup_bucket_ + ")";
  return s;
}

// ---- lifecycle ---------------------------------------------------------------------------

void Server::OnSignal(uv_signal_t* s, int signum) {
  auto* self = static_cast<Server*>(s->data);
  Log()->info("signal {}: draining in-flight work", signum);
  self->BeginShutdown();
}

void Server::OnWatchdog(uv_timer_t*) { sd_notify(0, "WATCHDOG=1"); }

void Server::BeginShutdown() {
  if (draining_) return;
  // Admit what clients already submitted, then stop reading the rings.
  data_plane_->Stop();
  draining_ = true;
  sd_notify(0, "STOPPING=1\nSTATUS=draining in-flight work");
  ReleaseParkedHellos();  // refused: the daemon is shutting down
  if (listening_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    ::unlink(config_.socket.c_str());
    listening_ = false;
  }
  drain_deadline_ns_ = shm::MonotonicNs() + int64_t{config_.shutdown_timeout_ms} * 1000000;
  uv_timer_start(&drain_timer_, Boundary<&Server::OnDrainTimer>, 0, 2);
}

void Server::OnDrainTimer(uv_timer_t* t) {
  auto* self = static_cast<Server*>(t->data);
  bool idle = self->scheduler_->Idle() && self->http_calls_.empty();
  if (idle) {
    for (auto& [id, c] : self->conns_) {
      if (c->session && c->session->inflight() != 0) idle = false;
    }
  }
  if (!idle && shm::MonotonicNs() < self->drain_deadline_ns_) return;
  if (!idle) {
    self->exit_code_ = 1;
    self->drain_cut_off_ = true;
  }
  self->FinishShutdown();
}

void Server::FinishShutdown() {
  uint64_t cut_requests = 0;
  size_t cut_clients = 0;
  std::vector<Conn*> all;
  for (auto& [id, c] : conns_) {
    all.push_back(c);
    if (c->session) {
      c->session->KeepPagesOnClose();  // results a client holds stay readable
      if (c->session->inflight() != 0) {
        cut_requests += c->session->inflight();
        ++cut_clients;
      }
    }
  }
  // Closing a session drops its queued work: its text jobs before their next slice and its
  // scheduled requests at once (Request::cancelled), whatever is queued.
  for (Conn* c : all) CloseConn(c, "daemon stopping");
  // HTTP requests still computing are abandoned like a closed session's (OnAbandoned).
  if (http_) http_->Close();
  data_plane_->Stop();
  // The drain deadline bounds both stops: what is still queued then is dropped. A batch already
  // computing finishes (at most token_budget tokens).
  // A batch cannot be interrupted: one still computing kShutdownGrace after the deadline is
  // left running and lamd _exits (main.cpp), rather than wait for it.
  constexpr int64_t kShutdownGraceNs = 200'000'000;
  const size_t text_dropped = text_worker_.Stop(drain_deadline_ns_);  // it submits to the scheduler: first
  const auto sched = scheduler_->Shutdown(
      drain_deadline_ns_, std::max(drain_deadline_ns_, shm::MonotonicNs()) + kShutdownGraceNs);
  if (!sched.joined) {
    abandoned_ = true;
    exit_code_ = 1;
  }
  if (warmup_thread_.joinable()) {
    if (warmup_finished_.load()) {
      warmup_thread_.join();
    } else {
      // A bucket's compile cannot be interrupted; no client waits for it. lamd _exits (main.cpp).
      Log()->info("stopping during warm-up ({}): the warm-up is left to the exit", WarmupProgressText());
      abandoned_ = true;
    }
  }
  if (drain_cut_off_ || !sched.joined) {
    Log()->error(
        "shutdown timeout ({} ms) passed with {} requests of {} clients in flight: cancelled them "
        "({} text jobs, {} scheduled requests dropped unrun{}); exiting with status {}",
        config_.shutdown_timeout_ms, cut_requests, cut_clients, text_dropped, sched.dropped,
        abandoned_ ? ", a batch still computing abandoned" : "", exit_code_);
  }
  uv_timer_stop(&drain_timer_);
  auto close = [](auto* h) {
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(h))) uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr);
  };
  close(&drain_timer_);
  close(&watchdog_);
  close(&sigterm_);
  close(&sigint_);
  // Closing the handle gives SIGTERM its default action back; a second SIGTERM (a supervisor or
  // a script repeating itself) must not kill lamd while it finishes its bounded shutdown.
  ::signal(SIGTERM, SIG_IGN);
  {
    std::lock_guard<std::mutex> lock(async_mu_);  // nor may a warm-up left running or RequestStop
    async_open_ = false;
  }
  close(&async_);
  {
    std::lock_guard<std::mutex> lock(http_done_mu_);  // PostHttpCompletion sends only while open
    if (http_async_open_) close(&http_async_);
    http_async_open_ = false;
  }
  Log()->info("stopped");
}

}  // namespace lam::server
