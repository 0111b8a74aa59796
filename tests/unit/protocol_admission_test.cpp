// SPDX-License-Identifier: MIT
// Admission of untrusted submission descriptors: every field bounds-checked, payload copied
// before it is validated, engine verdicts passed through.
#include "server/admission.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "support/fake_engine.h"

namespace lam::server {
namespace {

class AdmissionTest : public ::testing::Test {
 protected:
  AdmissionTest() : engine_(/*dim=*/8, /*vocab=*/1000, /*max_tokens=*/64), arena_(65536, 0) {
    limits_.embedding_dim = 8;
    limits_.max_sequences_per_request = 100;
  }
  // Two sequences (3 and 2 tokens) laid out at the start of the arena.
  shm::SubmitDesc Good() {
    const uint32_t lengths[2] = {3, 2};
    const int32_t ids[5] = {101, 5, 102, 101, 102};
    std::memcpy(arena_.data(), lengths, sizeof(lengths));
    std::memcpy(arena_.data() + 64, ids, sizeof(ids));
    shm::SubmitDesc d{};
    d.ticket = 42;
    d.opcode = shm::kOpEmbedTokens;
    d.n_seqs = 2;
    d.lengths_offset = 0;
    d.tokens_offset = 64;
    d.output_offset = 128;
    d.total_tokens = 5;
    d.timeout_ms = 250;
    return d;
  }
  Status Admit(const shm::SubmitDesc& d, uint64_t* detail = nullptr) {
    uint64_t dummy;
    req_ = scheduler::Request();
    return AdmitEmbed(d, arena_.data(), arena_.size(), engine_, limits_, 1000, &req_, detail ? detail : &dummy);
  }
  testing::FakeEngine engine_;
  std::vector<char> arena_;
  AdmissionLimits limits_;
  scheduler::Request req_;
};

TEST_F(AdmissionTest, AValidRequestIsCopiedIntoDaemonMemory) {
  ASSERT_TRUE(Admit(Good()).ok());
  EXPECT_EQ(req_.ticket, 42u);
  EXPECT_EQ(req_.output_offset, 128u);
  EXPECT_EQ(req_.offsets, (std::vector<uint32_t>{0, 3, 5}));
  EXPECT_EQ(req_.tokens, (std::vector<int32_t>{101, 5, 102, 101, 102}));
  EXPECT_EQ(req_.deadline_ns, 1000 + 250'000'000);
  // Rewriting the arena afterwards changes nothing the daemon holds.
  std::memset(arena_.data(), 0xff, 256);
  EXPECT_EQ(req_.tokens[1], 5);
}

TEST_F(AdmissionTest, RegionsOutsideTheArenaAreMalformed) {
  for (uint64_t bad : {uint64_t{65536}, uint64_t{65536 - 4}, UINT64_MAX - 3, uint64_t{1} << 63}) {
    auto d = Good();
    d.tokens_offset = bad;
    EXPECT_EQ(Admit(d).code(), LAM_STATUS_MALFORMED_REQUEST) << bad;
    d = Good();
    d.lengths_offset = bad;
    EXPECT_EQ(Admit(d).code(), LAM_STATUS_MALFORMED_REQUEST) << bad;
    d = Good();
    d.output_offset = bad;
    EXPECT_EQ(Admit(d).code(), LAM_STATUS_MALFORMED_REQUEST) << bad;
  }
}

TEST_F(AdmissionTest, MisalignedOffsetsAreMalformed) {
  auto d = Good();
  d.tokens_offset = 65;
  Status st = Admit(d);
  EXPECT_EQ(st.code(), LAM_STATUS_MALFORMED_REQUEST);
  EXPECT_NE(st.message().find("aligned"), std::string::npos);
}

TEST_F(AdmissionTest, LengthsThatDisagreeWithTotalTokensAreMalformed) {
  auto d = Good();
  d.total_tokens = 6;
  Status st = Admit(d);
  EXPECT_EQ(st.code(), LAM_STATUS_MALFORMED_REQUEST);
  EXPECT_NE(st.message().find("sum to 5"), std::string::npos) << st.message();
}

TEST_F(AdmissionTest, TooManySequencesAreMalformedAndZeroIsAnEmptyBatch) {
  auto d = Good();
  d.n_seqs = 101;
  EXPECT_EQ(Admit(d).code(), LAM_STATUS_MALFORMED_REQUEST);
  d.n_seqs = 0;
  EXPECT_EQ(Admit(d).code(), LAM_STATUS_EMPTY_BATCH);
}

TEST_F(AdmissionTest, ARequestLargerThanTheArenaIsTooLargeWithTheBytesNeeded) {
  limits_.max_sequences_per_request = 1000;
  auto d = Good();
  d.n_seqs = 1000;
  d.total_tokens = 1000 * 64;
  uint64_t detail = 0;
  EXPECT_EQ(Admit(d, &detail).code(), LAM_STATUS_TOO_LARGE);
  EXPECT_EQ(detail, ArenaBytesNeeded(1000, 64000, 8));
  EXPECT_GT(detail, arena_.size());
}

TEST_F(AdmissionTest, ASequenceBeyondTheModelMaximumIsTooLongAndNamed) {
  auto d = Good();
  const uint32_t lengths[2] = {3, 65};
  std::memcpy(arena_.data(), lengths, sizeof(lengths));
  d.total_tokens = 68;
  uint64_t detail = 0;
  Status st = Admit(d, &detail);
  EXPECT_EQ(st.code(), LAM_STATUS_SEQUENCE_TOO_LONG);
  EXPECT_EQ(detail, 1u);
  EXPECT_NE(st.message().find("sequence 1"), std::string::npos);
  d = Good();
  d.total_tokens = UINT64_MAX;
  EXPECT_EQ(Admit(d).code(), LAM_STATUS_SEQUENCE_TOO_LONG);
}

TEST_F(AdmissionTest, EngineVerdictsPassThrough) {
  auto d = Good();
  const int32_t bad = 5000;
  std::memcpy(arena_.data() + 64 + 4, &bad, 4);
  Status st = Admit(d);
  EXPECT_EQ(st.code(), LAM_STATUS_TOKEN_OUT_OF_RANGE);
  EXPECT_NE(st.message().find("5000"), std::string::npos);
  d = Good();
  const uint32_t lengths[2] = {0, 5};
  std::memcpy(arena_.data(), lengths, sizeof(lengths));
  EXPECT_EQ(Admit(d).code(), LAM_STATUS_EMPTY_SEQUENCE);
}

TEST_F(AdmissionTest, ArenaBytesNeededAlignsEachRegion) {
  EXPECT_EQ(ArenaBytesNeeded(1, 1, 384), 64u + 64u + 1536u);
  EXPECT_EQ(ArenaBytesNeeded(2, 20, 384), 64u + 128u + 3072u);
}

}  // namespace
}  // namespace lam::server
