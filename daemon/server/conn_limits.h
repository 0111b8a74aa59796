// SPDX-License-Identifier: MIT
// Per-user limits on the control socket (DESIGN.md invariant 8), kept by the loop thread:
//   pending   connections accepted but not past hello: capped overall and per uid;
//   sessions  connections past hello: capped overall (max_clients) and per uid. An admin's
//             connection without a segment (lamctl status/cache) is exempt, so an operator can
//             always look at a full daemon.
// A refusal is OVERLOADED with a message naming the limit and its flag.
#pragma once

#include <cstdint>
#include <unordered_map>

#include "common/status.h"

namespace lam::server {

struct ConnLimitsOptions {
  uint32_t max_pending = 256;
  uint32_t max_pending_per_uid = 64;
  uint32_t max_sessions = 4096;
  uint32_t max_sessions_per_uid = 1024;
};

class ConnLimits {
 public:
  explicit ConnLimits(const ConnLimitsOptions& o) : o_(o) {}

  // A connection from `uid` was accepted. OK: it is counted as pending (release it with
  // ReleasePending). `hello_waiting`: its whole hello is already readable, so it will not stay
  // pending; such a connection is admitted beyond the caps (it is counted all the same).
  Status AdmitPending(uint32_t uid, bool hello_waiting);
  void ReleasePending(uint32_t uid);
  // True when AdmitPending(uid, false) would refuse.
  bool AtPendingCap(uint32_t uid) const {
    return pending_of(uid) >= o_.max_pending_per_uid || pending_ >= o_.max_pending;
  }

  // May `uid` open one more session? (Checks only; AddSession counts it.)
  Status CheckSession(uint32_t uid) const;
  void AddSession(uint32_t uid);
  void ReleaseSession(uint32_t uid);

  uint32_t pending() const { return pending_; }
  uint32_t pending_high_water() const { return pending_high_water_; }
  uint32_t sessions() const { return sessions_; }
  uint32_t pending_of(uint32_t uid) const;
  uint32_t sessions_of(uint32_t uid) const;
  const ConnLimitsOptions& options() const { return o_; }

 private:
  static void Decrement(std::unordered_map<uint32_t, uint32_t>* m, uint32_t uid);

  ConnLimitsOptions o_;
  uint32_t pending_ = 0;
  uint32_t pending_high_water_ = 0;
  uint32_t sessions_ = 0;
  std::unordered_map<uint32_t, uint32_t> pending_by_uid_;
  std::unordered_map<uint32_t, uint32_t> sessions_by_uid_;
};

}  // namespace lam::server
