// SPDX-License-Identifier: MIT
// Per-user limits of the control socket (server/conn_limits.h) and who counts as an admin.
#include "server/conn_limits.h"

#include <gtest/gtest.h>

#include "server/config.h"
#include "server/peer_auth.h"

namespace lam::server {
namespace {

TEST(ConnLimitsTest, PendingConnectionsAreCappedPerUidAndOverall) {
  ConnLimits l(ConnLimitsOptions{/*max_pending=*/5, /*max_pending_per_uid=*/3, 100, 100});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(l.AdmitPending(1000, false).ok());
  const Status st = l.AdmitPending(1000, false);
  EXPECT_EQ(st.code(), LAM_STATUS_OVERLOADED);
  EXPECT_NE(st.message().find("max-pending-per-uid 3"), std::string::npos) << st.message();
  EXPECT_TRUE(l.AdmitPending(2000, false).ok()) << "another uid has its own allowance";
  EXPECT_TRUE(l.AdmitPending(2000, false).ok());
  const Status all = l.AdmitPending(3000, false);
  EXPECT_EQ(all.code(), LAM_STATUS_OVERLOADED);
  EXPECT_NE(all.message().find("max-pending-connections 5"), std::string::npos) << all.message();
  EXPECT_TRUE(l.AtPendingCap(3000));
  // A connection whose hello is already waiting goes past the caps (it is served at once).
  EXPECT_TRUE(l.AdmitPending(1000, true).ok());
  EXPECT_EQ(l.pending(), 6u);
  EXPECT_EQ(l.pending_high_water(), 6u);
  l.ReleasePending(1000);
  l.ReleasePending(1000);
  EXPECT_EQ(l.pending_of(1000), 2u);
  EXPECT_FALSE(l.AtPendingCap(1000));
  EXPECT_TRUE(l.AdmitPending(1000, false).ok());
}

TEST(ConnLimitsTest, SessionsAreCappedPerUidAndOverall) {
  ConnLimits l(ConnLimitsOptions{10, 10, /*max_sessions=*/3, /*max_sessions_per_uid=*/2});
  EXPECT_TRUE(l.CheckSession(7).ok());
  l.AddSession(7);
  l.AddSession(7);
  const Status st = l.CheckSession(7);
  EXPECT_EQ(st.code(), LAM_STATUS_OVERLOADED);
  EXPECT_NE(st.message().find("max-sessions-per-uid 2"), std::string::npos) << st.message();
  EXPECT_TRUE(l.CheckSession(8).ok());
  l.AddSession(8);
  const Status all = l.CheckSession(9);
  EXPECT_EQ(all.code(), LAM_STATUS_OVERLOADED);
  EXPECT_NE(all.message().find("max-clients 3"), std::string::npos) << all.message();
  l.ReleaseSession(7);
  EXPECT_TRUE(l.CheckSession(7).ok());
  EXPECT_EQ(l.sessions_of(7), 1u);
  EXPECT_EQ(l.sessions(), 2u);
}

TEST(ConnLimitsTest, TheSessionQuotaDefaultsToAQuarterOfMaxClients) {
  Config c;
  EXPECT_EQ(SessionsPerUid(c), 1024u);
  c.max_clients = 2;
  EXPECT_EQ(SessionsPerUid(c), 1u);
  c.max_sessions_per_uid = 7;
  EXPECT_EQ(SessionsPerUid(c), 7u);
}

TEST(ConnLimitsTest, AdminsAreRootOurUidAndTheConfiguredAdminUids) {
  PeerPolicy p(/*self=*/1234, /*extra=*/{777}, /*group=*/"", /*admins=*/{4321});
  EXPECT_TRUE(p.IsAdmin(0));
  EXPECT_TRUE(p.IsAdmin(1234));
  EXPECT_TRUE(p.IsAdmin(4321));
  EXPECT_FALSE(p.IsAdmin(777)) << "allowed to connect is not allowed to administer";
  std::string why;
  EXPECT_TRUE(p.Allows(4321, 1, &why)) << "an admin may connect";
}

}  // namespace
}  // namespace lam::server
