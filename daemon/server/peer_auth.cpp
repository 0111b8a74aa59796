// SPDX-License-Identifier: MIT
#include "server/peer_auth.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>

namespace lam::server {

PeerPolicy::PeerPolicy(uid_t self_uid, std::vector<uint32_t> extra_uids, const std::string& group,
                       std::vector<uint32_t> admin_uids)
    : self_uid_(self_uid), extra_uids_(std::move(extra_uids)), admin_uids_(std::move(admin_uids)), group_(group) {
  if (!group.empty()) {
    std::vector<char> buf(16384);
    struct group gr;
    struct group* res = nullptr;
    if (getgrnam_r(group.c_str(), &gr, buf.data(), buf.size(), &res) == 0 && res != nullptr) {
      has_group_ = true;
      group_gid_ = gr.gr_gid;
    }
  }
}

bool PeerPolicy::IsAdmin(uid_t uid) const {
  return uid == 0 || uid == self_uid_ ||
         std::find(admin_uids_.begin(), admin_uids_.end(), static_cast<uint32_t>(uid)) != admin_uids_.end();
}

bool PeerPolicy::Allows(uid_t uid, gid_t gid, std::string* why) const {
  if (IsAdmin(uid)) return true;
  if (std::find(extra_uids_.begin(), extra_uids_.end(), static_cast<uint32_t>(uid)) != extra_uids_.end()) {
    return true;
  }
  if (has_group_) {
    if (gid == group_gid_) return true;
    // Supplementary groups: SO_PEERCRED carries only the primary gid, so ask the user database.
    std::vector<char> buf(16384);
    struct passwd pw;
    struct passwd* res = nullptr;
    if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &res) == 0 && res != nullptr) {
      int n = 64;
      std::vector<gid_t> groups(static_cast<size_t>(n));
      if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0 && n > 64) {
        groups.resize(static_cast<size_t>(n));
        getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n);
      }
      groups.resize(static_cast<size_t>(std::max(n, 0)));
      if (std::find(groups.begin(), groups.end(), group_gid_) != groups.end()) return true;
    }
  }
  *why = "uid " + std::to_string(uid) + " (gid " + std::to_string(gid) +
         ") is not root, not lamd's uid " + std::to_string(self_uid_) + ", not in allow_uids" +
         (has_group_ ? " and not a member of group '" + group_ + "'" : " (group '" + group_ + "' does not exist)");
  return false;
}

}  // namespace lam::server
