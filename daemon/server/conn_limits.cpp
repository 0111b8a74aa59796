// SPDX-License-Identifier: MIT
#include "server/conn_limits.h"

#include <algorithm>
#include <string>

namespace lam::server {

Status ConnLimits::AdmitPending(uint32_t uid, bool hello_waiting) {
  const uint32_t of_uid = pending_of(uid);
  if (!hello_waiting) {
    if (of_uid >= o_.max_pending_per_uid) {
      return Status(LAM_STATUS_OVERLOADED, std::to_string(of_uid) + " connections of uid " + std::to_string(uid) +
                                               " are waiting for hello (max-pending-per-uid " +
                                               std::to_string(o_.max_pending_per_uid) + ")");
    }
    if (pending_ >= o_.max_pending) {
      return Status(LAM_STATUS_OVERLOADED, std::to_string(pending_) +
                                               " connections are waiting for hello (max-pending-connections " +
                                               std::to_string(o_.max_pending) + ")");
    }
  }
  ++pending_by_uid_[uid];
  ++pending_;
  pending_high_water_ = std::max(pending_high_water_, pending_);
  return Status::Ok();
}

void ConnLimits::ReleasePending(uint32_t uid) {
  if (pending_ > 0) --pending_;
  Decrement(&pending_by_uid_, uid);
}

Status ConnLimits::CheckSession(uint32_t uid) const {
  const uint32_t of_uid = sessions_of(uid);
  if (of_uid >= o_.max_sessions_per_uid) {
    return Status(LAM_STATUS_OVERLOADED, "uid " + std::to_string(uid) + " already has " + std::to_string(of_uid) +
                                             " sessions (max-sessions-per-uid " +
                                             std::to_string(o_.max_sessions_per_uid) + ")");
  }
  if (sessions_ >= o_.max_sessions) {
    return Status(LAM_STATUS_OVERLOADED, "too many clients (" + std::to_string(sessions_) + ", max-clients " +
                                             std::to_string(o_.max_sessions) + ")");
  }
  return Status::Ok();
}

void ConnLimits::AddSession(uint32_t uid) {
  ++sessions_by_uid_[uid];
  ++sessions_;
}

void ConnLimits::ReleaseSession(uint32_t uid) {
  if (sessions_ > 0) --sessions_;
  Decrement(&sessions_by_uid_, uid);
}

uint32_t ConnLimits::pending_of(uint32_t uid) const {
  const auto it = pending_by_uid_.find(uid);
  return it == pending_by_uid_.end() ? 0 : it->second;
}

uint32_t ConnLimits::sessions_of(uint32_t uid) const {
  const auto it = sessions_by_uid_.find(uid);
  return it == sessions_by_uid_.end() ? 0 : it->second;
}

void ConnLimits::Decrement(std::unordered_map<uint32_t, uint32_t>* m, uint32_t uid) {
  const auto it = m->find(uid);
  if (it == m->end()) return;
  if (--it->second == 0) m->erase(it);  // no entry per uid ever seen: the map stays small
}

}  // namespace lam::server
