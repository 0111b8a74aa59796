// SPDX-License-Identifier: MIT
#include "server/arena_budget.h"

#include <unistd.h>

#include <algorithm>
#include <string>

namespace lam::server {

ArenaBudget::ArenaBudget(Limits limits) : limits_(limits) {
  if (limits_.total_bytes == 0) limits_.total_bytes = PhysicalMemoryQuarter();
}

std::shared_ptr<ArenaBudget> ArenaBudget::Create(Limits limits) {
  return std::shared_ptr<ArenaBudget>(new ArenaBudget(limits));
}

uint64_t ArenaBudget::PhysicalMemoryQuarter() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGESIZE);
  const uint64_t phys = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
  return std::max<uint64_t>(phys / 4, 256ull << 20);
}

Result<ArenaBudget::Reservation> ArenaBudget::Reserve(uid_t uid, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  const Use mine = by_uid_.count(uid) != 0 ? by_uid_[uid] : Use{};
  auto refuse = [&](const char* key, uint64_t limit, const Use& use, const std::string& whose) {
    return Status(LAM_STATUS_OVERLOADED,
                  "shared-memory budget " + std::string(key) + " (" + std::to_string(limit) + " bytes" + whose +
                      ") is exhausted: " + std::to_string(use.bytes) + " bytes held by " +
                      std::to_string(use.sessions) + " sessions; this one needs " + std::to_string(bytes));
  };
  if (bytes > limits_.per_uid_bytes || mine.bytes > limits_.per_uid_bytes - bytes) {
    return refuse("arena_budget_per_uid", limits_.per_uid_bytes, mine, " for uid " + std::to_string(uid));
  }
  if (bytes > limits_.total_bytes || total_.bytes > limits_.total_bytes - bytes) {
    return refuse("arena_budget_total", limits_.total_bytes, total_, " for all clients");
  }
  Use& u = by_uid_[uid];
  u.bytes += bytes;
  ++u.sessions;
  total_.bytes += bytes;
  ++total_.sessions;
  Reservation r;
  r.budget_ = shared_from_this();
  r.uid_ = uid;
  r.bytes_ = bytes;
  return r;
}

void ArenaBudget::Give(uid_t uid, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_uid_.find(uid);
  if (it != by_uid_.end()) {
    it->second.bytes -= std::min(it->second.bytes, bytes);
    if (it->second.sessions != 0) --it->second.sessions;
    if (it->second.sessions == 0) by_uid_.erase(it);
  }
  total_.bytes -= std::min(total_.bytes, bytes);
  if (total_.sessions != 0) --total_.sessions;
}

uint64_t ArenaBudget::total_used() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_.bytes;
}

uint64_t ArenaBudget::used_by(uid_t uid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_uid_.find(uid);
  return it == by_uid_.end() ? 0 : it->second.bytes;
}

ArenaBudget::Reservation& ArenaBudget::Reservation::operator=(Reservation&& o) noexcept {
  if (this != &o) {
    Release();
    budget_ = std::move(o.budget_);
    uid_ = o.uid_;
    bytes_ = o.bytes_;
    o.budget_.reset();
    o.bytes_ = 0;
  }
  return *this;
}

void ArenaBudget::Reservation::Release() {
  if (budget_) budget_->Give(uid_, bytes_);
  budget_.reset();
  bytes_ = 0;
}

}  // namespace lam::server
