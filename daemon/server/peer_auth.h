// SPDX-License-Identifier: MIT
// Who may talk to lamd: checked on SO_PEERCRED at hello. Allowed are root, the daemon's own uid,
// configured extra uids, and members (primary or supplementary) of the configured group.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace lam::server {

class PeerPolicy {
 public:
  // `group` may be empty or name a group that does not exist (then only uids are allowed).
  PeerPolicy(uid_t self_uid, std::vector<uint32_t> extra_uids, const std::string& group);

  // True if the peer may connect. `why` gets a one-line reason on refusal.
  bool Allows(uid_t uid, gid_t gid, std::string* why) const;

  bool has_group() const { return has_group_; }
  gid_t group_gid() const { return group_gid_; }

 private:
  uid_t self_uid_;
  std::vector<uint32_t> extra_uids_;
  std::string group_;
  bool has_group_ = false;
  gid_t group_gid_ = 0;
};

}  // namespace lam::server
