// SPDX-License-Identifier: MIT
// The client-side frame reader (liblamclient, lamctl): what it accepts and the status it gives.
#include "shm/frame_io.h"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace lam::shm {
namespace {

class FrameIoTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds_), 0); }
  void TearDown() override {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  void Write(const FrameHeader& h, const std::string& payload) {
    std::string buf(reinterpret_cast<const char*>(&h), sizeof(h));
    buf += payload;
    ASSERT_EQ(::write(fds_[1], buf.data(), buf.size()), static_cast<ssize_t>(buf.size()));
  }
  RecvResult Read(FrameHeader* h, std::vector<char>* payload) {
    std::vector<int> fds;
    return RecvFrame(fds_[0], h, payload, MonotonicNs() + 2'000'000'000, &fds);
  }
  int fds_[2] = {-1, -1};
};

TEST_F(FrameIoTest, AFrameOfOurMajorIsRead) {
  Write({kFrameMagic, kControlProtoMajor, kFramePong, 3, 0}, "abc");
  FrameHeader h{};
  std::vector<char> p;
  ASSERT_EQ(Read(&h, &p), RecvResult::kOk);
  EXPECT_EQ(h.type, kFramePong);
  EXPECT_EQ(std::string(p.begin(), p.end()), "abc");
}

TEST_F(FrameIoTest, AFrameOfAnotherControlMajorIsAVersionMismatchWithTheHeaderKept) {
  Write({kFrameMagic, static_cast<uint16_t>(kControlProtoMajor + 1), kFrameStatusReply, 2, 0}, "{}");
  FrameHeader h{};
  std::vector<char> p;
  EXPECT_EQ(Read(&h, &p), RecvResult::kVersionMismatch);
  EXPECT_EQ(h.proto_major, kControlProtoMajor + 1) << "the caller reports the peer's major";
  EXPECT_TRUE(p.empty()) << "a payload of unknown layout is not read";
}

TEST_F(FrameIoTest, AForeignMagicOrAnOversizedFrameIsABadFrame) {
  Write({0x12345678u, kControlProtoMajor, kFramePong, 0, 0}, "");
  FrameHeader h{};
  std::vector<char> p;
  EXPECT_EQ(Read(&h, &p), RecvResult::kBadFrame);
  Write({kFrameMagic, kControlProtoMajor, kFramePong, kMaxDaemonFramePayload + 1, 0}, "");
  EXPECT_EQ(Read(&h, &p), RecvResult::kBadFrame);
}

}  // namespace
}  // namespace lam::shm
