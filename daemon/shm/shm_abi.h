// SPDX-License-Identifier: MIT
// The shared-memory data plane between lamd and one client (liblamclient). Header-only,
// libc/C++-std only: the client library includes it too. Not installed; not public API.
//
// Protocol (version kShmProtoMajor.kShmProtoMinor)
// ------------------------------------------------
// At hello (control socket, see protocol.h) the daemon creates one anonymous memfd per client
// (MFD_CLOEXEC | MFD_ALLOW_SEALING, sealed against shrink and grow), lays it out as below and
// passes it, together with a doorbell eventfd, over SCM_RIGHTS. Nothing has a name, so no other
// process can map it, and it disappears when both sides have closed and unmapped it.
//
//   [0, header_size)                       SegmentHeader
//   [sq_offset, + kRingCtlSize + n * 64)    submission ring: RingCtl + SubmitDesc[n]  (client produces)
//   [cq_offset, + kRingCtlSize + n * 128)   completion ring: RingCtl + CompletionDesc[n] (daemon produces)
//   [arena_offset, + arena_size)            payload arena, allocated by the client
//
// Minor 1 appends kOpEmbedText: the same descriptor with the token fields re-read as UTF-8
// text (tokens_offset = the texts' bytes back to back, lengths_offset = uint32 byte length of
// each text, total_tokens = total bytes). The daemon tokenises (WordPiece, truncating to the
// model's max_tokens) and the request then runs exactly as kOpEmbedTokens. A client must check
// SegmentHeader::proto_minor >= 1 before sending it; a minor-0 daemon answers MALFORMED_REQUEST.
//
// Minor 2 appends streamed results (shm/stream.h): to a client whose hello says shm_minor >= 2
// the daemon may push the completion of a large output before its rows are written and then
// write them, publishing progress in SegmentHeader::out_progress; such a client reads a
// completion's rows only as far as that word allows. A client must check proto_minor >= 2 in the
// segment before honouring the word (an older daemon never writes it).
//
// A request: the client writes token ids (int32, all sequences back to back) and the
// sequence lengths (uint32) into the arena, reserves n_seqs * embedding_dim floats of output
// in the arena, pushes a SubmitDesc and rings the doorbell (writes 1 to the eventfd) unless
// SegmentHeader::daemon_polling is non-zero. The daemon copies the descriptor and the payload
// into its own memory before validating anything (the client may rewrite the segment at any
// time), runs the sequences through the scheduler, writes the embeddings to output_offset and
// pushes a CompletionDesc carrying the same ticket. It then bumps RingCtl::wake of the
// completion ring and FUTEX_WAKEs it if RingCtl::waiters is non-zero.
//
// Flow control: the daemon keeps at most cq_entries requests of a client in flight (popped
// but not completed); further submissions stay in the submission ring until a completion is
// posted. A client must therefore never have more than cq_entries requests outstanding
// (liblamclient enforces it); a daemon that finds the completion ring full disconnects the
// client. Every index is a free-running uint32 counter; slot = counter % entries.
//
// Liveness: the control socket. The daemon never blocks on anything in the segment, and
// there is no lock in it: only atomics and futex words.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace lam::shm {

inline constexpr uint64_t kSegmentMagic = 0x314d48534d414cULL;  // "LAMSHM1\0" little-endian
inline constexpr uint16_t kShmProtoMajor = 1;
inline constexpr uint16_t kShmProtoMinor = 3;
inline constexpr uint16_t kShmMinorEmbedText = 1;  // first minor with kOpEmbedText
inline constexpr uint16_t kShmMinorStreamedResults = 2;  // first minor with out_progress
inline constexpr uint16_t kShmMinorTextMaxTokens = 3;  // first minor reading a text request's max_tokens
inline constexpr uint32_t kCacheLine = 64;

// Segment flags (SegmentHeader::flags).
inline constexpr uint32_t kSegmentFlagPollingMode = 1u << 0;  // daemon may spin on the rings

// Submission opcodes.
enum SubmitOp : uint32_t {
  kOpNop = 0,          // ring round trip only; completes OK with no payload (ping)
  kOpEmbedTokens = 1,  // embed n_seqs token-id sequences
  kOpEmbedText = 2,    // minor >= 1: tokenise n_seqs UTF-8 texts in the daemon, then embed
};

// Written once by the daemon before the memfd is passed; read-only for the client.
struct SegmentHeader {
  uint64_t magic;            // kSegmentMagic
  uint16_t proto_major;      // kShmProtoMajor: a different major is PROTOCOL_MISMATCH
  uint16_t proto_minor;      // kShmProtoMinor: minors only append
  uint32_t header_size;      // sizeof(SegmentHeader)
  uint32_t slot_size;        // sizeof(RingCtl)
  uint32_t request_size;     // sizeof(SubmitDesc)
  uint32_t result_size;      // sizeof(CompletionDesc)
  uint32_t flags;            // kSegmentFlag*
  uint64_t segment_size;     // total bytes of the memfd
  uint64_t daemon_epoch;     // random per daemon start; changes when the daemon restarts
  uint64_t client_id;        // the daemon's id for this connection (logs, lamctl status)
  uint64_t sq_offset;        // RingCtl of the submission ring
  uint64_t cq_offset;        // RingCtl of the completion ring
  uint64_t arena_offset;     // payload arena, 64-byte aligned
  uint64_t arena_size;
  uint32_t sq_entries;       // power of two
  uint32_t cq_entries;       // power of two
  uint32_t embedding_dim;    // floats per output row
  uint32_t poll_spin_us;     // polling mode: how long a client may spin before sleeping
  uint8_t reserved0[kCacheLine * 2 - 104];
  // Written by the daemon while it is spinning on the rings (polling mode): the client may skip
  // the doorbell. Checked with seq_cst after publishing a submission.
  alignas(kCacheLine) std::atomic<uint32_t> daemon_polling;
  uint32_t reserved1;
  // Minor 2: progress of the streamed completion (shm/stream.h). Written only by the daemon;
  // it shares the line with daemon_polling (both daemon-written, client-read).
  std::atomic<uint64_t> out_progress;
  uint8_t reserved2[kCacheLine - 16];
};

// Producer/consumer indices of one ring, each on its own cache line (no false sharing).
struct RingCtl {
  alignas(kCacheLine) std::atomic<uint32_t> tail;  // written by the producer (release)
  uint8_t pad0[kCacheLine - 4];
  alignas(kCacheLine) std::atomic<uint32_t> head;  // written by the consumer (release)
  uint8_t pad1[kCacheLine - 4];
  // Futex word: bumped by the producer after publishing; the consumer sleeps on it.
  alignas(kCacheLine) std::atomic<uint32_t> wake;
  std::atomic<uint32_t> waiters;  // non-zero while the consumer may be asleep on `wake`
  uint8_t pad2[kCacheLine - 8];
};

// One request, 64 bytes. Every field is untrusted on the daemon side.
struct SubmitDesc {
  uint64_t ticket;          // the client's id, echoed in the completion
  uint32_t opcode;          // SubmitOp
  uint32_t flags;           // reserved, 0
  uint32_t n_seqs;          // number of sequences
  uint32_t timeout_ms;      // 0 = none; the daemon drops the request once it has waited longer
  uint64_t tokens_offset;   // arena-relative offset of int32 token ids (sum of lengths)
  uint64_t lengths_offset;  // arena-relative offset of uint32 lengths[n_seqs]
  uint64_t output_offset;   // arena-relative offset of float out[n_seqs * embedding_dim]
  uint64_t total_tokens;    // sum of lengths (cross-checked by the daemon)
  uint64_t reserved;        // kOpEmbedText, minor >= 3: tokens kept per text (0 = model default)
};

inline constexpr size_t kCompletionMessageSize = 80;

// One answer, 128 bytes.
struct CompletionDesc {
  uint64_t ticket;          // from SubmitDesc
  int32_t status;           // lam_status
  uint32_t n_seqs;          // sequences written at output_offset (0 on error)
  uint64_t output_offset;   // echo of SubmitDesc::output_offset
  uint64_t detail;          // TOO_LARGE: bytes needed; validation errors: failing sequence index
  uint64_t queue_us;        // time the request waited before compute
  uint64_t compute_us;      // time of the batch it ran in
  char message[kCompletionMessageSize];  // NUL-terminated detail for lam_client_last_error
};

inline constexpr size_t kRingCtlSize = sizeof(RingCtl);

static_assert(sizeof(std::atomic<uint32_t>) == 4 && std::atomic<uint32_t>::is_always_lock_free,
              "futex words must be plain lock-free 32-bit atomics");
static_assert(sizeof(SegmentHeader) == 192);
static_assert(offsetof(SegmentHeader, proto_major) == 8);
static_assert(offsetof(SegmentHeader, segment_size) == 32);
static_assert(offsetof(SegmentHeader, sq_offset) == 56);
static_assert(offsetof(SegmentHeader, sq_entries) == 88);
static_assert(offsetof(SegmentHeader, daemon_polling) == 128);
static_assert(offsetof(SegmentHeader, out_progress) == 136);
static_assert(std::atomic<uint64_t>::is_always_lock_free, "out_progress must be a plain 64-bit atomic");
static_assert(sizeof(RingCtl) == 192);
static_assert(offsetof(RingCtl, head) == 64 && offsetof(RingCtl, wake) == 128);
static_assert(offsetof(RingCtl, waiters) == 132);
static_assert(sizeof(SubmitDesc) == 64);
static_assert(offsetof(SubmitDesc, tokens_offset) == 24);
static_assert(offsetof(SubmitDesc, total_tokens) == 48);
static_assert(sizeof(CompletionDesc) == 128);
static_assert(offsetof(CompletionDesc, detail) == 24);
static_assert(offsetof(CompletionDesc, message) == 48);

// Geometry of a segment, computed identically on both sides.
struct SegmentLayout {
  uint64_t sq_offset, cq_offset, arena_offset, arena_size, segment_size;
  uint32_t sq_entries, cq_entries;
};

inline constexpr uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

inline constexpr SegmentLayout ComputeLayout(uint32_t sq_entries, uint32_t cq_entries,
                                             uint64_t arena_size) {
  SegmentLayout l{};
  l.sq_entries = sq_entries;
  l.cq_entries = cq_entries;
  l.sq_offset = AlignUp(sizeof(SegmentHeader), 4096);
  l.cq_offset = AlignUp(l.sq_offset + kRingCtlSize + uint64_t{sq_entries} * sizeof(SubmitDesc), 4096);
  l.arena_offset = AlignUp(l.cq_offset + kRingCtlSize + uint64_t{cq_entries} * sizeof(CompletionDesc), 4096);
  l.arena_size = AlignUp(arena_size, 4096);
  l.segment_size = l.arena_offset + l.arena_size;
  return l;
}

inline constexpr bool IsPowerOfTwo(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

// Checks a header read from a mapping of `mapped_size` bytes: every region must lie inside.
// Used by the client on the segment it receives (it trusts the daemon, but not blindly).
inline bool HeaderIsConsistent(const SegmentHeader& h, uint64_t mapped_size) {
  if (h.magic != kSegmentMagic || h.header_size != sizeof(SegmentHeader) ||
      h.slot_size != sizeof(RingCtl) || h.request_size != sizeof(SubmitDesc) ||
      h.result_size != sizeof(CompletionDesc) || h.segment_size != mapped_size) {
    return false;
  }
  if (!IsPowerOfTwo(h.sq_entries) || !IsPowerOfTwo(h.cq_entries)) return false;
  // An arena size within a page of 2^64 would wrap AlignUp to 0 and pass the size check below
  // with a huge arena_size (seen in review; the shm_ring corpus entry header-arena-size-wraps
  // replays it): bound it by the mapping first.
  if (h.arena_size > mapped_size) return false;
  const SegmentLayout l = ComputeLayout(h.sq_entries, h.cq_entries, h.arena_size);
  return l.sq_offset == h.sq_offset && l.cq_offset == h.cq_offset &&
         l.arena_offset == h.arena_offset && l.arena_size == h.arena_size && l.segment_size == h.segment_size;
}

}  // namespace lam::shm
