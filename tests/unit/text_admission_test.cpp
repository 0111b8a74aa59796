// SPDX-License-Identifier: MIT
// Admission of kOpEmbedText descriptors: the texts are bounds-checked and copied before they
// are looked at, then tokenised (invalid UTF-8 named by text index and byte offset, each text
// truncated to the model maximum with [SEP] kept last) and validated like token requests.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "server/admission.h"
#include "support/fake_engine.h"
#include "tokenizer/wordpiece.h"

namespace lam::server {
namespace {

std::vector<std::string> Vocab() {
  return {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "a", "b", "##b"};
}

class TextAdmissionTest : public ::testing::Test {
 protected:
  TextAdmissionTest()
      : engine_(/*dim=*/8, /*vocab=*/10, /*max_tokens=*/6),
        tok_(std::move(tokenizer::WordPieceTokenizer::FromVocab(Vocab())).value()),
        arena_(65536, 0) {
    limits_.embedding_dim = 8;
    limits_.max_sequences_per_request = 100;
  }
  // Texts laid out as a client would: lengths at 0, bytes at 64, output at 4096.
  shm::SubmitDesc Put(const std::vector<std::string>& texts) {
    std::vector<uint32_t> lengths;
    std::string bytes;
    for (const auto& t : texts) {
      lengths.push_back(static_cast<uint32_t>(t.size()));
      bytes += t;
    }
    std::memcpy(arena_.data(), lengths.data(), lengths.size() * 4);
    std::memcpy(arena_.data() + 64, bytes.data(), bytes.size());
    shm::SubmitDesc d{};
    d.ticket = 7;
    d.opcode = shm::kOpEmbedText;
    d.n_seqs = static_cast<uint32_t>(texts.size());
    d.lengths_offset = 0;
    d.tokens_offset = 64;
    d.output_offset = 4096;
    d.total_tokens = bytes.size();
    d.timeout_ms = 100;
    return d;
  }
  Status Admit(const shm::SubmitDesc& d, uint64_t* detail = nullptr) {
    uint64_t dummy;
    text_ = TextRequest();
    return AdmitText(d, arena_.data(), arena_.size(), limits_, 1000, &text_, detail ? detail : &dummy);
  }
  Status Tokenize(uint64_t* detail = nullptr) {
    uint64_t dummy;
    return TokenizeText(tok_, engine_, 6, &text_, detail ? detail : &dummy);
  }
  testing::FakeEngine engine_;
  tokenizer::WordPieceTokenizer tok_;
  std::vector<char> arena_;
  AdmissionLimits limits_;
  TextRequest text_;
};

TEST_F(TextAdmissionTest, TextsAreCopiedThenTokenisedWithClsAndSep) {
  ASSERT_TRUE(Admit(Put({"Hello world", "", "ab"})).ok());
  ASSERT_NE(text_.req, nullptr);
  EXPECT_EQ(text_.req->ticket, 7u);
  EXPECT_EQ(text_.req->output_offset, 4096u);
  EXPECT_EQ(text_.req->deadline_ns, 1000 + 100'000'000);
  std::memset(arena_.data(), 0xff, 256);  // the client rewriting its segment changes nothing
  ASSERT_TRUE(Tokenize().ok());
  // An empty text is [CLS][SEP], as the Hugging Face tokenizer gives.
  EXPECT_EQ(text_.req->tokens, (std::vector<int32_t>{2, 5, 6, 3, 2, 3, 2, 7, 9, 3}));
  EXPECT_EQ(text_.req->offsets, (std::vector<uint32_t>{0, 4, 6, 10}));
}

TEST_F(TextAdmissionTest, LongTextsAreTruncatedToTheModelMaximumKeepingSep) {
  ASSERT_TRUE(Admit(Put({"a b a b a b a b", "hello"})).ok());
  ASSERT_TRUE(Tokenize().ok());
  EXPECT_EQ(text_.req->tokens, (std::vector<int32_t>{2, 7, 8, 7, 8, 3, 2, 5, 3}));
  EXPECT_EQ(text_.req->offsets, (std::vector<uint32_t>{0, 6, 9}));
}

TEST_F(TextAdmissionTest, InvalidUtf8NamesTheTextAndByteOffset) {
  ASSERT_TRUE(Admit(Put({"hello", "ab\xC3(", "world"})).ok());
  uint64_t detail = 0;
  Status st = Tokenize(&detail);
  EXPECT_EQ(st.code(), LAM_STATUS_INVALID_UTF8);
  EXPECT_EQ(detail, 1u);
  EXPECT_NE(st.message().find("text 1"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("byte offset 2"), std::string::npos) << st.message();
}

TEST_F(TextAdmissionTest, RegionsOutsideTheArenaAreMalformed) {
  for (uint64_t bad : {uint64_t{65536}, uint64_t{65536 - 4}, UINT64_MAX - 3, uint64_t{1} << 63}) {
    auto d = Put({"hello", "world"});
    d.tokens_offset = bad;
    EXPECT_EQ(Admit(d).code(), LAM_STATUS_MALFORMED_REQUEST) << bad;
    d = Put({"hello", "world"});
    d.lengths_offset = bad;
    EXPECT_EQ(Admit(d).code(), LAM_STATUS_MALFORMED_REQUEST) << bad;
    d = Put({"hello", "world"});
    d.output_offset = bad;
    EXPECT_EQ(Admit(d).code(), LAM_STATUS_MALFORMED_REQUEST) << bad;
  }
}

TEST_F(TextAdmissionTest, LengthsThatDisagreeWithTheTotalAreMalformed) {
  auto d = Put({"hello", "world"});
  d.total_tokens = 11;
  Status st = Admit(d);
  EXPECT_EQ(st.code(), LAM_STATUS_MALFORMED_REQUEST);
  EXPECT_NE(st.message().find("sum to 10"), std::string::npos) << st.message();
  // Lengths near 2^32 each must not wrap the sum.
  d = Put({"hello", "world"});
  const uint32_t huge[2] = {UINT32_MAX, 11};
  std::memcpy(arena_.data(), huge, sizeof(huge));
  EXPECT_EQ(Admit(d).code(), LAM_STATUS_MALFORMED_REQUEST);
}

TEST_F(TextAdmissionTest, EmptyBatchTooManyTextsAndTooLarge) {
  auto d = Put({"hello"});
  d.n_seqs = 0;
  EXPECT_EQ(Admit(d).code(), LAM_STATUS_EMPTY_BATCH);
  d.n_seqs = 101;
  EXPECT_EQ(Admit(d).code(), LAM_STATUS_MALFORMED_REQUEST);
  d = Put({"hello"});
  d.total_tokens = 1 << 20;
  uint64_t detail = 0;
  EXPECT_EQ(Admit(d, &detail).code(), LAM_STATUS_TOO_LARGE);
  EXPECT_NE(detail, 0u);
  d = Put({"hello"});
  d.n_seqs = 100;  // 100 rows of output fit, but the lengths no longer sum to total bytes
  EXPECT_EQ(Admit(d).code(), LAM_STATUS_MALFORMED_REQUEST);
}

TEST_F(TextAdmissionTest, TextArenaBytesNeededAlignsEachRegion) {
  EXPECT_EQ(TextArenaBytesNeeded(1, 1, 8), 64u + 64u + 64u);
  EXPECT_EQ(TextArenaBytesNeeded(17, 65, 384), 128u + 128u + 17u * 384u * 4u);
}

}  // namespace
}  // namespace lam::server
