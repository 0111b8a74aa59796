// SPDX-License-Identifier: MIT
#include "server/session.h"

#include <fcntl.h>
#include <sys/eventfd.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "shm/futex.h"
#include "shm/stream.h"

namespace lam::server {

Result<std::shared_ptr<ClientSession>> ClientSession::Create(const SessionParams& p) {
  std::shared_ptr<ClientSession> s(new ClientSession());
  s->id_ = p.client_id;
  s->stream_results_ = p.stream_results;
  const shm::SegmentLayout l = shm::ComputeLayout(p.ring_entries, p.ring_entries, p.arena_bytes);
  std::string err;
  s->region_ = shm::MemfdRegion::Create("lamd-client", l.segment_size, &s->memfd_, &err);
  if (s->region_.data() == nullptr) return Status(LAM_STATUS_INTERNAL, "client segment: " + err);
  s->doorbell_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!s->doorbell_) return Status(LAM_STATUS_INTERNAL, std::string("eventfd: ") + std::strerror(errno));

  char* base = s->region_.data();
  auto* h = new (base) shm::SegmentHeader{};
  h->magic = shm::kSegmentMagic;
  h->proto_major = shm::kShmProtoMajor;
  h->proto_minor = shm::kShmProtoMinor;
  h->header_size = sizeof(shm::SegmentHeader);
  h->slot_size = sizeof(shm::RingCtl);
  h->request_size = sizeof(shm::SubmitDesc);
  h->result_size = sizeof(shm::CompletionDesc);
  h->flags = p.polling_us != 0 ? shm::kSegmentFlagPollingMode : 0;
  h->segment_size = l.segment_size;
  h->daemon_epoch = p.daemon_epoch;
  h->client_id = p.client_id;
  h->sq_offset = l.sq_offset;
  h->cq_offset = l.cq_offset;
  h->arena_offset = l.arena_offset;
  h->arena_size = l.arena_size;
  h->sq_entries = l.sq_entries;
  h->cq_entries = l.cq_entries;
  h->embedding_dim = p.embedding_dim;
  h->poll_spin_us = p.polling_us;
  h->daemon_polling.store(0, std::memory_order_relaxed);
  h->out_progress.store(shm::kStreamInitial, std::memory_order_relaxed);
  auto* sq_ctl = new (base + l.sq_offset) shm::RingCtl{};
  auto* cq_ctl = new (base + l.cq_offset) shm::RingCtl{};
  s->geometry_.segment_size = l.segment_size;
  s->geometry_.sq_offset = l.sq_offset;
  s->geometry_.cq_offset = l.cq_offset;
  s->geometry_.arena_offset = l.arena_offset;
  s->geometry_.arena_size = l.arena_size;
  s->geometry_.sq_entries = l.sq_entries;
  s->geometry_.cq_entries = l.cq_entries;
  s->geometry_.embedding_dim = p.embedding_dim;
  s->header_ = h;
  s->arena_ = base + l.arena_offset;
  s->sq_ = shm::SpscRing<shm::SubmitDesc>(sq_ctl, l.sq_entries);
  s->cq_ = shm::SpscRing<shm::CompletionDesc>(cq_ctl, l.cq_entries);
  return s;
}

ClientSession::~ClientSession() {
  if (memfd_ && geometry_.segment_size != 0 && !keep_pages_.load(std::memory_order_relaxed)) {
    // Best effort: a kernel without hole punching on shmem leaves the pages to the last unmap.
    (void)::fallocate(memfd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                      static_cast<off_t>(geometry_.segment_size));
  }
}

bool ClientSession::TakeSubmission(shm::SubmitDesc* out) {
  {
    std::lock_guard<std::mutex> lock(cq_mu_);
    const uint32_t free = cq_.FreeSlots();
    if (cq_.Corrupt()) {
      cq_corrupt_.store(true, std::memory_order_relaxed);
      return false;
    }
    if (free <= inflight_.load(std::memory_order_relaxed)) {
      sq_blocked.store(true, std::memory_order_seq_cst);
      // Re-check after publishing the flag: a completion posted in between clears room.
      if (cq_.FreeSlots() <= inflight_.load(std::memory_order_seq_cst)) return false;
      sq_blocked.store(false, std::memory_order_relaxed);
    }
  }
  return sq_.Pop(out);
}

bool ClientSession::Complete(const shm::CompletionDesc& c, const float* rows, size_t n_floats,
                             bool from_scheduler, bool* streamed) {
  if (streamed != nullptr) *streamed = false;
  // Admission checked the output range against geometry_; check again here, where the write
  // happens, against the same daemon-held size (never against anything in the segment).
  const shm::CompletionDesc* cp = &c;
  shm::CompletionDesc refused;
  if (rows != nullptr && n_floats != 0 &&
      (c.output_offset > geometry_.arena_size || n_floats > (geometry_.arena_size - c.output_offset) / sizeof(float))) {
    refused = c;
    refused.status = LAM_STATUS_INTERNAL;
    refused.n_seqs = 0;
    const char kWhy[] = "output range lies outside the arena; nothing was written";
    std::memcpy(refused.message, kWhy, sizeof(kWhy));
    cp = &refused;
    rows = nullptr;
    n_floats = 0;
  }
  const bool stream = stream_results_ && rows != nullptr && shm::ShouldStream(n_floats);
  std::unique_lock<std::mutex> streaming;
  if (stream) streaming = std::unique_lock<std::mutex>(stream_mu_);
  bool pushed;
  uint32_t index = 0;
  {
    std::lock_guard<std::mutex> lock(cq_mu_);
    // Bounds were checked at admission; the arena never moves or shrinks (sealed memfd).
    if (!stream && rows != nullptr && n_floats != 0) {
      std::memcpy(arena_ + c.output_offset, rows, n_floats * sizeof(float));
    }
    index = cq_.NextIndex();
    if (stream) shm::BeginStream(&header_->out_progress, index);
    if (from_scheduler) inflight_.fetch_sub(1, std::memory_order_seq_cst);
    pushed = cq_.Push(*cp);
    if (cq_.Corrupt()) cq_corrupt_.store(true, std::memory_order_relaxed);
    // Nothing was published at that index: take the announcement back.
    if (!pushed && stream) header_->out_progress.store(shm::PackProgress(index, shm::kStreamDone));
  }
  if (!pushed) {
    broken.store(true);
    return false;
  }
  shm::NotifyConsumer(cq_.ctl());
  if (stream) {
    if (streamed != nullptr) *streamed = true;
    shm::StreamRows(&header_->out_progress, index, reinterpret_cast<float*>(arena_ + c.output_offset), rows,
                    n_floats);
  }
  return true;
}

}  // namespace lam::server
