// SPDX-License-Identifier: MIT
// The control-plane protocol on lamd's Unix socket. Header-only (libc/C++-std only): lamd,
// liblamclient and lamctl include it. Not installed; not public API.
//
// Framing: every message is a FrameHeader followed by payload_size bytes. Integers are in the
// host's byte order (both ends are on the same host). A frame whose magic or proto_major is
// wrong, or whose payload exceeds the receiver's limit, ends the connection (after a
// HelloReply with PROTOCOL_MISMATCH when it was the hello).
//
// Conversation:
//   client -> kHello (HelloRequest)
//   daemon -> kHelloReply (HelloReply); if status is OK and the hello asked for a segment, the
//             same sendmsg carries two descriptors (SCM_RIGHTS): [0] the segment memfd (see
//             shm_abi.h), [1] the doorbell eventfd the client writes to after submitting.
//   then, any number of times:
//   client -> kPing              daemon -> kPong (same payload, at most 64 bytes)
//   client -> kStatusRequest     daemon -> kStatusReply (UTF-8 JSON, see server/stats.h)
// The daemon refuses peers whose credentials (SO_PEERCRED) are not allowed with a HelloReply
// carrying PERMISSION_DENIED, then closes. Closing the socket ends the session: the daemon
// cancels the client's queued work and drops its segment at once.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lam::shm {

inline constexpr uint32_t kFrameMagic = 0x434d414cu;  // "LAMC"
inline constexpr uint16_t kControlProtoMajor = 1;
inline constexpr uint16_t kControlProtoMinor = 2;  // 1: cache frames; 2: HelloReply.precision
inline constexpr uint32_t kMaxClientFramePayload = 4096;     // what the daemon accepts
inline constexpr uint32_t kMaxDaemonFramePayload = 1 << 22;  // what clients accept

enum FrameType : uint16_t {
  kFrameHello = 1,
  kFrameHelloReply = 2,
  kFramePing = 3,
  kFramePong = 4,
  kFrameStatusRequest = 5,
  kFrameStatusReply = 6,
  // Minor 1: the executable cache. Request payload "ls", "warm" or "clear"; the reply is a JSON
  // object (Server::CacheJson). A minor-0 daemon closes the connection on these types.
  kFrameCacheRequest = 7,
  kFrameCacheReply = 8,
};

struct FrameHeader {
  uint32_t magic;         // kFrameMagic
  uint16_t proto_major;   // kControlProtoMajor
  uint16_t type;          // FrameType
  uint32_t payload_size;  // bytes after this header
  uint32_t reserved;      // 0
};

// HelloRequest::flags
inline constexpr uint32_t kHelloWantSegment = 1u << 0;  // a data-plane client (not lamctl)

struct HelloRequest {
  uint32_t struct_size;   // sizeof(HelloRequest) as the sender knows it
  uint32_t abi_version;   // LAM_VERSION_NUMBER of the client library; majors must match
  uint16_t shm_major;     // kShmProtoMajor the client speaks
  uint16_t shm_minor;
  uint16_t ctl_minor;     // kControlProtoMinor
  uint16_t reserved0;
  uint32_t flags;         // kHello*
  uint32_t client_pid;    // informational (the daemon trusts SO_PEERCRED, not this)
  uint64_t arena_bytes;   // wanted arena size; 0 = daemon default; capped by the daemon
  uint64_t reserved1;
};

inline constexpr size_t kMaxBuckets = 16;

struct HelloReply {
  int32_t status;         // lam_status
  uint32_t abi_version;   // LAM_VERSION_NUMBER of the daemon
  uint16_t shm_major;
  uint16_t shm_minor;
  uint32_t n_fds;         // descriptors attached (0 or 2)
  uint64_t daemon_epoch;
  uint64_t segment_size;
  uint64_t client_id;
  uint32_t embedding_dim;
  uint32_t max_tokens;    // longest sequence served
  uint32_t vocab_size;
  uint32_t n_buckets;     // length classes of the scheduler, ascending
  uint32_t buckets[kMaxBuckets];
  char fingerprint[72];   // NUL-terminated hex
  char model_name[64];
  char backend[16];
  char message[128];      // detail for a non-OK status
  // Minor 2 (fields are only appended: an older client reads the first 400 bytes, a client
  // reading an older daemon's shorter reply finds "" here, which means fp32).
  char precision[16];     // "fp32" | "bf16", NUL-terminated
};

static_assert(sizeof(FrameHeader) == 16);
static_assert(sizeof(HelloRequest) == 40);
static_assert(offsetof(HelloRequest, arena_bytes) == 24);
static_assert(sizeof(HelloReply) == 416);
static_assert(offsetof(HelloReply, precision) == 400);
static_assert(offsetof(HelloReply, buckets) == 56);
static_assert(offsetof(HelloReply, fingerprint) == 120);

}  // namespace lam::shm
