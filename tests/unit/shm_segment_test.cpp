// SPDX-License-Identifier: MIT
// Sealed memfd segments, their layout, and the session that lays them out.
#include "shm/memfd_region.h"

#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <string>
#include <vector>
#include <cstring>

#include "server/session.h"
#include "shm/shm_abi.h"
#include "shm/stream.h"

namespace lam::shm {
namespace {

std::set<std::string> DevShmEntries() {
  std::set<std::string> names;
  if (DIR* d = ::opendir("/dev/shm")) {
    while (dirent* e = ::readdir(d)) names.insert(e->d_name);
    ::closedir(d);
  }
  return names;
}

TEST(ShmSegmentTest, MemfdIsSealedAgainstShrinkAndGrow) {
  UniqueFd fd;
  std::string err;
  MemfdRegion r = MemfdRegion::Create("test", 1 << 20, &fd, &err);
  ASSERT_NE(r.data(), nullptr) << err;
  EXPECT_EQ(r.size(), 1u << 20);
  EXPECT_TRUE(MemfdRegion::IsSealed(fd.get()));
  EXPECT_NE(::ftruncate(fd.get(), 4096), 0) << "shrinking must be refused";
  EXPECT_NE(::ftruncate(fd.get(), 2 << 20), 0) << "growing must be refused";
  EXPECT_NE(::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE), 0) << "seals themselves are sealed";
  EXPECT_EQ(MemfdRegion::FdSize(fd.get()), 1 << 20);
  EXPECT_EQ(::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

TEST(ShmSegmentTest, TwoMappingsOfOneMemfdShareBytes) {
  UniqueFd fd;
  std::string err;
  MemfdRegion a = MemfdRegion::Create("test", 65536, &fd, &err);
  ASSERT_NE(a.data(), nullptr) << err;
  MemfdRegion b = MemfdRegion::Map(fd.get(), 65536, &err);
  ASSERT_NE(b.data(), nullptr) << err;
  ASSERT_NE(a.data(), b.data());
  a.data()[1234] = 77;
  EXPECT_EQ(b.data()[1234], 77);
}

// The region owns its mapping: a move hands it over (the source is empty and unmaps nothing),
// destruction unmaps it (the address stops being mapped), and a size mmap cannot take is refused
// with a message instead of mapping something else.
TEST(ShmSegmentTest, RegionOwnsItsMappingAndRefusesUnmappableSizes) {
  UniqueFd fd;
  std::string err;
  MemfdRegion a = MemfdRegion::Create("test", 65536, &fd, &err);
  ASSERT_NE(a.data(), nullptr) << err;
  char* const addr = a.data();
  MemfdRegion b = std::move(a);
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.data(), addr);
  EXPECT_EQ(b.size(), 65536u);
  b.data()[65535] = 5;
  unsigned char vec = 0;
  EXPECT_EQ(::mincore(addr, 4096, &vec), 0) << "mapped while owned";
  b = MemfdRegion();
  EXPECT_EQ(b.data(), nullptr);
  errno = 0;
  EXPECT_EQ(::mincore(addr, 4096, &vec), -1) << "unmapped when the owner is reset";
  EXPECT_EQ(errno, ENOMEM);

  err.clear();
  MemfdRegion zero = MemfdRegion::Map(fd.get(), 0, &err);
  EXPECT_EQ(zero.data(), nullptr);
  EXPECT_NE(err.find("not mappable"), std::string::npos) << err;
  err.clear();
  MemfdRegion bad = MemfdRegion::Map(-1, 4096, &err);
  EXPECT_EQ(bad.data(), nullptr);
  EXPECT_NE(err.find("mmap"), std::string::npos) << err;
}

TEST(ShmSegmentTest, NothingAppearsInDevShm) {
  const auto before = DevShmEntries();
  {
    UniqueFd fd;
    std::string err;
    MemfdRegion r = MemfdRegion::Create("lamd-client", 1 << 20, &fd, &err);
    ASSERT_NE(r.data(), nullptr);
    EXPECT_EQ(DevShmEntries(), before);
  }
  EXPECT_EQ(DevShmEntries(), before);
}

TEST(ShmSegmentTest, LayoutRegionsAreOrderedAlignedAndInside) {
  const SegmentLayout l = ComputeLayout(256, 256, 16 << 20);
  EXPECT_EQ(l.sq_offset % 4096, 0u);
  EXPECT_EQ(l.cq_offset % 4096, 0u);
  EXPECT_EQ(l.arena_offset % 4096, 0u);
  EXPECT_GE(l.sq_offset, sizeof(SegmentHeader));
  EXPECT_GE(l.cq_offset, l.sq_offset + kRingCtlSize + 256 * sizeof(SubmitDesc));
  EXPECT_GE(l.arena_offset, l.cq_offset + kRingCtlSize + 256 * sizeof(CompletionDesc));
  EXPECT_EQ(l.segment_size, l.arena_offset + l.arena_size);
}

TEST(ShmSegmentTest, SessionWritesAConsistentHeader) {
  server::SessionParams p;
  p.client_id = 7;
  p.daemon_epoch = 0xabcdef;
  p.ring_entries = 64;
  p.arena_bytes = 1 << 20;
  p.embedding_dim = 384;
  auto s = server::ClientSession::Create(p);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const SegmentHeader* h = (*s)->header();
  EXPECT_TRUE(HeaderIsConsistent(*h, (*s)->segment_size()));
  EXPECT_EQ(h->magic, kSegmentMagic);
  EXPECT_EQ(h->proto_major, kShmProtoMajor);
  EXPECT_EQ(h->client_id, 7u);
  EXPECT_EQ(h->daemon_epoch, 0xabcdefu);
  EXPECT_EQ(h->sq_entries, 64u);
  EXPECT_EQ(h->embedding_dim, 384u);
  EXPECT_EQ(h->arena_size, 1u << 20);
  EXPECT_TRUE(MemfdRegion::IsSealed((*s)->memfd()));
  SegmentHeader* mut = (*s)->header();
  mut->arena_size += 4096;
  EXPECT_FALSE(HeaderIsConsistent(*mut, (*s)->segment_size()));
  mut->arena_size -= 4096;
}

// Issue 10, defect 1: the session's bounds are its own, fixed at Create. A client that rewrites
// the header changes nothing the daemon checks against, and a completion whose rows would not
// fit the real arena is answered with an error instead of being written.
TEST(ShmSegmentTest, SessionBoundsComeFromDaemonMemoryNotTheHeader) {
  server::SessionParams p;
  p.ring_entries = 4;
  p.arena_bytes = 65536;
  p.embedding_dim = 384;
  auto made = server::ClientSession::Create(p);
  ASSERT_TRUE(made.ok());
  auto& s = *made;
  SegmentHeader* h = s->header();
  const uint64_t segment = s->segment_size();
  h->arena_size = 1ull << 40;
  h->arena_offset = 0;
  h->segment_size = 1ull << 41;
  h->embedding_dim = 1;
  h->cq_entries = 1u << 20;
  EXPECT_EQ(s->arena_size(), 65536u);
  EXPECT_EQ(s->segment_size(), segment);
  EXPECT_EQ(s->geometry().embedding_dim, 384u);
  EXPECT_EQ(s->geometry().cq_entries, 4u);
  std::vector<float> rows(384, 1.0f);
  CompletionDesc c{};
  c.ticket = 9;
  c.n_seqs = 1;
  c.output_offset = 65536 - 4;  // the last float of the arena: the row would run 1532 bytes past
  ASSERT_TRUE(s->Complete(c, rows.data(), rows.size(), false));
  char* base = reinterpret_cast<char*>(h);
  SpscRing<CompletionDesc> cq(reinterpret_cast<RingCtl*>(base + s->geometry().cq_offset), 4);
  CompletionDesc out{};
  ASSERT_TRUE(cq.Pop(&out));
  EXPECT_EQ(out.ticket, 9u);
  EXPECT_EQ(out.status, LAM_STATUS_INTERNAL);
  EXPECT_EQ(out.n_seqs, 0u);
  float last = -1;
  std::memcpy(&last, s->arena() + 65536 - 4, 4);
  EXPECT_EQ(last, 0.0f) << "nothing written";
}

TEST(ShmSegmentTest, SessionHoldsSubmissionsBackWhenTheCompletionRingHasNoRoom) {
  server::SessionParams p;
  p.ring_entries = 4;
  p.arena_bytes = 65536;
  auto made = server::ClientSession::Create(p);
  ASSERT_TRUE(made.ok());
  auto& s = *made;
  char* base = reinterpret_cast<char*>(s->header());
  SpscRing<SubmitDesc> sq(reinterpret_cast<RingCtl*>(base + s->header()->sq_offset), 4);
  for (uint64_t i = 0; i < 4; ++i) {
    SubmitDesc d{};
    d.ticket = i;
    ASSERT_TRUE(sq.Push(d));
  }
  SubmitDesc d;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(s->TakeSubmission(&d));
    s->MarkInFlight();
  }
  ASSERT_TRUE(sq.Push(SubmitDesc{}));
  EXPECT_FALSE(s->TakeSubmission(&d)) << "4 in flight fill the 4-slot completion ring";
  EXPECT_TRUE(s->sq_blocked.load());
  CompletionDesc c{};
  ASSERT_TRUE(s->Complete(c, nullptr, 0, /*from_scheduler=*/true));
  EXPECT_FALSE(s->TakeSubmission(&d)) << "the completion occupies the slot until the client reads it";
  SpscRing<CompletionDesc> cq(reinterpret_cast<RingCtl*>(base + s->header()->cq_offset), 4);
  CompletionDesc out;
  ASSERT_TRUE(cq.Pop(&out));
  EXPECT_TRUE(s->TakeSubmission(&d));
}

// A 1 MiB-arena session with `ring_entries` completion slots, for a client that does (or does not)
// speak shm minor 2. Null if it could not be made.
std::shared_ptr<server::ClientSession> StreamingSession(uint32_t ring_entries, bool stream_results) {
  server::SessionParams p;
  p.ring_entries = ring_entries;
  p.arena_bytes = 1 << 20;
  p.stream_results = stream_results;
  auto made = server::ClientSession::Create(p);
  return made.ok() ? std::move(made.value()) : nullptr;
}

// Which completions the session streams (shm/stream.h): large outputs, and only to a client
// that said it speaks shm minor >= 2; everything else is written before the completion.
TEST(ShmSegmentTest, SessionStreamsOnlyLargeOutputsToClientsThatUnderstandIt) {
  for (const bool streaming_client : {false, true}) {
    SCOPED_TRACE(streaming_client ? "minor-2 client" : "older client");
    auto s = StreamingSession(4, streaming_client);
    ASSERT_NE(s, nullptr);
    SegmentHeader* h = s->header();
    EXPECT_EQ(h->out_progress.load(), kStreamInitial);
    char* base = reinterpret_cast<char*>(h);
    SpscRing<CompletionDesc> cq(reinterpret_cast<RingCtl*>(base + h->cq_offset), 4);
    const float* arena = reinterpret_cast<const float*>(s->arena());
    std::vector<float> rows(64 * 384);
    for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<float>(i);

    CompletionDesc small{};
    small.output_offset = 0;
    ASSERT_TRUE(s->Complete(small, rows.data(), 384, false));  // index 0: one row
    EXPECT_EQ(h->out_progress.load(), kStreamInitial) << "a one-row answer is never streamed";

    CompletionDesc large{};
    large.output_offset = 4096;
    ASSERT_TRUE(s->Complete(large, rows.data(), rows.size(), false));  // index 1
    EXPECT_EQ(h->out_progress.load(), streaming_client ? PackProgress(1, kStreamDone) : kStreamInitial);
    EXPECT_EQ(std::memcmp(arena + 1024, rows.data(), rows.size() * 4), 0);
    EXPECT_EQ(std::memcmp(arena, rows.data(), 384 * 4), 0);
    CompletionDesc out;
    uint32_t index = 99;
    ASSERT_TRUE(cq.Pop(&out, &index));
    EXPECT_EQ(index, 0u);
    ASSERT_TRUE(cq.Pop(&out, &index));
    EXPECT_EQ(index, 1u);
    EXPECT_EQ(FloatsReady(&h->out_progress, index, rows.size()), rows.size());
  }
}

TEST(ShmSegmentTest, AStreamThatCouldNotBePublishedIsNotLeftAnnounced) {
  auto s = StreamingSession(2, true);
  ASSERT_NE(s, nullptr);
  std::vector<float> rows(64 * 384, 1.0f);
  CompletionDesc c{};
  ASSERT_TRUE(s->Complete(c, nullptr, 0, false));
  ASSERT_TRUE(s->Complete(c, nullptr, 0, false));  // the 2-slot ring is now full (nothing popped)
  EXPECT_FALSE(s->Complete(c, rows.data(), rows.size(), false));
  EXPECT_TRUE(s->broken.load());
  EXPECT_EQ(FloatsReady(&s->header()->out_progress, 2, rows.size()), rows.size())
      << "index 2 was never published; a client must not wait on it";
}

}  // namespace
}  // namespace lam::shm
