// SPDX-License-Identifier: MIT
// liblamclient against a scripted daemon that streams large results (shm minor 2, shm/stream.h)
// at the pace each test dictates: the client must wait for rows still being written, hand out
// zero-copy pointers only to complete rows, never reuse an arena block the daemon may still be
// writing into, and neither hang nor return partial rows when the daemon dies or the caller's
// timeout ends mid-stream. An older daemon (minor 1) never writes the progress word and must not
// be waited for.
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <thread>
#include <vector>

#include "integration/support/lamd_harness.h"
#include "lam/lam.h"
#include "server/session.h"
#include "shm/frame_io.h"
#include "shm/futex.h"
#include "shm/protocol.h"
#include "shm/ring.h"
#include "shm/stream.h"

namespace lam::itest {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kDim = 384;
constexpr size_t kSeqs = 64;  // 64 x 384 floats = 96 KiB: streamed

// The value a scripted answer puts at float `i` of the request with `ticket`.
float RowValue(uint64_t ticket, size_t i) { return static_cast<float>(ticket * 100000 + i % 99991); }

// One connection's worth of lamd, driven step by step by the test.
class ScriptedDaemon {
 public:
  explicit ScriptedDaemon(const std::string& socket, uint16_t minor = shm::kShmProtoMinor)
      : socket_(socket), minor_(minor) {
    listen_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, socket.c_str(), sizeof(a.sun_path) - 1);
    ok_ = listen_ && ::bind(listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
          ::listen(listen_.get(), 4) == 0;
  }

  // Accepts one client and answers its hello with a fresh segment. Runs beside lam_client_open.
  bool Serve(uint64_t arena_bytes) {
    if (!ok_) return false;
    pollfd p{listen_.get(), POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1) return false;
    conn_.reset(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn_) return false;
    shm::FrameHeader fh{};
    std::vector<char> payload;
    std::vector<int> fds;
    if (shm::RecvFrame(conn_.get(), &fh, &payload, shm::MonotonicNs() + 10'000'000'000, &fds) != shm::RecvResult::kOk) {
      return false;
    }
    shm::HelloRequest hello{};
    std::memcpy(&hello, payload.data(), std::min(payload.size(), sizeof(hello)));
    server::SessionParams sp;
    sp.client_id = 1;
    sp.daemon_epoch = 0x5eed;
    sp.ring_entries = 16;
    sp.arena_bytes = arena_bytes;
    sp.embedding_dim = kDim;
    sp.stream_results = hello.shm_minor >= shm::kShmMinorStreamedResults && minor_ >= shm::kShmMinorStreamedResults;
    auto made = server::ClientSession::Create(sp);
    if (!made.ok()) return false;
    session_ = std::move(made.value());
    h_ = session_->header();
    h_->proto_minor = minor_;
    if (minor_ < shm::kShmMinorStreamedResults) h_->out_progress.store(0);  // an older daemon's reserved bytes
    arena_ = const_cast<char*>(session_->arena());
    char* base = reinterpret_cast<char*>(h_);
    sq_ = shm::SpscRing<shm::SubmitDesc>(reinterpret_cast<shm::RingCtl*>(base + h_->sq_offset), h_->sq_entries);
    cq_ = shm::SpscRing<shm::CompletionDesc>(reinterpret_cast<shm::RingCtl*>(base + h_->cq_offset), h_->cq_entries);

    shm::HelloReply r{};
    r.status = LAM_STATUS_OK;
    r.abi_version = LAM_VERSION_NUMBER;
    r.shm_major = shm::kShmProtoMajor;
    r.shm_minor = minor_;
    r.n_fds = 2;
    r.daemon_epoch = sp.daemon_epoch;
    r.segment_size = session_->segment_size();
    r.client_id = sp.client_id;
    r.embedding_dim = kDim;
    r.max_tokens = 512;
    r.vocab_size = 30522;
    r.n_buckets = 1;
    r.buckets[0] = 512;
    std::strncpy(r.model_name, "scripted", sizeof(r.model_name) - 1);
    std::strncpy(r.backend, "none", sizeof(r.backend) - 1);
    std::vector<char> frame(sizeof(shm::FrameHeader) + sizeof(r));
    const shm::FrameHeader rh{shm::kFrameMagic, shm::kControlProtoMajor, shm::kFrameHelloReply, sizeof(r), 0};
    std::memcpy(frame.data(), &rh, sizeof(rh));
    std::memcpy(frame.data() + sizeof(rh), &r, sizeof(r));
    const int out_fds[2] = {session_->memfd(), session_->doorbell_fd()};
    iovec iov{frame.data(), frame.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(out_fds))];
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof(cbuf);
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(out_fds));
    std::memcpy(CMSG_DATA(cm), out_fds, sizeof(out_fds));
    return ::sendmsg(conn_.get(), &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(frame.size());
  }

  // The next submission, polling the ring for up to timeout_ms.
  bool NextSubmission(shm::SubmitDesc* d, int timeout_ms) {
    const auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < until) {
      if (sq_.Pop(d)) return true;
      std::this_thread::sleep_for(200us);
    }
    return false;
  }

  // Publishes `d`'s completion and wakes the client, its rows still unwritten (a stream begins).
  uint32_t PushStreamed(const shm::SubmitDesc& d) {
    const uint32_t index = cq_.NextIndex();
    shm::BeginStream(&h_->out_progress, index);
    Push(d);
    return index;
  }
  // Writes `d`'s rows [0, floats) and publishes that progress.
  void Stream(uint32_t index, const shm::SubmitDesc& d, size_t floats) {
    Rows(d, floats);
    h_->out_progress.store(shm::PackProgress(index, static_cast<uint32_t>(floats)), std::memory_order_release);
  }
  void Finish(uint32_t index, const shm::SubmitDesc& d) {
    Rows(d, d.n_seqs * size_t{kDim});
    h_->out_progress.store(shm::PackProgress(index, shm::kStreamDone), std::memory_order_release);
  }
  // The unstreamed hand-over: all rows, then the completion.
  void PushWritten(const shm::SubmitDesc& d) {
    Rows(d, d.n_seqs * size_t{kDim});
    Push(d);
  }
  void Hangup() { conn_.reset(); }
  const char* arena() const { return arena_; }

 private:
  void Rows(const shm::SubmitDesc& d, size_t floats) {
    auto* out = reinterpret_cast<float*>(arena_ + d.output_offset);
    for (size_t i = 0; i < floats; ++i) out[i] = RowValue(d.ticket, i);
  }
  void Push(const shm::SubmitDesc& d) {
    shm::CompletionDesc c{};
    c.ticket = d.ticket;
    c.status = LAM_STATUS_OK;
    c.n_seqs = d.n_seqs;
    c.output_offset = d.output_offset;
    ASSERT_TRUE(cq_.Push(c));
    shm::NotifyConsumer(cq_.ctl());
  }

  std::string socket_;
  uint16_t minor_;
  bool ok_ = false;
  shm::UniqueFd listen_, conn_;
  std::shared_ptr<server::ClientSession> session_;
  shm::SegmentHeader* h_ = nullptr;
  char* arena_ = nullptr;
  shm::SpscRing<shm::SubmitDesc> sq_;
  shm::SpscRing<shm::CompletionDesc> cq_;
};

class StreamedResultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = SocketPath();
    for (size_t i = 0; i < kSeqs; ++i) {
      ids_.insert(ids_.end(), {101, static_cast<int32_t>(2000 + i), 102});
      lengths_.push_back(3);
    }
  }
  void TearDown() override {
    if (client_ != nullptr) Api().client_close(client_);
    RemoveSocketDir(socket_);
  }
  // Starts the scripted daemon and opens the client on it.
  void Open(ScriptedDaemon& d, uint64_t arena_bytes = 4u << 20) {
    auto served = std::async(std::launch::async, [&] { return d.Serve(arena_bytes); });
    lam_status st;
    client_ = OpenClient(socket_, &st, arena_bytes);
    ASSERT_TRUE(served.get());
    ASSERT_NE(client_, nullptr) << Api().status_str(st);
  }
  lam_embed_tokens_request Request(uint32_t timeout_ms = 20000) const {
    lam_embed_tokens_request r = LAM_EMBED_TOKENS_REQUEST_INIT;
    r.token_ids = ids_.data();
    r.lengths = lengths_.data();
    r.n_sequences = kSeqs;
    r.timeout_ms = timeout_ms;
    return r;
  }
  // lam_client_embed_tokens of the 64 sequences into *out on another thread.
  std::future<lam_status> EmbedAsync(std::vector<float>* out, uint32_t timeout_ms = 20000) {
    return std::async(std::launch::async, [this, out, timeout_ms] {
      const lam_embed_tokens_request req = Request(timeout_ms);
      size_t n = 0;
      return Api().embed_tokens(client_, &req, out->data(), out->size(), &n);
    });
  }
  static bool RowsOf(uint64_t ticket, const float* got) {
    for (size_t i = 0; i < kSeqs * kDim; ++i) {
      if (got[i] != RowValue(ticket, i)) return false;
    }
    return true;
  }

  std::string socket_;
  lam_client* client_ = nullptr;
  std::vector<int32_t> ids_;
  std::vector<uint32_t> lengths_;
};

TEST_F(StreamedResultsTest, CopyOutReturnsOnlyOnceTheDaemonHasWrittenEveryRow) {
  ScriptedDaemon daemon(socket_);
  Open(daemon);
  std::vector<float> out(kSeqs * kDim, -1.0f);
  std::atomic<bool> returned{false};
  std::atomic<int64_t> cpu_ns{0};
  auto call = std::async(std::launch::async, [&] {
    const lam_embed_tokens_request req = Request();
    size_t n = 0;
    timespec c0, c1;
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    const lam_status st = Api().embed_tokens(client_, &req, out.data(), out.size(), &n);
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    cpu_ns = (c1.tv_sec - c0.tv_sec) * 1'000'000'000LL + (c1.tv_nsec - c0.tv_nsec);
    returned = true;
    return st;
  });
  shm::SubmitDesc d{};
  ASSERT_TRUE(daemon.NextSubmission(&d, 10000));
  const uint32_t index = daemon.PushStreamed(d);
  daemon.Stream(index, d, kSeqs * kDim / 2);
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(returned.load()) << "the call returned with half of the rows unwritten";
  daemon.Finish(index, d);
  ASSERT_EQ(call.get(), LAM_STATUS_OK) << Api().client_last_error(client_);
  EXPECT_TRUE(RowsOf(d.ticket, out.data()));
  // A stream that stalls is waited for with sleeps, not by burning a core for 300 ms.
  EXPECT_LT(cpu_ns.load(), 100'000'000) << "the waiting thread used " << cpu_ns.load() / 1000000 << " ms of CPU";
}

TEST_F(StreamedResultsTest, AZeroCopyResultIsHandedOutOnlyWhenComplete) {
  ScriptedDaemon daemon(socket_);
  Open(daemon);
  lam_result res = LAM_RESULT_INIT;
  std::atomic<bool> returned{false};
  auto call = std::async(std::launch::async, [&] {
    const lam_embed_tokens_request req = Request();
    const lam_status st = Api().embed_tokens_result(client_, &req, &res);
    returned = true;
    return st;
  });
  shm::SubmitDesc d{};
  ASSERT_TRUE(daemon.NextSubmission(&d, 10000));
  const uint32_t index = daemon.PushStreamed(d);
  daemon.Stream(index, d, kSeqs * kDim - 1);  // all but the last float
  std::this_thread::sleep_for(150ms);
  EXPECT_FALSE(returned.load()) << "a pointer to incomplete rows was handed out";
  daemon.Finish(index, d);
  ASSERT_EQ(call.get(), LAM_STATUS_OK) << Api().client_last_error(client_);
  ASSERT_EQ(res.n_sequences, kSeqs);
  EXPECT_TRUE(RowsOf(d.ticket, res.data));
  Api().result_release(client_, &res);
}

TEST_F(StreamedResultsTest, ABlockStillBeingStreamedIntoIsNotReusedForTheNextRequest) {
  ScriptedDaemon daemon(socket_);
  Open(daemon, 160u << 10);  // room for one 64-row request at a time
  const lam_embed_tokens_request req = Request();
  lam_ticket abandoned = 0;
  ASSERT_EQ(Api().submit_tokens(client_, &req, &abandoned), LAM_STATUS_OK);
  ASSERT_EQ(Api().cancel(client_, abandoned), LAM_STATUS_OK);
  shm::SubmitDesc a{};
  ASSERT_TRUE(daemon.NextSubmission(&a, 10000));
  const uint32_t index = daemon.PushStreamed(a);  // answered, rows not yet written

  std::vector<float> out(kSeqs * kDim, -1.0f);
  auto call = EmbedAsync(&out);
  shm::SubmitDesc b{};
  EXPECT_FALSE(daemon.NextSubmission(&b, 300)) << "the next request was placed while the block was being written";
  daemon.Finish(index, a);
  ASSERT_TRUE(daemon.NextSubmission(&b, 10000)) << "the block was never given back";
  EXPECT_LT(b.output_offset + kSeqs * kDim * 4, 160u << 10);
  daemon.PushWritten(b);
  ASSERT_EQ(call.get(), LAM_STATUS_OK) << Api().client_last_error(client_);
  EXPECT_TRUE(RowsOf(b.ticket, out.data()));
}

TEST_F(StreamedResultsTest, ADaemonDyingMidStreamIsReportedWithinASecond) {
  ScriptedDaemon daemon(socket_);
  Open(daemon);
  std::vector<float> out(kSeqs * kDim);
  auto call = EmbedAsync(&out, 60000);
  shm::SubmitDesc d{};
  ASSERT_TRUE(daemon.NextSubmission(&d, 10000));
  const uint32_t index = daemon.PushStreamed(d);
  daemon.Stream(index, d, 4096);
  std::this_thread::sleep_for(50ms);
  const auto t0 = Clock::now();
  daemon.Hangup();
  ASSERT_EQ(call.wait_for(5s), std::future_status::ready) << "the client hung on a dead daemon's stream";
  EXPECT_LT(Clock::now() - t0, 1s);
  EXPECT_EQ(call.get(), LAM_STATUS_DAEMON_UNAVAILABLE);
}

TEST_F(StreamedResultsTest, ATimeoutMidStreamKeepsTheTicketForALaterWait) {
  ScriptedDaemon daemon(socket_);
  Open(daemon);
  const lam_embed_tokens_request req = Request();
  lam_ticket t = 0;
  ASSERT_EQ(Api().submit_tokens(client_, &req, &t), LAM_STATUS_OK);
  shm::SubmitDesc d{};
  ASSERT_TRUE(daemon.NextSubmission(&d, 10000));
  const uint32_t index = daemon.PushStreamed(d);
  std::vector<float> out(kSeqs * kDim, -1.0f);
  size_t n = 0;
  EXPECT_EQ(Api().poll(client_, t, out.data(), out.size(), &n), LAM_STATUS_PENDING);
  EXPECT_EQ(Api().wait(client_, t, 200, out.data(), out.size(), &n), LAM_STATUS_TIMEOUT);
  daemon.Finish(index, d);
  ASSERT_EQ(Api().wait(client_, t, 5000, out.data(), out.size(), &n), LAM_STATUS_OK) << Api().client_last_error(client_);
  EXPECT_EQ(n, kSeqs * kDim);
  EXPECT_TRUE(RowsOf(d.ticket, out.data()));
}

TEST_F(StreamedResultsTest, AnOlderDaemonsSegmentIsNeverWaitedOn) {
  // A minor-1 daemon writes every row before the completion and leaves the progress word at
  // zero, which reads as "ring index 0, nothing written": the client must not believe it.
  ScriptedDaemon daemon(socket_, 1);
  Open(daemon);
  std::vector<float> out(kSeqs * kDim, -1.0f);
  auto call = EmbedAsync(&out, 5000);
  shm::SubmitDesc d{};
  ASSERT_TRUE(daemon.NextSubmission(&d, 10000));
  daemon.PushWritten(d);  // completion ring index 0
  ASSERT_EQ(call.get(), LAM_STATUS_OK) << Api().client_last_error(client_);
  EXPECT_TRUE(RowsOf(d.ticket, out.data()));
}

}  // namespace
}  // namespace lam::itest
