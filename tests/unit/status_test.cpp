// SPDX-License-Identifier: MIT
#include "common/status.h"

#include <gtest/gtest.h>

namespace lam {
namespace {

Status FailWith(lam_status code) { return Status(code, "detail"); }

Status Chain(lam_status code) {
  LAM_RETURN_IF_ERROR(FailWith(code));
  return Status(LAM_STATUS_INTERNAL, "not reached");
}

Result<int> MaybeInt(bool ok) {
  if (!ok) return Status(LAM_STATUS_INVALID_ARG, "no int");
  return 7;
}

Status UseInt(bool ok, int* out) {
  LAM_ASSIGN_OR_RETURN(*out, MaybeInt(ok));
  return Status::Ok();
}

TEST(StatusTest, DefaultIsOkAndCarriesNoMessage) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), LAM_STATUS_OK);
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, ErrorKeepsCodeAndMessageThroughCopies) {
  Status s(LAM_STATUS_TOKEN_OUT_OF_RANGE, "id 40000");
  Status copy = s;
  EXPECT_EQ(copy.code(), LAM_STATUS_TOKEN_OUT_OF_RANGE);
  EXPECT_EQ(copy.ToString(), "TOKEN_OUT_OF_RANGE: id 40000");
}

TEST(StatusTest, ReturnIfErrorPropagatesTheFirstFailure) {
  EXPECT_EQ(Chain(LAM_STATUS_TIMEOUT).code(), LAM_STATUS_TIMEOUT);
}

TEST(StatusTest, AssignOrReturnUnwrapsValuesAndErrors) {
  int v = 0;
  EXPECT_TRUE(UseInt(true, &v).ok());
  EXPECT_EQ(v, 7);
  EXPECT_EQ(UseInt(false, &v).code(), LAM_STATUS_INVALID_ARG);
}

TEST(StatusTest, EveryCodeHasADistinctName) {
  EXPECT_STREQ(status_code_name(LAM_STATUS_EMPTY_BATCH), "EMPTY_BATCH");
  EXPECT_STREQ(status_code_str(LAM_STATUS_EMPTY_SEQUENCE), "empty sequence");
  EXPECT_STREQ(status_code_name(9999), "UNKNOWN");
}

}  // namespace
}  // namespace lam
