// SPDX-License-Identifier: MIT
// Who may talk to lamd: checked on SO_PEERCRED at hello. Allowed are root, the daemon's own uid,
// configured extra uids, and members (primary or supplementary) of the configured group.
// Admins (root, the daemon's own uid and configured admin uids) may also change the executable
// cache and see every client in the status document.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace lam::server {

class PeerPolicy {
 public:
  // `group` may be empty or name a group that does not exist (then only uids are allowed).
  PeerPolicy(uid_t self_uid, std::vector<uint32_t> extra_uids, const std::string& group,
             std::vector<uint32_t> admin_uids = {});

  // True if the peer may connect. `why` gets a one-line reason on refusal.
  bool Allows(uid_t uid, gid_t gid, std::string* why) const;

  // True for root, the daemon's uid and the configured admin uids.
  bool IsAdmin(uid_t uid) const;
  uid_t self_uid() const { return self_uid_; }

  bool has_group() const { return has_group_; }
  gid_t group_gid() const { return group_gid_; }

 private:
  uid_t self_uid_;
  std::vector<uint32_t> extra_uids_;
  std::vector<uint32_t> admin_uids_;
  std::string group_;
  bool has_group_ = false;
  gid_t group_gid_ = 0;
};

}  // namespace lam::server
