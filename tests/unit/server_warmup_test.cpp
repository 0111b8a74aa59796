// SPDX-License-Identifier: MIT
// Start-up is visible (issue 12, item 5): the control socket and HTTP answer from the start of
// warm-up. `lamctl status` sees state "warming" and the progress, a client's hello waits until
// the warm-up is done (then gets its segment), admin cache commands and HTTP embeddings are
// refused with DAEMON_UNAVAILABLE, and a failed or interrupted warm-up ends the daemon cleanly.
// A real Server in this process with a fake engine and a warm-up the test releases.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "unit/support/fake_engine.h"
#include "unit/support/inproc_server.h"

namespace lam::testing {
namespace {

using namespace std::chrono_literals;

// A warm-up that reports its first bucket and then waits for the test.
class HeldWarmup {
 public:
  server::WarmupFn Fn(Status outcome = Status::Ok()) {
    return [this, outcome](const server::WarmupProgressFn& progress) -> Result<server::WarmupInfo> {
      cache::WarmProgress p;
      p.index = 1;
      p.total = 2;
      p.bucket = "64x128";
      p.source = cache::WarmProgress::Source::kCompiled;
      progress(p);
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return released_; });
      if (!outcome.ok()) return outcome;
      server::WarmupInfo info;
      info.buckets = {"64x128", "64x8192"};
      info.steps = {"64x128:compiled:1.0ms", "64x8192:compiled:2.0ms"};
      info.total_seconds = 0.5;
      return info;
    };
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
};

class ServerWarmupTest : public ::testing::Test {
 protected:
  void TearDown() override {
    warm_.Release();
    server_.Stop();
  }
  nlohmann::json StatusDoc() {
    RawControl c;
    EXPECT_TRUE(c.Connect(server_.socket()));
    EXPECT_EQ(c.Hello(), LAM_STATUS_OK) << "a connection without a segment is answered during warm-up";
    std::string reply;
    EXPECT_TRUE(c.Call(shm::kFrameStatusRequest, "", shm::kFrameStatusReply, &reply));
    return nlohmann::json::parse(reply, nullptr, false);
  }
  // Polls the status until server.state is `state` and at least `done` warm-up buckets are
  // reported (the warm-up thread reports its first bucket some time after the state turns
  // warming); returns the last document.
  nlohmann::json WaitState(const std::string& state, int done = 0) {
    nlohmann::json doc;
    for (int i = 0; i < 300; ++i) {
      doc = StatusDoc();
      if (!doc.is_discarded() && doc["server"]["state"] == state &&
          doc["executables"].value("warmup_buckets_done", 0) >= done) {
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    return doc;
  }

  FakeEngine engine_;
  HeldWarmup warm_;
  InprocServer server_;
};

TEST_F(ServerWarmupTest, StatusShowsWarmingAndAHelloWaitsForTheWarmupThenGetsItsSegment) {
  ASSERT_TRUE(server_.Start(&engine_, {}, warm_.Fn()).ok());
  const auto doc = WaitState("warming", 1);
  ASSERT_EQ(doc["server"]["state"], "warming") << doc.dump();
  EXPECT_EQ(doc["executables"]["warmup_buckets_done"].get<int>(), 1);
  EXPECT_EQ(doc["executables"]["warmup_buckets_total"].get<int>(), 2);

  // A data-plane client's hello is held, not refused: it waits inside its connect timeout.
  RawControl client;
  ASSERT_TRUE(client.Connect(server_.socket()));
  shm::HelloRequest h{};
  h.struct_size = sizeof(h);
  h.abi_version = LAM_VERSION_NUMBER;
  h.shm_major = shm::kShmProtoMajor;
  h.shm_minor = shm::kShmProtoMinor;
  h.ctl_minor = shm::kControlProtoMinor;
  h.flags = shm::kHelloWantSegment;
  h.arena_bytes = 65536;
  ASSERT_TRUE(client.Send(shm::kFrameHello, std::string(reinterpret_cast<const char*>(&h), sizeof(h))));
  EXPECT_EQ(client.ReadHelloReply(nullptr, 300), -1) << "answered before the warm-up finished";

  // Meanwhile the control plane answers: ping, and a cache warm is refused with a reason.
  RawControl admin;
  ASSERT_TRUE(admin.Connect(server_.socket()));
  ASSERT_EQ(admin.Hello(), LAM_STATUS_OK);
  std::string reply;
  ASSERT_TRUE(admin.Call(shm::kFramePing, "live?", shm::kFramePong, &reply));
  EXPECT_EQ(reply, "live?");
  ASSERT_TRUE(admin.Call(shm::kFrameCacheRequest, "warm", shm::kFrameCacheReply, &reply));
  const auto cache = nlohmann::json::parse(reply);
  EXPECT_EQ(cache.value("code", ""), "DAEMON_UNAVAILABLE") << reply;
  EXPECT_NE(cache.value("message", "").find("warming up (bucket 1 of 2 done (last 64x128))"), std::string::npos)
      << reply;

  warm_.Release();
  std::string msg;
  EXPECT_EQ(client.ReadHelloReply(&msg, 5000), LAM_STATUS_OK) << msg;
  const auto ready = WaitState("serving");
  ASSERT_EQ(ready["server"]["state"], "serving") << ready.dump();
  EXPECT_EQ(ready["executables"]["warmup_steps"].size(), 2u);
  EXPECT_DOUBLE_EQ(ready["executables"]["warmup_seconds"].get<double>(), 0.5);
  EXPECT_EQ(ready["clients"]["data_plane_clients"].get<int>(), 1) << ready["clients"].dump();
}

TEST_F(ServerWarmupTest, AFailedWarmupRefusesWaitingHellosAndEndsRunWithOne) {
  ASSERT_TRUE(server_.Start(&engine_, {}, warm_.Fn(Status(LAM_STATUS_INTERNAL, "injected compile failure"))).ok());
  ASSERT_EQ(WaitState("warming")["server"]["state"], "warming");
  RawControl client;
  ASSERT_TRUE(client.Connect(server_.socket()));
  ASSERT_TRUE(client.Send(shm::kFrameHello, [] {
    shm::HelloRequest h{};
    h.struct_size = sizeof(h);
    h.abi_version = LAM_VERSION_NUMBER;
    h.shm_major = shm::kShmProtoMajor;
    h.shm_minor = shm::kShmProtoMinor;
    h.flags = shm::kHelloWantSegment;
    return std::string(reinterpret_cast<const char*>(&h), sizeof(h));
  }()));
  std::this_thread::sleep_for(100ms);
  warm_.Release();
  std::string msg;
  EXPECT_EQ(client.ReadHelloReply(&msg, 5000), LAM_STATUS_DAEMON_UNAVAILABLE);
  EXPECT_NE(msg.find("shutting down"), std::string::npos) << msg;
  ASSERT_TRUE(server_.WaitRunReturned(10000)) << "a failed warm-up must end the daemon";
  EXPECT_EQ(server_.Stop(), 1);
}

TEST_F(ServerWarmupTest, StoppingDuringTheWarmupEndsRunAtOnceAndLeavesTheWarmupToTheExit) {
  ASSERT_TRUE(server_.Start(&engine_, {}, warm_.Fn()).ok());
  ASSERT_EQ(WaitState("warming")["server"]["state"], "warming");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(server_.StopLoop(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s) << "the stop waited for the warm-up";
  EXPECT_TRUE(server_.server()->must_exit_now()) << "lamd must _exit rather than join a warm-up";
}

TEST_F(ServerWarmupTest, WithoutAWarmupTheServerIsReadyAtOnce) {
  ASSERT_TRUE(server_.Start(&engine_).ok());
  EXPECT_EQ(StatusDoc()["server"]["state"], "serving");
  RawControl client;
  ASSERT_TRUE(client.Connect(server_.socket()));
  EXPECT_EQ(client.Hello(/*segment=*/true), LAM_STATUS_OK);
}

}  // namespace
}  // namespace lam::testing
