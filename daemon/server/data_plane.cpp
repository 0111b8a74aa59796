// SPDX-License-Identifier: MIT
#include "server/data_plane.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "server/guard.h"
#include "server/logging.h"
#include "shm/frame_io.h"
#include "shm/futex.h"

namespace lam::server {
namespace {

constexpr uint64_t kWakeId = 0;  // epoll tag of wake_fd_; client ids start at 1
constexpr uint32_t kDoorbellResetEvery = 4096;
constexpr int kMaxEvents = 64;
constexpr uint32_t kEngineCheckEvery = 256;

std::shared_ptr<spdlog::logger> Log() {
  static auto log = Logger("dataplane");
  return log;
}

}  // namespace

DataPlane::DataPlane(Sink* sink, uint32_t polling_us, uint32_t idle_spin_us, std::function<bool()> engine_idle,
                     uint32_t drain_budget)
    : sink_(sink), polling_us_(polling_us), idle_spin_us_(engine_idle ? idle_spin_us : 0),
      engine_idle_(std::move(engine_idle)), drain_budget_(drain_budget == 0 ? 1 : drain_budget) {}

DataPlane::~DataPlane() { Stop(); }

Status DataPlane::Start() {
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return Status(LAM_STATUS_INTERNAL, std::string("epoll_create1: ") + std::strerror(errno));
  wake_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd_) return Status(LAM_STATUS_INTERNAL, std::string("eventfd: ") + std::strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeId;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_fd_.get(), &ev) != 0) {
    return Status(LAM_STATUS_INTERNAL, std::string("epoll_ctl: ") + std::strerror(errno));
  }
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void DataPlane::Wake() {
  pending_.store(true, std::memory_order_release);
  const uint64_t one = 1;
  (void)!::write(wake_fd_.get(), &one, sizeof(one));
}

void DataPlane::Add(std::shared_ptr<ClientSession> s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stop_requested_ || !thread_.joinable()) return;
  to_add_.push_back(std::move(s));
  Wake();
}

void DataPlane::Remove(uint64_t client_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stop_requested_ || !thread_.joinable()) return;
  to_remove_.push_back(client_id);
  Wake();
}

void DataPlane::Kick(uint64_t client_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stop_requested_ || !thread_.joinable()) return;
  to_kick_.push_back(client_id);
  Wake();
}

void DataPlane::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    stop_requested_ = true;
    if (thread_.joinable()) Wake();
  }
  if (thread_.joinable()) thread_.join();
  sessions_.clear();
}

// Applies queued adds, removes and kicks; returns true once Stop() was requested.
bool DataPlane::ApplyPending(std::vector<uint64_t>* ready) {
  std::vector<std::shared_ptr<ClientSession>> add;
  std::vector<uint64_t> remove, kick;
  bool stop;
  // Reset the eventfd before taking the queues: a Wake() after this read either lands in
  // what is taken below or leaves the eventfd readable for the next epoll_wait.
  uint64_t v;
  (void)!::read(wake_fd_.get(), &v, sizeof(v));
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.store(false, std::memory_order_relaxed);
    add.swap(to_add_);
    remove.swap(to_remove_);
    kick.swap(to_kick_);
    stop = stop_requested_;
  }
  for (auto& s : add) {
    const uint64_t id = s->id();
    epoll_event ev{};
    // Edge-triggered: every write to the eventfd is a new edge, so it is never read back.
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = id;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, s->doorbell_fd(), &ev) != 0) {
      Log()->error("client {}: epoll_ctl: {}", id, std::strerror(errno));
      sink_->OnViolation(id, "daemon could not watch the doorbell");
      continue;
    }
    if (polling_active()) s->SetDaemonPolling(true);
    sessions_[id] = Entry{std::move(s), 0};
    ready->push_back(id);  // anything submitted before it was watched
  }
  for (uint64_t id : remove) Forget(id);
  ready->insert(ready->end(), kick.begin(), kick.end());
  return stop;
}

void DataPlane::Forget(uint64_t id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second.session->doorbell_fd(), nullptr);
  sessions_.erase(it);
}

bool DataPlane::Drain(uint64_t id, std::vector<uint64_t>* again) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return false;
  // A reference: the entry stays until the Forget below, after which s is not used.
  const std::shared_ptr<ClientSession>& s = it->second.session;
  if (s->closed.load(std::memory_order_relaxed)) return false;
  shm::SubmitDesc d;
  uint32_t budget = drain_budget_;
  bool took = false;
  while (budget != 0 && s->TakeSubmission(&d)) {
    --budget;
    took = true;
    // No exception leaves this thread (DESIGN.md invariant 7). One escaping a submission's
    // handling leaves that client's state unknown: it is disconnected, the others go on.
    if (!Guarded("data-plane submission", nullptr, [&] { sink_->OnSubmission(s, d); })) {
      sink_->OnViolation(id, "internal error handling a submission");
      Forget(id);
      return took;
    }
    if (s->closed.load(std::memory_order_relaxed) || s->broken.load(std::memory_order_relaxed)) break;
  }
  if (s->ring_corrupt() || s->broken.load()) {
    sink_->OnViolation(id, s->ring_corrupt() ? "ring protocol violation" : "completion ring full");
    Forget(id);
    return took;
  }
  if (budget == 0) again->push_back(id);
  return took;
}

void DataPlane::SetPolling(bool on) {
  polling_active_.store(on, std::memory_order_relaxed);
  for (auto& [id, e] : sessions_) e.session->SetDaemonPolling(on);
}

void DataPlane::Run() {
  std::vector<uint64_t> ready, again;
  epoll_event events[kMaxEvents];
  int64_t last_activity_ns = 0;
  uint32_t spin_passes = 0;
  bool engine_idle = false;
  for (;;) {
    if (pending_.load(std::memory_order_acquire) && ApplyPending(&ready)) break;
    bool took = false;
    for (uint64_t id : ready) took |= Drain(id, &again);
    ready.swap(again);
    again.clear();

    if (polling_us_ != 0 || idle_spin_us_ != 0) {
      const int64_t now = shm::MonotonicNs();
      if (took) last_activity_ns = now;
      bool spin = false;
      if (polling_us_ != 0) {
        spin = now - last_activity_ns < int64_t{polling_us_} * 1000;
      } else if (now - last_activity_ns < int64_t{idle_spin_us_} * 1000) {
        // The engine check takes the scheduler's lock: once per kEngineCheckEvery passes.
        if (took || ++spin_passes % kEngineCheckEvery == 0) engine_idle = engine_idle_();
        spin = engine_idle;
      }
      if (spin) {
        if (!polling_active()) SetPolling(true);
        // Spin: look at every ring again on the next pass, without a system call.
        ready.clear();
        for (const auto& [id, e] : sessions_) ready.push_back(id);
        shm::CpuRelax();
        continue;
      }
      if (polling_active()) {
        SetPolling(false);
        // A client may have skipped its doorbell just before the flag dropped.
        for (const auto& [id, e] : sessions_) ready.push_back(id);
        continue;
      }
    }

    const int n = ::epoll_wait(epoll_.get(), events, kMaxEvents, ready.empty() ? -1 : 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      Log()->critical("epoll_wait: {}; the data plane stops", std::strerror(errno));
      break;
    }
    wakeups_.fetch_add(1, std::memory_order_relaxed);
    for (int i = 0; i < n; ++i) {
      const uint64_t id = events[i].data.u64;
      if (id == kWakeId) continue;  // pending_ is already set
      auto it = sessions_.find(id);
      if (it == sessions_.end()) continue;
      if (++it->second.events >= kDoorbellResetEvery) {
        // Keep the eventfd far from its maximum (a write that would reach it fails with
        // EAGAIN and makes no edge). The client may also read or write it; that only
        // affects its own wake-ups.
        it->second.events = 0;
        uint64_t v;
        (void)!::read(it->second.session->doorbell_fd(), &v, sizeof(v));
      }
      ready.push_back(id);
    }
  }
  // Stop: admit what every client submitted before the stop (one budgeted pass, as any
  // other), then let go of the sessions.
  ready.clear();
  for (const auto& [id, e] : sessions_) ready.push_back(id);
  for (uint64_t id : ready) Drain(id, &again);
  if (polling_active()) SetPolling(false);
  for (auto& [id, e] : sessions_) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, e.session->doorbell_fd(), nullptr);
}

}  // namespace lam::server
