// SPDX-License-Identifier: MIT
#include "client.h"

#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "log.h"
#include "shm/frame_io.h"
#include "shm/futex.h"
#include "shm/stream.h"

namespace lam::client {
namespace {

constexpr int64_t kSliceNs = 100'000'000;  // futex sleep slice: bounds daemon-death detection
constexpr int64_t kAliveFreshNs = 1'000'000;  // see EnsureConnectedLocked
constexpr uint32_t kDefaultTimeoutMs = 30000;
constexpr uint32_t kDefaultConnectTimeoutMs = 5000;

uint64_t A64(uint64_t v) { return shm::AlignUp(v, 64); }

// Reads the hello reply: frame header, HelloReply and the two descriptors. lamd sends them with
// one sendmsg, so one poll + recvmsg of header + reply normally gets everything (shm::RecvFrame
// reads the header and the payload separately: two of each on every process start). A shorter
// reply (older daemon) or a longer one (newer daemon: fields are only appended) is read to its
// announced end. Bytes beyond the frame cannot belong to anything: the daemon sends nothing
// after the hello reply unless asked, so they make the reply a bad frame.
shm::RecvResult RecvHelloReply(int fd, int64_t deadline_ns, shm::FrameHeader* h, std::vector<char>* payload,
                               std::vector<int>* fds) {
  constexpr size_t kHeader = sizeof(shm::FrameHeader);
  std::vector<char> buf(kHeader + sizeof(shm::HelloReply));
  size_t got = 0;
  if (const shm::RecvResult r = shm::RecvSome(fd, buf.data(), buf.size(), deadline_ns, fds, &got);
      r != shm::RecvResult::kOk) {
    return r;
  }
  if (got < kHeader) {  // a torn header: rare, read the rest the ordinary way
    const shm::RecvResult r = shm::RecvExact(fd, buf.data() + got, kHeader - got, deadline_ns, fds);
    if (r != shm::RecvResult::kOk) return r;
    got = kHeader;
  }
  std::memcpy(h, buf.data(), kHeader);
  if (h->magic != shm::kFrameMagic || h->payload_size > shm::kMaxDaemonFramePayload) return shm::RecvResult::kBadFrame;
  const size_t frame = kHeader + h->payload_size;
  if (got > frame) return shm::RecvResult::kBadFrame;
  buf.resize(frame);
  if (got < frame) {
    const shm::RecvResult r = shm::RecvExact(fd, buf.data() + got, frame - got, deadline_ns, fds);
    if (r != shm::RecvResult::kOk) return r;
  }
  payload->assign(buf.begin() + kHeader, buf.end());
  return shm::RecvResult::kOk;
}

}  // namespace

Client::Client(const lam_client_options& o)
    : arena_bytes_(o.arena_bytes),
      timeout_ms_(o.timeout_ms != 0 ? o.timeout_ms : kDefaultTimeoutMs),
      connect_timeout_ms_(o.connect_timeout_ms != 0 ? o.connect_timeout_ms : kDefaultConnectTimeoutMs) {
  if (o.socket_path != nullptr && o.socket_path[0] != '\0') {
    socket_path_ = o.socket_path;
  } else if (const char* env = std::getenv("LAMD_SOCKET"); env != nullptr && env[0] != '\0') {
    socket_path_ = env;
  } else {
    socket_path_ = "/run/lamd/lamd.sock";
  }
}

Client::~Client() {
  std::lock_guard<std::mutex> lock(mu_);
  tickets_.clear();
  held_.clear();
  conn_.reset();
}

lam_status Client::Fail(lam_status code, std::string message) {
  if (LogEnabled(LAM_LOG_DEBUG)) Log(LAM_LOG_DEBUG, "%s: %s", lam_status_str(code), message.c_str());
  last_error_ = std::move(message);
  return code;
}

void Client::CountSubmitLocked(const Connection& conn, uint64_t payload_bytes) {
  ++counters_.submitted;
  counters_.bytes += payload_bytes;
  counters_.inflight_high_water = std::max(counters_.inflight_high_water, conn.outstanding);
}

lam_status Client::GetStats(lam_client_stats* out) {
  lam_client_stats s{};
  {
    std::lock_guard<std::mutex> lock(mu_);
    s.struct_size = sizeof(s);
    s.inflight = conn_ ? conn_->outstanding : 0;
    s.inflight_high_water = counters_.inflight_high_water;
    s.requests_submitted = counters_.submitted;
    s.requests_completed = counters_.completed;
    s.requests_failed = counters_.failed;
    s.sequences_embedded = counters_.sequences;
    s.bytes_submitted = counters_.bytes;
    s.queue_us_total = counters_.queue_us;
    s.compute_us_total = counters_.compute_us;
    s.connects = counters_.connects;
    s.daemon_lost = counters_.lost;
    s.arena_bytes = conn_ && !conn_->dead ? conn_->header->arena_size : 0;
    s.daemon_epoch = conn_ && !conn_->dead ? conn_->header->daemon_epoch : 0;
  }
  const uint32_t n = std::min<uint32_t>(out->struct_size, sizeof(s));
  std::memcpy(reinterpret_cast<char*>(out) + sizeof(uint32_t), reinterpret_cast<const char*>(&s) + sizeof(uint32_t),
              n - sizeof(uint32_t));
  return LAM_STATUS_OK;
}

int64_t Client::DeadlineFor(uint32_t timeout_ms) const {
  if (timeout_ms == LAM_TIMEOUT_INFINITE) return INT64_MAX;
  const uint32_t ms = timeout_ms == 0 ? timeout_ms_ : timeout_ms;
  if (ms == LAM_TIMEOUT_INFINITE) return INT64_MAX;
  return shm::MonotonicNs() + int64_t{ms} * 1000000;
}

lam_status Client::Connect() {
  std::lock_guard<std::mutex> lock(mu_);
  return EnsureConnectedLocked();
}

bool Client::SocketAlive(Connection* c) {
  // The daemon sends nothing unsolicited after hello: readable means EOF (or garbage).
  pollfd p{c->sock.get(), POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return true;
  if (p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL)) return false;
  char b;
  const ssize_t n = ::recv(c->sock.get(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return !(n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR));
}

void Client::DropConnectionLocked() {
  if (!conn_) return;
  conn_->dead = true;
  ++counters_.lost;
  Log(LAM_LOG_WARNING, "lost the daemon on %s (epoch %llx); the next call reconnects", socket_path_.c_str(),
      static_cast<unsigned long long>(conn_->header->daemon_epoch));
  conn_.reset();
}

lam_status Client::EnsureConnectedLocked() {
  if (conn_ && !conn_->dead) {
    // The socket check is a system call on every request. Skip it when the daemon answered
    // on this connection moments ago: had it died since, the request is not lost silently;
    // the wait notices the closed socket and reports DAEMON_UNAVAILABLE, exactly as when it
    // dies right after the check. A restarted daemon takes far longer than this to be back.
    const int64_t now = shm::MonotonicNs();
    if (now - conn_->alive_ns < kAliveFreshNs) return LAM_STATUS_OK;
    if (SocketAlive(conn_.get())) {
      conn_->alive_ns = now;
      return LAM_STATUS_OK;
    }
  }
  DropConnectionLocked();
  return ConnectLocked();
}

lam_status Client::ConnectLocked() {
  auto c = std::make_shared<Connection>();
  c->sock.reset(shm::ConnectUnix(socket_path_));
  if (!c->sock) {
    return Fail(LAM_STATUS_DAEMON_UNAVAILABLE, "connect " + socket_path_ + ": " + std::strerror(errno));
  }
  shm::HelloRequest h{};
  h.struct_size = sizeof(h);
  h.abi_version = LAM_VERSION_NUMBER;
  h.shm_major = shm::kShmProtoMajor;
  h.shm_minor = shm::kShmProtoMinor;
  h.ctl_minor = shm::kControlProtoMinor;
  h.flags = shm::kHelloWantSegment;
  h.client_pid = static_cast<uint32_t>(::getpid());
  h.arena_bytes = arena_bytes_;
  if (!shm::SendFrame(c->sock.get(), shm::kFrameHello, &h, sizeof(h))) {
    return Fail(LAM_STATUS_DAEMON_UNAVAILABLE, std::string("sending hello: ") + std::strerror(errno));
  }
  shm::FrameHeader fh{};
  std::vector<char> payload;
  std::vector<int> raw_fds;
  const int64_t deadline = shm::MonotonicNs() + int64_t{connect_timeout_ms_} * 1000000;
  const shm::RecvResult rr = RecvHelloReply(c->sock.get(), deadline, &fh, &payload, &raw_fds);
  std::vector<shm::UniqueFd> fds;
  for (int f : raw_fds) fds.emplace_back(f);
  switch (rr) {
    case shm::RecvResult::kOk: break;
    case shm::RecvResult::kTimeout:
      return Fail(LAM_STATUS_TIMEOUT, "no hello reply from " + socket_path_ + " within " +
                                          std::to_string(connect_timeout_ms_) + " ms");
    case shm::RecvResult::kBadFrame:
      return Fail(LAM_STATUS_PROTOCOL_MISMATCH, "the daemon's reply is not a lamd control frame");
    default:
      return Fail(LAM_STATUS_DAEMON_UNAVAILABLE, "the daemon closed the connection during hello");
  }
  if (fh.proto_major != shm::kControlProtoMajor || fh.type != shm::kFrameHelloReply) {
    return Fail(LAM_STATUS_PROTOCOL_MISMATCH, "daemon control protocol " + std::to_string(fh.proto_major) +
                                                  ", library " + std::to_string(shm::kControlProtoMajor));
  }
  std::memcpy(&c->hello, payload.data(), std::min(payload.size(), sizeof(c->hello)));
  c->hello.message[sizeof(c->hello.message) - 1] = '\0';
  c->hello.fingerprint[sizeof(c->hello.fingerprint) - 1] = '\0';
  c->hello.model_name[sizeof(c->hello.model_name) - 1] = '\0';
  c->hello.backend[sizeof(c->hello.backend) - 1] = '\0';
  c->hello.precision[sizeof(c->hello.precision) - 1] = '\0';
  if (c->hello.status != LAM_STATUS_OK) {
    return Fail(c->hello.status, std::string("daemon refused the connection: ") + c->hello.message);
  }
  if (fds.size() != 2) {
    return Fail(LAM_STATUS_PROTOCOL_MISMATCH, "hello reply carried " + std::to_string(fds.size()) +
                                                  " descriptors instead of 2");
  }
  const int64_t size = shm::MemfdRegion::FdSize(fds[0].get());
  if (size <= 0 || static_cast<uint64_t>(size) != c->hello.segment_size || !shm::MemfdRegion::IsSealed(fds[0].get())) {
    return Fail(LAM_STATUS_PROTOCOL_MISMATCH, "the shared-memory segment is not a sealed memfd of the announced size");
  }
  std::string err;
  c->region = shm::MemfdRegion::Map(fds[0].get(), static_cast<uint64_t>(size), &err);
  if (c->region.data() == nullptr) return Fail(LAM_STATUS_INTERNAL, err);
  c->header = reinterpret_cast<shm::SegmentHeader*>(c->region.data());
  if (c->header->magic != shm::kSegmentMagic || c->header->proto_major != shm::kShmProtoMajor) {
    return Fail(LAM_STATUS_PROTOCOL_MISMATCH, "segment protocol " + std::to_string(c->header->proto_major) +
                                                  ", library " + std::to_string(shm::kShmProtoMajor));
  }
  if (!shm::HeaderIsConsistent(*c->header, static_cast<uint64_t>(size)) ||
      c->header->sq_entries < c->header->cq_entries || c->header->embedding_dim == 0) {
    return Fail(LAM_STATUS_PROTOCOL_MISMATCH, "the segment header is inconsistent");
  }
  c->memfd = std::move(fds[0]);
  c->doorbell = std::move(fds[1]);
  char* base = c->region.data();
  c->arena = base + c->header->arena_offset;
  c->sq = shm::SpscRing<shm::SubmitDesc>(reinterpret_cast<shm::RingCtl*>(base + c->header->sq_offset),
                                         c->header->sq_entries);
  c->cq = shm::SpscRing<shm::CompletionDesc>(reinterpret_cast<shm::RingCtl*>(base + c->header->cq_offset),
                                             c->header->cq_entries);
  c->alloc.Reset(c->header->arena_size);
  c->streamed_results = c->header->proto_minor >= shm::kShmMinorStreamedResults;
  c->alive_ns = shm::MonotonicNs();  // the hello reply just came: no socket check for a first request
  ++counters_.connects;
  if (LogEnabled(LAM_LOG_INFO)) {
    Log(LAM_LOG_INFO, "connected to %s: daemon epoch %llx, client id %llu, model %.64s on %.16s, arena %llu bytes",
        socket_path_.c_str(), static_cast<unsigned long long>(c->header->daemon_epoch),
        static_cast<unsigned long long>(c->header->client_id), c->hello.model_name, c->hello.backend,
        static_cast<unsigned long long>(c->header->arena_size));
  }
  conn_ = std::move(c);
  return LAM_STATUS_OK;
}

lam_status Client::ModelInfo(lam_model_info* out) {
  std::lock_guard<std::mutex> lock(mu_);
  if (lam_status st = EnsureConnectedLocked(); st != LAM_STATUS_OK) return st;
  const shm::HelloReply& h = conn_->hello;
  lam_model_info info{};
  info.struct_size = out->struct_size;
  info.embedding_dim = h.embedding_dim;
  info.max_tokens = h.max_tokens;
  info.vocab_size = h.vocab_size;
  info.n_buckets = std::min<uint32_t>(h.n_buckets, 16);
  std::memcpy(info.buckets, h.buckets, sizeof(info.buckets));
  std::memcpy(info.fingerprint, h.fingerprint, sizeof(info.fingerprint));
  std::memcpy(info.name, h.model_name, sizeof(info.name));
  std::memcpy(info.backend, h.backend, sizeof(info.backend));
  info.daemon_epoch = h.daemon_epoch;
  // A daemon before control minor 2 sends no precision (the field stays zero): it served fp32.
  if (h.precision[0] != '\0') {
    std::memcpy(info.precision, h.precision, sizeof(info.precision));
  } else {
    std::memcpy(info.precision, "fp32", 5);
  }
  std::memcpy(out, &info, std::min<size_t>(out->struct_size, sizeof(info)));
  return LAM_STATUS_OK;
}

void Client::LeaderWait(Connection* conn, int64_t deadline_ns, std::vector<Popped>* got, bool* dead) {
  const bool polling = (conn->header->flags & shm::kSegmentFlagPollingMode) != 0;
  int64_t spin_until = polling ? shm::MonotonicNs() + int64_t{conn->header->poll_spin_us} * 1000 : 0;
  shm::RingCtl* ctl = conn->cq.ctl();
  uint32_t spins = 0;
  for (;;) {
    Popped p;
    while (conn->cq.Pop(&p.desc, &p.index)) got->push_back(p);
    if (conn->cq.Corrupt()) {
      *dead = true;
      return;
    }
    if (!got->empty()) return;
    const int64_t now = shm::MonotonicNs();
    if (now >= deadline_ns) return;
    if (now < spin_until) {
      // Spin politely: on an oversubscribed host the daemon may need this core.
      if ((++spins & 63) == 0) {
        sched_yield();
      } else {
        shm::CpuRelax();
      }
      continue;
    }
    const uint32_t w = ctl->wake.load(std::memory_order_seq_cst);
    ctl->waiters.fetch_add(1, std::memory_order_seq_cst);
    if (conn->cq.HasData()) {
      ctl->waiters.fetch_sub(1, std::memory_order_seq_cst);
      continue;
    }
    shm::FutexWait(&ctl->wake, w, std::min(deadline_ns - now, kSliceNs));
    ctl->waiters.fetch_sub(1, std::memory_order_seq_cst);
    if (!conn->cq.HasData() && !SocketAlive(conn)) {
      *dead = true;
      return;
    }
  }
}

void Client::ApplyCompletionsLocked(Connection* conn, const std::vector<Popped>& got) {
  if (!got.empty()) conn->alive_ns = shm::MonotonicNs();
  for (const Popped& p : got) {
    const shm::CompletionDesc& c = p.desc;
    ++counters_.completed;
    counters_.queue_us += c.queue_us;
    counters_.compute_us += c.compute_us;
    if (c.status == LAM_STATUS_OK) {
      counters_.sequences += c.n_seqs;
    } else {
      ++counters_.failed;
    }
    if (conn->outstanding != 0) --conn->outstanding;
    auto it = tickets_.find(c.ticket);
    if (it == tickets_.end() || it->second.conn.get() != conn || it->second.done) continue;
    it->second.done = true;
    it->second.cq_index = p.index;
    it->second.comp = c;
    it->second.comp.message[sizeof(c.message) - 1] = '\0';
    if (it->second.orphan) {
      FreeTicketLocked(it->second);
      tickets_.erase(it);
    }
  }
}

size_t Client::OutputReady(const Ticket& t) {
  const size_t floats = t.n_seqs * t.conn->header->embedding_dim;
  if (!t.done || t.comp.status != LAM_STATUS_OK || !t.conn->streamed_results) return floats;
  return shm::FloatsReady(&t.conn->header->out_progress, t.cq_index, floats);
}

void Client::FreeTicketLocked(Ticket& t) {
  if (t.arena_off != UINT64_MAX && t.conn) {
    const size_t floats = t.n_seqs * t.conn->header->embedding_dim;
    if (!t.conn->dead && OutputReady(t) < floats) {
      t.conn->pending_frees.push_back({t.arena_off, t.arena_bytes, t.cq_index, floats});
    } else {
      t.conn->alloc.Free(t.arena_off, t.arena_bytes);
    }
  }
  t.arena_off = UINT64_MAX;
}

void Client::SweepPendingFreesLocked(Connection* conn) {
  auto& pending = conn->pending_frees;
  for (size_t i = 0; i < pending.size();) {
    const Connection::PendingFree& p = pending[i];
    if (shm::FloatsReady(&conn->header->out_progress, p.cq_index, p.floats) < p.floats) {
      ++i;
      continue;
    }
    conn->alloc.Free(p.off, p.bytes);
    pending[i] = pending.back();
    pending.pop_back();
  }
}

lam_status Client::AwaitOutputLocked(Ticket& t, float* out, int64_t deadline) {
  const size_t floats = t.n_seqs * t.conn->header->embedding_dim;
  const float* src = reinterpret_cast<const float*>(t.conn->arena + t.out_off);
  if (OutputReady(t) == floats) {
    if (out != nullptr && floats != 0) std::memcpy(out, src, floats * sizeof(float));
    return LAM_STATUS_OK;
  }
  // The daemon is writing the rows right now (microseconds); spin, checking now and then that
  // it is still alive and that the caller's time is not up. A stream that has not finished
  // within a millisecond (a stopped or starved daemon) is polled every millisecond instead.
  bool died = false;
  const int64_t spin_until = shm::MonotonicNs() + 1'000'000;
  auto keep_waiting = [&] {
    const int64_t now = shm::MonotonicNs();
    if (now >= deadline) return false;
    died = !SocketAlive(t.conn.get());
    if (!died && now >= spin_until) ::usleep(1000);
    return !died;
  };
  const std::atomic<uint64_t>* progress = &t.conn->header->out_progress;
  const bool complete = out != nullptr ? shm::CopyStreamed(progress, t.cq_index, out, src, floats, keep_waiting) == floats
                                       : shm::WaitStreamed(progress, t.cq_index, floats, keep_waiting);
  if (complete) return LAM_STATUS_OK;
  return died ? LAM_STATUS_DAEMON_UNAVAILABLE : LAM_STATUS_TIMEOUT;
}

// One step of progress on `conn`: either this thread becomes the leader and drains the
// completion ring (sleeping on its futex), or it waits for the leader to publish. `once`: a
// single non-blocking drain (poll).
void Client::Pump(std::unique_lock<std::mutex>& lk, std::shared_ptr<Connection> conn, int64_t deadline,
                  bool once) {
  if (!leader_active_) {
    leader_active_ = true;
    lk.unlock();
    std::vector<Popped> got;
    bool dead = false;
    LeaderWait(conn.get(), once ? 0 : deadline, &got, &dead);
    lk.lock();
    leader_active_ = false;
    ApplyCompletionsLocked(conn.get(), got);
    if (dead) {
      conn->dead = true;
      if (conn_ == conn) DropConnectionLocked();
    }
    cv_.notify_all();
  } else if (!once) {
    const int64_t now = shm::MonotonicNs();
    const int64_t wake = std::min<int64_t>(deadline, now + kSliceNs);
    cv_.wait_for(lk, std::chrono::nanoseconds(std::max<int64_t>(wake - now, 0)));
  }
}

lam_status Client::WaitForRoomLocked(std::unique_lock<std::mutex>& lk, uint64_t bytes, int64_t deadline,
                                     uint64_t* off) {
  std::shared_ptr<Connection> conn = conn_;
  for (;;) {
    if (conn->dead || conn_ != conn) {
      return Fail(LAM_STATUS_DAEMON_UNAVAILABLE, "lost the daemon connection while waiting for ring space");
    }
    if (conn->outstanding < conn->header->cq_entries) {
      if (!conn->pending_frees.empty()) SweepPendingFreesLocked(conn.get());
      *off = conn->alloc.Allocate(bytes);
      if (*off != UINT64_MAX) return LAM_STATUS_OK;
      if (conn->outstanding == 0 && !conn->pending_frees.empty()) {
        // Room is held only by outputs the daemon is still streaming (microseconds).
        if (shm::MonotonicNs() >= deadline) {
          return Fail(LAM_STATUS_TIMEOUT, "timed out waiting for room in the shared-memory arena");
        }
        lk.unlock();
        sched_yield();
        lk.lock();
        if (!SocketAlive(conn.get())) {
          conn->dead = true;
          if (conn_ == conn) DropConnectionLocked();
        }
        continue;
      }
      if (conn->outstanding == 0) {
        return Fail(LAM_STATUS_TOO_LARGE,
                    "request needs " + std::to_string(bytes) + " arena bytes; " +
                        std::to_string(conn->alloc.used()) + " of " + std::to_string(conn->alloc.size()) +
                        " are held by unreleased results");
      }
    }
    if (shm::MonotonicNs() >= deadline) {
      return Fail(LAM_STATUS_TIMEOUT, "timed out waiting for room in the shared-memory ring/arena");
    }
    Pump(lk, conn, deadline, false);
  }
}

// Sizes a request's arena region (lengths, payload, outputs), waits for room and fills the
// descriptor; shared by the token and text submissions, which differ only in payload bytes.
lam_status Client::ReserveLocked(std::unique_lock<std::mutex>& lk, const std::shared_ptr<Connection>& conn,
                                 uint32_t opcode, uint64_t n, uint64_t payload_bytes, uint64_t total,
                                 uint32_t timeout_ms, shm::SubmitDesc* d, uint64_t* off, uint64_t* needed) {
  const uint32_t dim = conn->header->embedding_dim;
  *needed = A64(n * 4) + A64(payload_bytes) + A64(n * dim * 4);
  if (*needed > conn->header->arena_size) {
    return Fail(LAM_STATUS_TOO_LARGE, "request needs " + std::to_string(*needed) + " arena bytes; the arena has " +
                                          std::to_string(conn->header->arena_size) +
                                          " (open with lam_client_options.arena_bytes >= " +
                                          std::to_string(*needed) + ")");
  }
  if (lam_status st = WaitForRoomLocked(lk, *needed, DeadlineFor(timeout_ms), off); st != LAM_STATUS_OK) return st;
  d->ticket = next_ticket_++;
  d->opcode = opcode;
  d->n_seqs = static_cast<uint32_t>(n);
  const uint32_t t = timeout_ms == 0 ? timeout_ms_ : timeout_ms;
  d->timeout_ms = t == LAM_TIMEOUT_INFINITE ? 0 : t;
  d->lengths_offset = *off;
  d->tokens_offset = *off + A64(n * 4);
  d->output_offset = d->tokens_offset + A64(payload_bytes);
  d->total_tokens = total;
  return LAM_STATUS_OK;
}

lam_status Client::Submit(const lam_embed_tokens_request& req, lam_ticket* ticket) {
  if (req.n_sequences == 0) return Fail(LAM_STATUS_EMPTY_BATCH, "n_sequences is 0");
  if (req.lengths == nullptr) return Fail(LAM_STATUS_INVALID_ARG, "lengths is NULL");
  if (req.n_sequences > UINT32_MAX) return Fail(LAM_STATUS_INVALID_ARG, "n_sequences exceeds 2^32-1");
  uint64_t total = 0;
  for (size_t i = 0; i < req.n_sequences; ++i) total += req.lengths[i];
  if (total != 0 && req.token_ids == nullptr) return Fail(LAM_STATUS_INVALID_ARG, "token_ids is NULL");

  std::unique_lock<std::mutex> lk(mu_);
  if (lam_status st = EnsureConnectedLocked(); st != LAM_STATUS_OK) return st;
  std::shared_ptr<Connection> conn = conn_;
  const uint64_t n = req.n_sequences;
  shm::SubmitDesc d{};
  uint64_t off = 0;
  uint64_t needed = 0;
  if (lam_status st = ReserveLocked(lk, conn, shm::kOpEmbedTokens, n, total * 4, total, req.timeout_ms, &d, &off, &needed);
      st != LAM_STATUS_OK) {
    return st;
  }
  std::memcpy(conn->arena + d.lengths_offset, req.lengths, n * 4);
  if (total != 0) std::memcpy(conn->arena + d.tokens_offset, req.token_ids, total * 4);
  return PushLocked(conn, d, off, needed, ticket);
}

lam_status Client::PushLocked(const std::shared_ptr<Connection>& conn, const shm::SubmitDesc& d, uint64_t off,
                              uint64_t needed, lam_ticket* ticket) {
  if (!conn->sq.Push(d)) {  // cannot happen while outstanding <= cq_entries <= sq_entries
    conn->alloc.Free(off, needed);
    return Fail(LAM_STATUS_INTERNAL, "submission ring full");
  }
  ++conn->outstanding;
  // Lengths (uint32 each), then int32 token ids or the texts' bytes.
  CountSubmitLocked(*conn, d.n_seqs * uint64_t{4} +
                               (d.opcode == shm::kOpEmbedText ? d.total_tokens : d.total_tokens * 4));
  if (conn->header->daemon_polling.load(std::memory_order_seq_cst) == 0) {
    const uint64_t one = 1;
    if (::write(conn->doorbell.get(), &one, sizeof(one)) < 0 && errno != EAGAIN) {
      // The eventfd belongs to the daemon too; failing to ring it means the daemon is gone.
      conn->dead = true;
    }
  }
  Ticket tk;
  tk.conn = conn;
  tk.arena_off = off;
  tk.arena_bytes = needed;
  tk.out_off = d.output_offset;
  tk.n_seqs = d.n_seqs;
  tickets_.emplace(d.ticket, std::move(tk));
  *ticket = d.ticket;
  return LAM_STATUS_OK;
}

lam_status Client::SubmitText(const lam_embed_text_request& req, lam_ticket* ticket) {
  if (req.n_texts == 0) return Fail(LAM_STATUS_EMPTY_BATCH, "n_texts is 0");
  if (req.texts == nullptr) return Fail(LAM_STATUS_INVALID_ARG, "texts is NULL");
  if (req.n_texts > UINT32_MAX) return Fail(LAM_STATUS_INVALID_ARG, "n_texts exceeds 2^32-1");
  std::vector<uint32_t> lengths(req.n_texts);
  uint64_t total = 0;
  for (size_t i = 0; i < req.n_texts; ++i) {
    if (req.texts[i] == nullptr && (req.lengths == nullptr || req.lengths[i] != 0)) {
      return Fail(LAM_STATUS_INVALID_ARG, "texts[" + std::to_string(i) + "] is NULL");
    }
    const size_t len = req.lengths != nullptr ? req.lengths[i] : std::strlen(req.texts[i]);
    if (len > UINT32_MAX) {
      return Fail(LAM_STATUS_TOO_LARGE, "text " + std::to_string(i) + " is longer than 2^32-1 bytes");
    }
    lengths[i] = static_cast<uint32_t>(len);
    total += len;
  }

  std::unique_lock<std::mutex> lk(mu_);
  if (lam_status st = EnsureConnectedLocked(); st != LAM_STATUS_OK) return st;
  std::shared_ptr<Connection> conn = conn_;
  if (conn->header->proto_minor < shm::kShmMinorEmbedText) {
    return Fail(LAM_STATUS_PROTOCOL_MISMATCH, "the daemon speaks shm protocol 1." +
                                                  std::to_string(conn->header->proto_minor) +
                                                  ", which has no text requests (needs 1." +
                                                  std::to_string(shm::kShmMinorEmbedText) + ")");
  }
  if (req.max_tokens != 0 && conn->header->proto_minor < shm::kShmMinorTextMaxTokens) {
    return Fail(LAM_STATUS_PROTOCOL_MISMATCH, "the daemon speaks shm protocol 1." +
                                                  std::to_string(conn->header->proto_minor) +
                                                  ", which ignores a text request's max_tokens (needs 1." +
                                                  std::to_string(shm::kShmMinorTextMaxTokens) + ")");
  }
  const uint64_t n = req.n_texts;
  shm::SubmitDesc d{};
  uint64_t off = 0;
  uint64_t needed = 0;
  if (lam_status st = ReserveLocked(lk, conn, shm::kOpEmbedText, n, total, total, req.timeout_ms, &d, &off, &needed);
      st != LAM_STATUS_OK) {
    return st;
  }
  d.reserved = req.max_tokens;
  std::memcpy(conn->arena + d.lengths_offset, lengths.data(), n * 4);
  char* dst = conn->arena + d.tokens_offset;
  for (size_t i = 0; i < n; ++i) {
    if (lengths[i] != 0) std::memcpy(dst, req.texts[i], lengths[i]);
    dst += lengths[i];
  }
  return PushLocked(conn, d, off, needed, ticket);
}

lam_status Client::SubmitNop(uint32_t timeout_ms, lam_ticket* ticket) {
  std::unique_lock<std::mutex> lk(mu_);
  if (lam_status st = EnsureConnectedLocked(); st != LAM_STATUS_OK) return st;
  std::shared_ptr<Connection> conn = conn_;
  const int64_t deadline = DeadlineFor(timeout_ms);
  while (conn->outstanding >= conn->header->cq_entries) {
    if (conn->dead || conn_ != conn) return Fail(LAM_STATUS_DAEMON_UNAVAILABLE, "lost the daemon connection");
    if (shm::MonotonicNs() >= deadline) return Fail(LAM_STATUS_TIMEOUT, "timed out waiting for ring space");
    Pump(lk, conn, deadline, false);
  }
  shm::SubmitDesc d{};
  d.ticket = next_ticket_++;
  d.opcode = shm::kOpNop;
  if (!conn->sq.Push(d)) return Fail(LAM_STATUS_INTERNAL, "submission ring full");
  ++conn->outstanding;
  CountSubmitLocked(*conn, 0);
  if (conn->header->daemon_polling.load(std::memory_order_seq_cst) == 0) {
    const uint64_t one = 1;
    if (::write(conn->doorbell.get(), &one, sizeof(one)) < 0 && errno != EAGAIN) conn->dead = true;
  }
  Ticket tk;
  tk.conn = conn;
  tickets_.emplace(d.ticket, std::move(tk));
  *ticket = d.ticket;
  return LAM_STATUS_OK;
}

lam_status Client::Wait(lam_ticket ticket, uint32_t timeout_ms, bool poll, float* out, size_t cap, size_t* count,
                        lam_result* result) {
  std::unique_lock<std::mutex> lk(mu_);
  const int64_t deadline = poll ? 0 : DeadlineFor(timeout_ms);
  bool polled = false;
  for (;;) {
    auto it = tickets_.find(ticket);
    if (it == tickets_.end()) return Fail(LAM_STATUS_INVALID_ARG, "unknown ticket " + std::to_string(ticket));
    Ticket& tk = it->second;
    if (tk.done) {
      const shm::CompletionDesc& c = tk.comp;
      if (c.status != LAM_STATUS_OK) {
        std::string msg = c.message;
        if (c.status == LAM_STATUS_TOO_LARGE && c.detail != 0 && msg.empty()) {
          msg = "request needs " + std::to_string(c.detail) + " arena bytes";
        }
        const lam_status st = c.status;
        FreeTicketLocked(tk);
        tickets_.erase(it);
        return Fail(st, msg);
      }
      const uint32_t dim = tk.conn->header ? tk.conn->header->embedding_dim : 0;
      if (c.n_seqs != tk.n_seqs) {
        FreeTicketLocked(tk);
        tickets_.erase(it);
        return Fail(LAM_STATUS_INTERNAL, "completion carries " + std::to_string(c.n_seqs) + " rows for " +
                                             std::to_string(tk.n_seqs) + " sequences");
      }
      const size_t floats = tk.n_seqs * dim;
      if (poll && OutputReady(tk) < floats) return LAM_STATUS_PENDING;  // rows still streaming in
      if (result != nullptr || (floats <= cap && out != nullptr)) {
        // The rows may still be streaming in (large outputs): wait for them, copying as they come.
        const lam_status st = AwaitOutputLocked(tk, result != nullptr ? nullptr : out, deadline);
        if (st == LAM_STATUS_TIMEOUT) {
          return Fail(st, "the answer's rows did not finish arriving within the timeout; the ticket stays valid");
        }
        if (st != LAM_STATUS_OK) {
          tk.conn->dead = true;
          if (conn_ == tk.conn) DropConnectionLocked();
          FreeTicketLocked(tk);
          tickets_.erase(it);
          return Fail(st, "the daemon died while writing the answer's rows");
        }
      }
      if (result != nullptr) {
        result->embedding_dim = dim;
        result->n_sequences = tk.n_seqs;
        result->data = tk.n_seqs != 0 ? reinterpret_cast<const float*>(tk.conn->arena + tk.out_off) : nullptr;
        result->internal_[0] = ticket;
        result->internal_[1] = tk.conn->header->daemon_epoch;
        held_.emplace(ticket, std::move(tk));
        tickets_.erase(it);
        last_error_.clear();
        return LAM_STATUS_OK;
      }
      if (count != nullptr) *count = floats;
      if (floats > cap || (floats != 0 && out == nullptr)) {
        return Fail(LAM_STATUS_BUFFER_TOO_SMALL, "result needs " + std::to_string(floats) + " floats; capacity is " +
                                                     std::to_string(cap));
      }
      FreeTicketLocked(tk);
      tickets_.erase(it);
      last_error_.clear();
      return LAM_STATUS_OK;
    }
    if (tk.conn->dead || tk.conn != conn_) {
      FreeTicketLocked(tk);
      tickets_.erase(it);
      return Fail(LAM_STATUS_DAEMON_UNAVAILABLE, "the daemon connection was lost before the answer arrived");
    }
    if (poll) {
      if (polled || leader_active_) return LAM_STATUS_PENDING;
      polled = true;
      std::shared_ptr<Connection> conn = tk.conn;
      Pump(lk, conn, deadline, true);
      continue;
    }
    if (shm::MonotonicNs() >= deadline) {
      return Fail(LAM_STATUS_TIMEOUT, "no answer within the timeout; the ticket stays valid");
    }
    std::shared_ptr<Connection> conn = tk.conn;
    Pump(lk, conn, deadline, false);
  }
}

lam_status Client::Cancel(lam_ticket ticket) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tickets_.find(ticket);
  if (it == tickets_.end()) return Fail(LAM_STATUS_INVALID_ARG, "unknown ticket " + std::to_string(ticket));
  if (it->second.done || it->second.conn->dead || it->second.conn != conn_) {
    FreeTicketLocked(it->second);
    tickets_.erase(it);
  } else {
    it->second.orphan = true;  // the daemon will still write its output there
  }
  return LAM_STATUS_OK;
}

void Client::Release(lam_result* result) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = held_.find(result->internal_[0]);
  if (it != held_.end() && result->data != nullptr) {
    FreeTicketLocked(it->second);
    held_.erase(it);
  }
  result->embedding_dim = 0;
  result->n_sequences = 0;
  result->data = nullptr;
  result->internal_[0] = 0;
  result->internal_[1] = 0;
}

}  // namespace lam::client
