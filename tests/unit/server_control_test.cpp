// SPDX-License-Identifier: MIT
// The control plane against hostile frames and greedy users (issue 10, defects 2, 4 and 8), on a
// real Server in this process with a fake engine: a cache verb that is not UTF-8 gets an error
// reply instead of killing the daemon; an exception in a handler closes only that connection;
// cache warm runs off the loop; pending connections are capped and timed out; sessions are
// capped per uid.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

#include "unit/support/fake_engine.h"
#include "unit/support/inproc_server.h"

namespace lam::testing {
namespace {

using namespace std::chrono_literals;

// A fake engine whose Warm blocks until released and whose executable listing can be told to throw.
class ControlEngine : public FakeEngine {
 public:
  Status Warm(const std::function<void(const cache::WarmProgress&)>&) override {
    std::unique_lock<std::mutex> lock(mu_);
    warming_ = true;
    cv_.notify_all();
    cv_.wait(lock, [this] { return released_; });
    return Status::Ok();
  }
  std::vector<cache::BucketStats> ExecutableStats() const override {
    if (throw_on_stats.load()) throw std::runtime_error("injected failure in ExecutableStats");
    return {};
  }
  bool WaitWarming(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, d, [this] { return warming_; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  std::atomic<bool> throw_on_stats{false};

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool warming_ = false;
  bool released_ = false;
};

class ServerControlTest : public ::testing::Test {
 protected:
  void StartServer(const std::function<void(server::Config*)>& tweak = {}) {
    const Status st = server_.Start(&engine_, tweak);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void TearDown() override {
    engine_.Release();
    server_.Stop();
  }
  // A control connection past hello (as lamctl opens one).
  void Open(RawControl* c) {
    ASSERT_TRUE(c->Connect(server_.socket()));
    ASSERT_EQ(c->Hello(), LAM_STATUS_OK);
  }
  nlohmann::json StatusDoc() {
    RawControl c;
    Open(&c);
    std::string reply;
    EXPECT_TRUE(c.Call(shm::kFrameStatusRequest, "", shm::kFrameStatusReply, &reply));
    return nlohmann::json::parse(reply, nullptr, false);
  }
  void ExpectServing() {
    RawControl c;
    Open(&c);
    std::string pong;
    EXPECT_TRUE(c.Call(shm::kFramePing, "still there?", shm::kFramePong, &pong));
    EXPECT_EQ(pong, "still there?");
  }

  ControlEngine engine_;
  InprocServer server_;
};

TEST_F(ServerControlTest, CacheVerbsThatAreNotUtf8GetAnEscapedErrorAndTheServerServesOn) {
  StartServer();
  RawControl c;
  Open(&c);
  const std::string verbs[] = {
      std::string("\xff\xfe\x80 bad", 7),
      // "ls" and 13 ASCII bytes, then a 3-byte character cut after its first byte at 16 bytes.
      std::string("ls-------------\xe2\x82\xac", 18),
      std::string("\xe2\x82", 2),
      std::string("\0\0clear", 7),
  };
  for (const auto& verb : verbs) {
    std::string reply;
    ASSERT_TRUE(c.Call(shm::kFrameCacheRequest, verb, shm::kFrameCacheReply, &reply))
        << "no reply to a cache request of " << verb.size() << " bytes";
    const auto doc = nlohmann::json::parse(reply, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << reply;
    EXPECT_EQ(doc.value("status", ""), "error");
    EXPECT_EQ(doc.value("code", ""), "INVALID_ARG");
    const std::string msg = doc.value("message", "");
    EXPECT_NE(msg.find("unknown cache command"), std::string::npos) << msg;
    for (char ch : msg) EXPECT_TRUE(ch >= 0x20 && ch < 0x7f) << "unescaped byte in: " << msg;
  }
  std::string reply;
  ASSERT_TRUE(c.Call(shm::kFrameCacheRequest, "ls", shm::kFrameCacheReply, &reply));
  EXPECT_EQ(nlohmann::json::parse(reply).value("status", ""), "ok");
  ExpectServing();
}

TEST_F(ServerControlTest, AnExceptionInAHandlerClosesOnlyThatConnectionAndIsCounted) {
  StartServer();
  RawControl bystander;
  Open(&bystander);
  RawControl c;
  Open(&c);
  engine_.throw_on_stats = true;
  ASSERT_TRUE(c.Send(shm::kFrameCacheRequest, "ls"));
  EXPECT_TRUE(c.ClosedByPeer(5000)) << "the connection whose request threw should be closed";
  engine_.throw_on_stats = false;
  std::string pong;
  EXPECT_TRUE(bystander.Call(shm::kFramePing, "x", shm::kFramePong, &pong)) << "another connection was hurt";
  const auto st = StatusDoc();
  EXPECT_EQ(st["clients"]["callback_errors_total"].get<uint64_t>(), 1u);
}

TEST_F(ServerControlTest, CacheWarmRunsOffTheLoopThreadAndAnswersWhenDone) {
  StartServer();
  RawControl admin;
  Open(&admin);
  ASSERT_TRUE(admin.Send(shm::kFrameCacheRequest, "warm"));
  ASSERT_TRUE(engine_.WaitWarming(5s));
  // The loop serves others while the warm-up runs.
  RawControl other;
  ASSERT_TRUE(other.Connect(server_.socket()));
  ASSERT_EQ(other.Hello(), LAM_STATUS_OK) << "the loop is blocked by cache warm";
  std::string pong;
  EXPECT_TRUE(other.Call(shm::kFramePing, "p", shm::kFramePong, &pong, 2000));
  // A ping queued behind the warm on the same connection is answered after it, in order.
  ASSERT_TRUE(admin.Send(shm::kFramePing, "after"));
  engine_.Release();
  uint16_t type = 0;
  std::string reply;
  ASSERT_EQ(admin.Recv(&type, &reply), shm::RecvResult::kOk);
  ASSERT_EQ(type, shm::kFrameCacheReply);
  EXPECT_EQ(nlohmann::json::parse(reply).value("status", ""), "ok") << reply;
  ASSERT_EQ(admin.Recv(&type, &reply), shm::RecvResult::kOk);
  EXPECT_EQ(type, shm::kFramePong);
  EXPECT_EQ(reply, "after");
}

TEST_F(ServerControlTest, ConnectionsThatNeverSayHelloAreClosedAfterTheDeadline) {
  StartServer([](server::Config* c) { c->hello_timeout_ms = 150; });
  RawControl idle[3];
  for (auto& c : idle) ASSERT_TRUE(c.Connect(server_.socket()));
  RawControl greeted;
  Open(&greeted);
  for (auto& c : idle) {
    std::string msg;
    EXPECT_EQ(c.ReadHelloReply(&msg, 3000), LAM_STATUS_TIMEOUT) << "no reply before the hello deadline closed it";
    EXPECT_NE(msg.find("no hello within 150 ms"), std::string::npos) << msg;
    EXPECT_TRUE(c.ClosedByPeer(3000));
  }
  std::this_thread::sleep_for(300ms);
  std::string pong;
  EXPECT_TRUE(greeted.Call(shm::kFramePing, "x", shm::kFramePong, &pong)) << "a greeted connection timed out";
  const auto st = StatusDoc();
  EXPECT_EQ(st["clients"]["hello_timeouts_total"].get<uint64_t>(), 3u);
  EXPECT_EQ(st["clients"]["pending_connections"].get<uint64_t>(), 0u);
}

TEST_F(ServerControlTest, PendingConnectionsBeyondThePerUidCapAreRefusedAtOnce) {
  StartServer([](server::Config* c) {
    c->max_pending_per_uid = 4;
    c->hello_timeout_ms = 60000;
  });
  RawControl held[4];
  for (auto& c : held) ASSERT_TRUE(c.Connect(server_.socket()));
  std::this_thread::sleep_for(100ms);  // accepted, all four pending
  for (int i = 0; i < 3; ++i) {
    RawControl extra;
    ASSERT_TRUE(extra.Connect(server_.socket()));
    std::string msg;
    EXPECT_EQ(extra.ReadHelloReply(&msg, 3000), LAM_STATUS_OVERLOADED);
    EXPECT_NE(msg.find("max-pending-per-uid 4"), std::string::npos) << msg;
    EXPECT_TRUE(extra.ClosedByPeer(3000));
  }
  for (auto& c : held) EXPECT_FALSE(c.ClosedByPeer(50)) << "a pending connection within the cap was closed";
  // One of them says hello: its slot frees up for a new connection.
  ASSERT_EQ(held[0].Hello(), LAM_STATUS_OK);
  RawControl next;
  ASSERT_TRUE(next.Connect(server_.socket()));
  EXPECT_EQ(next.Hello(), LAM_STATUS_OK);
  held[1].Close();
  held[2].Close();
  held[3].Close();
  std::this_thread::sleep_for(100ms);
  const auto st = StatusDoc();
  EXPECT_EQ(st["clients"]["refused_pending_total"].get<uint64_t>(), 3u);
  EXPECT_EQ(st["clients"]["pending_connections"].get<uint64_t>(), 0u);
  EXPECT_GE(st["clients"]["pending_connections_high_water"].get<uint64_t>(), 4u);
}

TEST_F(ServerControlTest, PendingConnectionsBeyondTheOverallCapAreRefused) {
  StartServer([](server::Config* c) {
    c->max_pending_connections = 2;
    c->hello_timeout_ms = 60000;
  });
  RawControl held[2];
  for (auto& c : held) ASSERT_TRUE(c.Connect(server_.socket()));
  std::this_thread::sleep_for(100ms);
  RawControl extra;
  ASSERT_TRUE(extra.Connect(server_.socket()));
  std::string msg;
  EXPECT_EQ(extra.ReadHelloReply(&msg, 3000), LAM_STATUS_OVERLOADED);
  EXPECT_NE(msg.find("max-pending-connections 2"), std::string::npos) << msg;
}

TEST_F(ServerControlTest, SessionsBeyondThePerUidQuotaAreOverloadedButAnAdminCanStillLook) {
  StartServer([](server::Config* c) { c->max_sessions_per_uid = 2; });
  RawControl a, b, c;
  ASSERT_TRUE(a.Connect(server_.socket()));
  ASSERT_EQ(a.Hello(/*segment=*/true), LAM_STATUS_OK);
  ASSERT_TRUE(b.Connect(server_.socket()));
  ASSERT_EQ(b.Hello(/*segment=*/true), LAM_STATUS_OK);
  ASSERT_TRUE(c.Connect(server_.socket()));
  std::string msg;
  EXPECT_EQ(c.Hello(/*segment=*/true, &msg), LAM_STATUS_OVERLOADED);
  EXPECT_NE(msg.find("max-sessions-per-uid 2"), std::string::npos) << msg;
  // This process runs as an admin (root or lamd's own uid): its lamctl-style connections still work.
  const auto st = StatusDoc();
  EXPECT_EQ(st["clients"]["refused_quota_total"].get<uint64_t>(), 1u);
  EXPECT_EQ(st["clients"]["data_plane_clients"].get<uint64_t>(), 2u);
  // A session that ends frees its place.
  a.Close();
  std::this_thread::sleep_for(100ms);
  RawControl d;
  ASSERT_TRUE(d.Connect(server_.socket()));
  EXPECT_EQ(d.Hello(/*segment=*/true), LAM_STATUS_OK);
}

TEST_F(ServerControlTest, StatusNamesTheLimitsAndTheAdminSeesEveryClient) {
  StartServer([](server::Config* c) { c->max_clients = 40; });
  RawControl a;
  ASSERT_TRUE(a.Connect(server_.socket()));
  ASSERT_EQ(a.Hello(/*segment=*/true), LAM_STATUS_OK);
  const auto st = StatusDoc();
  EXPECT_EQ(st["clients"]["max_sessions_per_uid"].get<uint64_t>(), 10u) << "default: a quarter of max_clients";
  EXPECT_EQ(st["clients"]["list_scope"].get<std::string>(), "all");
  EXPECT_EQ(st["clients"]["list"].size(), 1u);
}

}  // namespace
}  // namespace lam::testing
