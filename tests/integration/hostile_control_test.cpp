// SPDX-License-Identifier: MIT
// A hostile client on the control socket (issue 10): every frame type and unknown ones, random
// payload bytes and sizes, frames split at random points, frames before hello, second hellos and
// foreign majors, in a loop, while a well-behaved liblamclient client keeps getting the same bits
// it got first. lamd must stay up and keep serving.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "integration/support/lamd_harness.h"
#include "lam/lam_version.h"
#include "unit/support/raw_control.h"

namespace lam::itest {
namespace {

using namespace std::chrono_literals;

class HostileControlTest : public LamdTest {
 protected:
  // Embeds a fixed set of sequences over and over; every answer must equal the first one.
  void GoodClient() {
    lam_status st;
    lam_client* c = OpenClient(socket_, &st);
    if (c == nullptr) {
      ++good_failures_;
      return;
    }
    std::vector<std::vector<int32_t>> seqs;
    for (uint64_t i = 0; i < 6; ++i) seqs.push_back(RandomSequence(100 + i, static_cast<uint32_t>(8 + 9 * i)));
    std::vector<std::vector<float>> first(seqs.size());
    std::vector<float> out(384);
    for (size_t i = 0; !stop_; ++i) {
      const auto& s = seqs[i % seqs.size()];
      const uint32_t len = static_cast<uint32_t>(s.size());
      lam_embed_tokens_request req = LAM_EMBED_TOKENS_REQUEST_INIT;
      req.token_ids = s.data();
      req.lengths = &len;
      req.n_sequences = 1;
      size_t n = 0;
      if (Api().embed_tokens(c, &req, out.data(), out.size(), &n) != LAM_STATUS_OK) {
        ++good_failures_;
        continue;
      }
      auto& ref = first[i % seqs.size()];
      if (ref.empty()) {
        ref.assign(out.begin(), out.begin() + static_cast<ptrdiff_t>(n));
      } else if (n != ref.size() || std::memcmp(out.data(), ref.data(), n * 4) != 0) {
        ++good_failures_;
      }
      ++good_requests_;
    }
    Api().client_close(c);
  }

  std::atomic<bool> stop_{false};
  std::atomic<int> good_failures_{0};
  std::atomic<int> good_requests_{0};
};

std::string Frame(uint16_t type, uint16_t major, const std::string& payload, uint32_t magic = shm::kFrameMagic) {
  std::string f(sizeof(shm::FrameHeader), '\0');
  const shm::FrameHeader h{magic, major, type, static_cast<uint32_t>(payload.size()), 0};
  std::memcpy(f.data(), &h, sizeof(h));
  return f + payload;
}

std::string HelloPayload(std::mt19937_64& rng, bool valid) {
  shm::HelloRequest h{};
  h.struct_size = sizeof(h);
  h.abi_version = LAM_VERSION_NUMBER;
  h.shm_major = shm::kShmProtoMajor;
  h.shm_minor = static_cast<uint16_t>(rng() % 4);
  h.flags = (rng() % 3 == 0) ? shm::kHelloWantSegment : 0;
  h.arena_bytes = 65536 << (rng() % 4);
  std::string p(reinterpret_cast<const char*>(&h), sizeof(h));
  if (!valid) {
    for (size_t i = 0; i < p.size(); ++i) {
      if (rng() % 4 == 0) p[i] = static_cast<char>(rng());
    }
    p.resize(rng() % (p.size() + 8));
  }
  return p;
}

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (auto& ch : s) ch = static_cast<char>(rng());
  return s;
}

// Writes `bytes` in random pieces with short pauses (partial frames), then drains replies.
void SendSplit(int fd, const std::string& bytes, std::mt19937_64& rng) {
  size_t off = 0;
  while (off < bytes.size()) {
    const size_t n = std::min(bytes.size() - off, 1 + rng() % 64);
    if (::send(fd, bytes.data() + off, n, MSG_NOSIGNAL) <= 0) return;  // the daemon hung up
    off += n;
    if (rng() % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
  }
  char buf[8192];
  while (::recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
  }
}

TEST_F(HostileControlTest, RandomControlFramesNeverHurtLamdOrAWellBehavedClient) {
  LamdProcess lamd(socket_, {"--max-delay-us", "500"});
  ASSERT_TRUE(lamd.Start());
  std::thread good([this] { GoodClient(); });
  struct Join {  // also when an assertion below ends the test early
    std::function<void()> f;
    ~Join() { f(); }
  } join{[&] {
    stop_ = true;
    if (good.joinable()) good.join();
  }};
  std::mt19937_64 rng(20261204);
  const std::string cache_verbs[] = {"ls", "clear", "ls\xff", std::string("\xe2\x82", 2), "", "warmer"};
  int rounds = 0;
  // At least 6 s of hostile rounds, and until the good client has been served at least 21 times
  // beside them (a sanitized lamd on a loaded machine serves it slowly), for at most 90 s.
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < start + 6s ||
         (good_requests_.load() <= 20 && std::chrono::steady_clock::now() < start + 90s)) {
    ++rounds;
    testing::RawControl c;
    ASSERT_TRUE(c.Connect(socket_)) << "lamd stopped accepting after round " << rounds;
    std::string bytes;
    const int scenario = static_cast<int>(rng() % 6);
    if (scenario == 0) {
      // Frames before hello.
      bytes += Frame(static_cast<uint16_t>(rng() % 12), shm::kControlProtoMajor, RandomBytes(rng, rng() % 200));
    } else if (scenario == 1) {
      // Garbage, or a header whose magic or size is wrong.
      bytes += rng() % 2 ? RandomBytes(rng, 1 + rng() % 300)
                         : Frame(shm::kFrameHello, shm::kControlProtoMajor, "", static_cast<uint32_t>(rng()));
      if (rng() % 2) {
        shm::FrameHeader h{shm::kFrameMagic, shm::kControlProtoMajor, shm::kFrameHello,
                           shm::kMaxClientFramePayload + 1 + static_cast<uint32_t>(rng() % 100000), 0};
        bytes.append(reinterpret_cast<const char*>(&h), sizeof(h));
      }
    } else if (scenario == 2) {
      // A hello that is malformed or of another major.
      bytes += Frame(shm::kFrameHello, rng() % 2 ? shm::kControlProtoMajor : static_cast<uint16_t>(rng()),
                     HelloPayload(rng, rng() % 2 == 0));
    } else if (scenario == 3) {
      // Half a frame, then hang up.
      const std::string f = Frame(shm::kFrameHello, shm::kControlProtoMajor, HelloPayload(rng, true));
      bytes += f.substr(0, rng() % f.size());
    } else {
      // A valid hello, then any frames: every type and unknown ones, random payloads, cache verbs
      // that are not UTF-8, second hellos, foreign majors.
      bytes += Frame(shm::kFrameHello, shm::kControlProtoMajor, HelloPayload(rng, true));
      const int n = 1 + static_cast<int>(rng() % 8);
      for (int i = 0; i < n; ++i) {
        const int kind = static_cast<int>(rng() % 10);
        if (kind < 3) {
          const std::string verb = rng() % 2 ? cache_verbs[rng() % 6] : RandomBytes(rng, rng() % 40);
          bytes += Frame(shm::kFrameCacheRequest, shm::kControlProtoMajor, verb);
        } else if (kind < 5) {
          bytes += Frame(rng() % 2 ? shm::kFrameStatusRequest : shm::kFramePing, shm::kControlProtoMajor,
                         RandomBytes(rng, rng() % 100));
        } else if (kind == 5) {
          bytes += Frame(shm::kFrameHello, shm::kControlProtoMajor, HelloPayload(rng, rng() % 2 == 0));
        } else if (kind == 6) {
          bytes += Frame(static_cast<uint16_t>(rng() % 12), static_cast<uint16_t>(rng()), RandomBytes(rng, rng() % 50));
        } else {
          bytes += Frame(static_cast<uint16_t>(rng()), shm::kControlProtoMajor, RandomBytes(rng, rng() % 300));
        }
      }
    }
    SendSplit(c.fd(), bytes, rng);
    if (rng() % 4 == 0) (void)c.ClosedByPeer(100);
  }
  stop_ = true;
  good.join();
  EXPECT_GT(rounds, 100);
  EXPECT_EQ(good_failures_.load(), 0) << "the well-behaved client saw a failure or other bits";
  EXPECT_GT(good_requests_.load(), 20);
  EXPECT_EQ(::kill(lamd.pid(), 0), 0) << "lamd died";
  int rc = -1;
  const auto doc = nlohmann::json::parse(Lamctl({"status", "--json", "--socket", socket_}, &rc), nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << "lamctl status failed after the hostile rounds";
  EXPECT_GT(doc["clients"]["protocol_errors_total"].get<uint64_t>(), 0u);
  EXPECT_EQ(doc["clients"]["callback_errors_total"].get<uint64_t>(), 0u) << "a handler threw";
  EXPECT_EQ(lamd.Stop(), 0);
}

}  // namespace
}  // namespace lam::itest
