// SPDX-License-Identifier: MIT
// libFuzzer: control frames through a real lam::server::Server (fake engine; started once) over a
// real Unix connection. Each input is one connection: a list of records, each sent as it is
// built (so frames arrive whole, split or glued together), then the write side is shut and
// everything the daemon answers is read until it hangs up. A crash, a sanitizer report, a leak or
// a daemon that does not hang up within 5 s is a finding.
//
// Input records: [u8 op][fields...]
//   op % 5 == 0  raw bytes:      [u8 n][n bytes]
//   op % 5 == 1  any frame:      [u16 type][u8 major_sel][u16 size][size bytes] (major_sel 0: ours,
//                                1: the next byte, 2: a lying payload_size)
//   op % 5 == 2  hello:          [u8 flags][u8 shm_minor][u8 arena_log2][u8 mutate][u8 abi_sel]
//   op % 5 == 3  cache request:  [u8 n][n bytes of verb]
//   op % 5 == 4  status or ping: [u8 n][n bytes]
//   op & 0x80    pause 50 us after sending (the daemon reads what came so far)
//
// libFuzzer's per-input leak check (-detect_leaks=1) counts mallocs and frees around each input;
// the server frees on its own threads, so the counts never match and every input would be rerun
// with a scan of the whole heap (exec/s falls from ~600 to ~60 within a minute). It is off by
// default here (pass -detect_leaks=1 to have it back); LeakSanitizer still checks at exit.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "lam/lam_version.h"
#include "server/logging.h"
#include "shm/frame_io.h"
#include "shm/protocol.h"
#include "shm/shm_abi.h"
#include "unit/support/fake_engine.h"
#include "unit/support/inproc_server.h"

namespace {

struct Fixture {
  lam::testing::FakeEngine engine{8, 1000, 512};
  lam::testing::InprocServer server;
  Fixture() {
    (void)lam::server::SetupLogging("off", false);
    const lam::Status st = server.Start(&engine, [](lam::server::Config* c) {
      c->arena_bytes = 65536;
      c->max_arena_bytes = 1 << 20;
      c->ring_entries = 4;
      c->hello_timeout_ms = 10000;
    });
    if (!st.ok()) {
      std::fprintf(stderr, "control_frames_fuzz: cannot start the server: %s\n", st.ToString().c_str());
      std::abort();
    }
  }
};

Fixture& TheFixture() {
  static Fixture* f = new Fixture();  // lives as long as the process: the loop thread uses it
  return *f;
}

class Reader {
 public:
  Reader(const uint8_t* d, size_t n) : d_(d), n_(n) {}
  bool empty() const { return i_ >= n_; }
  uint8_t U8() { return i_ < n_ ? d_[i_++] : 0; }
  uint16_t U16() { return static_cast<uint16_t>(U8() | (U8() << 8)); }
  std::string Bytes(size_t n) {
    n = std::min(n, n_ - std::min(i_, n_));
    std::string s(reinterpret_cast<const char*>(d_ + i_), n);
    i_ += n;
    return s;
  }

 private:
  const uint8_t* d_;
  size_t n_;
  size_t i_ = 0;
};

std::string Frame(uint16_t type, uint16_t major, const std::string& payload, uint32_t declared) {
  std::string f(sizeof(lam::shm::FrameHeader), '\0');
  const lam::shm::FrameHeader h{lam::shm::kFrameMagic, major, type, declared, 0};
  std::memcpy(f.data(), &h, sizeof(h));
  return f + payload;
}

std::string Frame(uint16_t type, const std::string& payload) {
  return Frame(type, lam::shm::kControlProtoMajor, payload, static_cast<uint32_t>(payload.size()));
}

// Sends all of `s`; false once the daemon has hung up. A send that blocks for 5 s is a finding.
bool SendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        std::fprintf(stderr, "control_frames_fuzz: the daemon stopped reading\n");
        __builtin_trap();
      }
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  static std::vector<char*> args;
  bool given = false;
  for (int i = 0; i < *argc; ++i) {
    args.push_back((*argv)[i]);
    given = given || std::strncmp((*argv)[i], "-detect_leaks=", 14) == 0;
  }
  static char off[] = "-detect_leaks=0";
  if (!given) args.push_back(off);
  args.push_back(nullptr);
  *argc = static_cast<int>(args.size()) - 1;
  *argv = args.data();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fixture& fx = TheFixture();
  const int fd = lam::shm::ConnectUnix(fx.server.socket());
  if (fd < 0) {
    std::fprintf(stderr, "control_frames_fuzz: connect: %s\n", std::strerror(errno));
    __builtin_trap();
  }
  const timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  Reader in(data, size);
  bool open = true;
  while (open && !in.empty()) {
    const uint8_t op = in.U8();
    std::string bytes;
    switch (op % 5) {
      case 0:
        bytes = in.Bytes(in.U8());
        break;
      case 1: {
        const uint16_t type = in.U16();
        const uint8_t major_sel = in.U8();
        const std::string payload = in.Bytes(in.U16() % 5000);
        uint16_t major = lam::shm::kControlProtoMajor;
        uint32_t declared = static_cast<uint32_t>(payload.size());
        if (major_sel % 3 == 1) major = in.U8();
        if (major_sel % 3 == 2) declared = static_cast<uint32_t>(in.U16()) << (in.U8() % 17);
        bytes = Frame(type, major, payload, declared);
        break;
      }
      case 2: {
        lam::shm::HelloRequest h{};
        h.struct_size = sizeof(h);
        h.flags = in.U8();
        h.shm_minor = in.U8();
        h.arena_bytes = uint64_t{1} << (in.U8() % 64);
        const uint8_t mutate = in.U8();
        const uint8_t abi_sel = in.U8();
        h.abi_version = abi_sel < 200 ? LAM_VERSION_NUMBER : abi_sel * 1000000u;
        h.shm_major = abi_sel % 50 == 7 ? 9 : lam::shm::kShmProtoMajor;
        h.ctl_minor = lam::shm::kControlProtoMinor;
        std::string p(reinterpret_cast<const char*>(&h), sizeof(h));
        if (mutate % 4 == 1) p.resize(mutate % sizeof(h));
        if (mutate % 4 == 2) p[mutate % p.size()] = static_cast<char>(mutate);
        bytes = Frame(lam::shm::kFrameHello, p);
        break;
      }
      case 3:
        bytes = Frame(lam::shm::kFrameCacheRequest, in.Bytes(in.U8()));
        break;
      default: {
        const std::string p = in.Bytes(in.U8());
        bytes = Frame(p.size() % 2 ? lam::shm::kFramePing : lam::shm::kFrameStatusRequest, p);
        break;
      }
    }
    open = SendAll(fd, bytes);
    if (open && (op & 0x80) != 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  ::shutdown(fd, SHUT_WR);
  // Read until the daemon hangs up: it must, on our EOF or on a protocol error.
  char buf[65536];
  const int64_t deadline = lam::shm::MonotonicNs() + 5'000'000'000;
  for (;;) {
    size_t got = 0;
    const auto r = lam::shm::RecvSome(fd, buf, sizeof(buf), deadline, nullptr, &got);
    if (r == lam::shm::RecvResult::kOk) continue;
    if (r == lam::shm::RecvResult::kTimeout) {
      std::fprintf(stderr, "control_frames_fuzz: the daemon did not hang up within 5 s\n");
      __builtin_trap();
    }
    break;
  }
  ::close(fd);
  return 0;
}
