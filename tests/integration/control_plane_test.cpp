// SPDX-License-Identifier: MIT
// The control socket of a real lamd (issue 10, defects 2, 4 and 8): a cache request whose bytes
// are not UTF-8 gets an error while lamd serves on; users other than lamd's own (nobody, via
// setuid, so these tests need root) cannot hold pending connections beyond the cap or past the
// hello deadline, cannot take more sessions than their quota, see only their own clients in the
// status and cannot clear or warm the cache.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "integration/support/lamd_harness.h"
#include "integration/support/reference_pool.h"
#include "unit/support/raw_control.h"

namespace lam::itest {
namespace {

using namespace std::chrono_literals;
using testing::RawControl;

constexpr uid_t kNobody = 65534;

// fn() in a forked child as uid/gid nobody. Fork it while the test process has one thread (before
// any std::thread or reference engine): a child forked beside other threads may inherit a lock one
// of them held (the sanitizer allocator's, the TBB pool's) and hang in its first malloc.
class NobodyChild {
 public:
  explicit NobodyChild(const std::function<int()>& fn) {
    (void)Api();  // load liblamclient before fork
    pid_ = ::fork();
    if (pid_ == 0) {
      if (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) _exit(90);
      _exit(fn());
    }
  }
  // Its exit code, or -1 (crash, timeout, no fork).
  int Wait(int timeout_ms = 60000) {
    if (pid_ <= 0) return -1;
    const int status = WaitPid(pid_, timeout_ms);
    pid_ = -1;
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  ~NobodyChild() { (void)Wait(0); }
  NobodyChild(const NobodyChild&) = delete;
  NobodyChild& operator=(const NobodyChild&) = delete;

 private:
  pid_t pid_ = -1;
};

int AsNobody(const std::function<int()>& fn) { return NobodyChild(fn).Wait(); }

nlohmann::json StatusOf(const std::string& socket) {
  int rc = 0;
  return nlohmann::json::parse(Lamctl({"status", "--json", "--socket", socket}, &rc), nullptr, false);
}

// One sequence through liblamclient: OK and the expected bits.
bool EmbedsExactly(lam_client* c, const std::vector<int32_t>& seq, const std::vector<float>& want) {
  std::vector<float> out(want.size());
  const uint32_t len = static_cast<uint32_t>(seq.size());
  lam_embed_tokens_request req = LAM_EMBED_TOKENS_REQUEST_INIT;
  req.token_ids = seq.data();
  req.lengths = &len;
  req.n_sequences = 1;
  size_t n = 0;
  return Api().embed_tokens(c, &req, out.data(), out.size(), &n) == LAM_STATUS_OK &&
         std::memcmp(out.data(), want.data(), want.size() * 4) == 0;
}

class ControlPlaneTest : public LamdTest {};

TEST_F(ControlPlaneTest, ACacheRequestThatIsNotUtf8GetsAnErrorAndLamdServesOn) {
  LamdProcess lamd(socket_);
  ASSERT_TRUE(lamd.Start());
  const ReferencePool pool = ReferencePool::Build(ModelDir(), 2, 16, 7);
  lam_status st;
  lam_client* good = OpenClient(socket_, &st);
  ASSERT_NE(good, nullptr);
  ASSERT_TRUE(EmbedsExactly(good, pool.seqs[0], pool.embeddings[0]));
  RawControl c;
  ASSERT_TRUE(c.Connect(socket_));
  ASSERT_EQ(c.Hello(), LAM_STATUS_OK);
  // Invalid UTF-8, and a 3-byte character split by the daemon's old 16-byte cut.
  for (const std::string& verb : {std::string("\xff\xfe\xfd\xfc", 4), std::string("warm-----------\xe2\x82\xac", 18)}) {
    std::string reply;
    ASSERT_TRUE(c.Call(shm::kFrameCacheRequest, verb, shm::kFrameCacheReply, &reply)) << "lamd did not answer";
    const auto doc = nlohmann::json::parse(reply, nullptr, false);
    ASSERT_FALSE(doc.is_discarded());
    EXPECT_EQ(doc.value("status", ""), "error");
    EXPECT_NE(doc.value("message", "").find("unknown cache command"), std::string::npos);
  }
  EXPECT_EQ(::kill(lamd.pid(), 0), 0) << "lamd died";
  EXPECT_TRUE(EmbedsExactly(good, pool.seqs[1], pool.embeddings[1]));
  EXPECT_FALSE(StatusOf(socket_).is_discarded());
  Api().client_close(good);
  EXPECT_EQ(lamd.Stop(), 0);
}

// With the default limits: nobody (refused by the allow-list) opens 70 connections and never says
// hello. 64 are held (max-pending-per-uid), the rest are refused at once with OVERLOADED, and the
// held ones are closed by the 5 s hello deadline. Root is served meanwhile.
TEST_F(ControlPlaneTest, ADisallowedUidCannotHoldPendingConnectionsBeyondTheCapOrPastTheDeadline) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as another uid (nobody)";
  LamdProcess lamd(socket_, {"--socket-mode", "0666", "--allow-group", ""});
  ASSERT_TRUE(lamd.Start());
  const std::string sock = socket_;
  const int code = AsNobody([&sock] {
    std::vector<RawControl> conns(70);
    for (auto& c : conns) {
      if (!c.Connect(sock)) return 10;
    }
    std::this_thread::sleep_for(200ms);
    int refused = 0;
    for (size_t i = 64; i < conns.size(); ++i) {
      std::string msg;
      if (conns[i].ReadHelloReply(&msg, 2000) == LAM_STATUS_OVERLOADED &&
          msg.find("max-pending-per-uid 64") != std::string::npos && conns[i].ClosedByPeer(2000)) {
        ++refused;
      }
    }
    if (refused != 6) return 11;  // the ones beyond the cap were not refused
    for (size_t i = 0; i < 64; ++i) {
      if (conns[i].ClosedByPeer(0)) return 12;  // one within the cap was closed early
    }
    // The hello deadline (5 s) closes the held ones, with a reply that says why.
    for (size_t i = 0; i < 64; ++i) {
      if (conns[i].ReadHelloReply(nullptr, 10000) != LAM_STATUS_TIMEOUT) return 13;
    }
    return 0;
  });
  EXPECT_EQ(code, 0) << "10 connect failed, 11 not refused beyond the cap, 12 closed within it, "
                        "13 not closed by the hello deadline";
  lam_status st;
  lam_client* c = OpenClient(socket_, &st);
  EXPECT_NE(c, nullptr) << "root was refused";
  Api().client_close(c);
  const auto doc = StatusOf(socket_);
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_EQ(doc["clients"]["refused_pending_total"].get<uint64_t>(), 6u);
  EXPECT_EQ(doc["clients"]["hello_timeouts_total"].get<uint64_t>(), 64u);
  EXPECT_EQ(doc["clients"]["pending_connections"].get<uint64_t>(), 0u);
  EXPECT_EQ(lamd.Stop(), 0);
}

// nobody may connect but not beyond its quota of 2 sessions; root's sessions are its own.
TEST_F(ControlPlaneTest, OneUidBeyondItsSessionQuotaIsOverloadedWhileAnotherUidIsServed) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as another uid (nobody)";
  LamdProcess lamd(socket_, {"--socket-mode", "0666", "--allow-group", "", "--allow-uids", "65534",
                             "--max-sessions-per-uid", "2"});
  ASSERT_TRUE(lamd.Start());
  int go[2], done[2];
  ASSERT_EQ(::pipe(go), 0);
  ASSERT_EQ(::pipe(done), 0);
  const std::string sock = socket_;
  NobodyChild nobody([&] {
    lam_status st;
    lam_client* a = OpenClient(sock, &st);
    lam_client* b = OpenClient(sock, &st);
    if (a == nullptr || b == nullptr) return 10;
    lam_client* c = OpenClient(sock, &st);
    if (c != nullptr) return 11;
    if (st != LAM_STATUS_OVERLOADED) return 12;
    (void)!::write(done[1], "d", 1);
    char g = 0;
    if (::read(go[0], &g, 1) != 1) return 13;
    Api().client_close(a);
    Api().client_close(b);
    return 0;
  });
  const ReferencePool pool = ReferencePool::Build(ModelDir(), 1, 16, 11);
  std::thread parent_side([&] {
    char b = 0;
    if (::read(done[0], &b, 1) != 1) return;  // nobody holds its two sessions now
    lam_status st;
    lam_client* r1 = OpenClient(sock, &st);
    lam_client* r2 = OpenClient(sock, &st);
    EXPECT_NE(r1, nullptr) << "root was refused while nobody was at its quota";
    EXPECT_NE(r2, nullptr);
    if (r1 != nullptr) {
      EXPECT_TRUE(EmbedsExactly(r1, pool.seqs[0], pool.embeddings[0]));
    }
    Api().client_close(r1);
    Api().client_close(r2);
    (void)!::write(go[1], "g", 1);
  });
  const int code = nobody.Wait();
  (void)!::write(done[1], "x", 1);  // in case the child failed before signalling
  parent_side.join();
  EXPECT_EQ(code, 0) << "10 open failed, 11 third session accepted, 12 refused without OVERLOADED";
  for (int fd : {go[0], go[1], done[0], done[1]}) ::close(fd);
  const auto doc = StatusOf(socket_);
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_EQ(doc["clients"]["refused_quota_total"].get<uint64_t>(), 1u);
  EXPECT_EQ(lamd.Stop(), 0);
}

// nobody sees its own client in the status but not root's, and may list the cache but not clear
// or warm it; root sees both clients and may clear.
TEST_F(ControlPlaneTest, StatusAndCacheChangesAreForAdminsOnly) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as another uid (nobody)";
  LamdProcess lamd(socket_, {"--socket-mode", "0666", "--allow-group", "", "--allow-uids", "65534"});
  ASSERT_TRUE(lamd.Start());
  lam_status st;
  lam_client* mine = OpenClient(socket_, &st);
  ASSERT_NE(mine, nullptr);
  int hold[2], go[2];
  ASSERT_EQ(::pipe(hold), 0);
  ASSERT_EQ(::pipe(go), 0);
  const std::string sock = socket_;
  NobodyChild nobody([&] {
    lam_status s;
    lam_client* own = OpenClient(sock, &s);
    if (own == nullptr) return 10;
    RawControl c;
    if (!c.Connect(sock) || c.Hello() != LAM_STATUS_OK) return 11;
    std::string reply;
    if (!c.Call(shm::kFrameStatusRequest, "", shm::kFrameStatusReply, &reply)) return 12;
    const auto doc = nlohmann::json::parse(reply, nullptr, false);
    if (doc.is_discarded()) return 12;
    const auto& list = doc["clients"]["list"];
    if (list.size() != 1 || list[0]["uid"].get<int64_t>() != kNobody) return 13;  // sees root's client
    if (doc["clients"]["list_scope"] != "own_uid") return 13;
    for (const char* verb : {"clear", "warm"}) {
      if (!c.Call(shm::kFrameCacheRequest, verb, shm::kFrameCacheReply, &reply)) return 14;
      const auto r = nlohmann::json::parse(reply, nullptr, false);
      if (r.is_discarded() || r.value("status", "") != "error" || r.value("code", "") != "PERMISSION_DENIED" ||
          r.value("message", "").find("admin-uids") == std::string::npos) {
        return 15;  // a cache change by a uid that is not an admin
      }
    }
    if (!c.Call(shm::kFrameCacheRequest, "ls", shm::kFrameCacheReply, &reply)) return 16;
    if (nlohmann::json::parse(reply, nullptr, false).value("status", "") != "ok") return 16;
    (void)!::write(hold[1], "h", 1);
    char g = 0;
    if (::read(go[0], &g, 1) != 1) return 17;  // root has looked
    Api().client_close(own);
    return 0;
  });
  std::thread parent_side([&] {
    char b = 0;
    if (::read(hold[0], &b, 1) != 1) return;  // nobody's client is open now
    struct Release {
      int fd;
      ~Release() { (void)!::write(fd, "g", 1); }
    } release{go[1]};
    const auto doc = StatusOf(sock);
    ASSERT_FALSE(doc.is_discarded());
    EXPECT_EQ(doc["clients"]["list_scope"], "all");
    std::set<int64_t> uids;
    for (const auto& e : doc["clients"]["list"]) uids.insert(e["uid"].get<int64_t>());
    EXPECT_EQ(uids, (std::set<int64_t>{0, kNobody})) << "root sees every client";
  });
  const int code = nobody.Wait();
  (void)!::write(hold[1], "x", 1);  // in case the child failed before signalling
  parent_side.join();
  EXPECT_EQ(code, 0) << "10/11 connect failed, 12 no status, 13 saw another uid's client, "
                        "15 cache clear|warm allowed, 16 cache ls refused";
  for (int fd : {hold[0], hold[1], go[0], go[1]}) ::close(fd);
  const auto doc = StatusOf(socket_);
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_EQ(doc["clients"]["admin_refused_total"].get<uint64_t>(), 2u);
  int rc = -1;
  Lamctl({"cache", "clear", "--socket", socket_}, &rc);
  EXPECT_EQ(rc, 0) << "root may clear the cache";
  Api().client_close(mine);
  EXPECT_EQ(lamd.Stop(), 0);
}

}  // namespace
}  // namespace lam::itest
