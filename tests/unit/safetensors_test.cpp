// SPDX-License-Identifier: MIT
#include "engine/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace lam::engine {
namespace {

std::vector<std::byte> RawFile(const std::string& header, size_t data_bytes, uint64_t declared_len) {
  std::vector<std::byte> out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>((declared_len >> (8 * i)) & 0xff));
  for (char c : header) out.push_back(static_cast<std::byte>(c));
  for (size_t i = 0; i < data_bytes; ++i) out.push_back(static_cast<std::byte>(i & 0xff));
  return out;
}

std::vector<std::byte> RawFile(const std::string& header, size_t data_bytes) {
  return RawFile(header, data_bytes, header.size());
}

// Parses `file` and expects MODEL_INVALID with `needle` in the message.
void ExpectInvalid(const std::vector<std::byte>& file, const std::string& needle) {
  auto r = SafetensorsView::Parse(file, "t.safetensors");
  ASSERT_FALSE(r.ok()) << "expected failure containing: " << needle;
  EXPECT_EQ(r.status().code(), LAM_STATUS_MODEL_INVALID);
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("t.safetensors"), std::string::npos) << r.status().message();
}

std::vector<std::byte> SmallValidFile() {
  SafetensorsWriter w;
  std::vector<float> a = {1, 2, 3, 4, 5, 6};
  std::vector<float> b = {-1.5f};
  EXPECT_TRUE(w.AddF32("layer.a", {2, 3}, a).ok());
  EXPECT_TRUE(w.AddF32("b", {1}, b).ok());
  std::vector<uint16_t> half = {0x3c00, 0x4000};
  EXPECT_TRUE(w.Add("h", DType::kBF16, {2}, std::as_bytes(std::span<const uint16_t>(half))).ok());
  w.SetMetadata("format", "pt");
  return w.Serialize();
}

TEST(SafetensorsTest, WriterOutputParsesBackWithValuesShapesAndMetadata) {
  const auto file = SmallValidFile();
  auto r = SafetensorsView::Parse(file, "t.safetensors");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const SafetensorsView& v = r.value();
  ASSERT_EQ(v.tensors().size(), 3u);
  EXPECT_EQ(v.metadata().at("format"), "pt");
  EXPECT_EQ(v.data_offset() % 8, 0u);
  const int64_t shape[] = {2, 3};
  auto a = v.GetF32("layer.a", shape);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a.value()[0], 1.0f);
  EXPECT_EQ(a.value()[5], 6.0f);
  // Used in place: the pointer lies inside the parsed bytes.
  EXPECT_GE(reinterpret_cast<const std::byte*>(a.value()), file.data());
  EXPECT_LT(reinterpret_cast<const std::byte*>(a.value()), file.data() + file.size());
  const int64_t one[] = {1};
  EXPECT_EQ(v.GetF32("b", one).value()[0], -1.5f);
  const TensorInfo* h = v.Find("h");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->dtype, DType::kBF16);
  EXPECT_EQ(h->nbytes, 4u);
  EXPECT_EQ(v.Find("nope"), nullptr);
}

TEST(SafetensorsTest, SerializeIsDeterministicWhateverTheInsertionOrder) {
  SafetensorsWriter w1, w2;
  std::vector<float> x = {1, 2}, y = {3};
  ASSERT_TRUE(w1.AddF32("x", {2}, x).ok());
  ASSERT_TRUE(w1.AddF32("y", {1}, y).ok());
  ASSERT_TRUE(w2.AddF32("y", {1}, y).ok());
  ASSERT_TRUE(w2.AddF32("x", {2}, x).ok());
  EXPECT_EQ(w1.Serialize(), w2.Serialize());
}

TEST(SafetensorsTest, WriterRejectsDuplicateNamesAndSizeMismatch) {
  SafetensorsWriter w;
  std::vector<float> x = {1, 2};
  ASSERT_TRUE(w.AddF32("x", {2}, x).ok());
  EXPECT_EQ(w.AddF32("x", {2}, x).code(), LAM_STATUS_INVALID_ARG);
  EXPECT_EQ(w.AddF32("z", {3}, x).code(), LAM_STATUS_INVALID_ARG);
  EXPECT_EQ(w.AddF32("__metadata__", {2}, x).code(), LAM_STATUS_INVALID_ARG);
}

TEST(SafetensorsTest, GetF32NamesTensorOnMissingWrongShapeAndWrongDtype) {
  const auto file = SmallValidFile();
  auto v = SafetensorsView::Parse(file, "t.safetensors").value();
  const int64_t s23[] = {2, 3}, s32[] = {3, 2}, s2[] = {2};
  auto missing = v.GetF32("layer.c", s23);
  EXPECT_EQ(missing.status().code(), LAM_STATUS_MODEL_INVALID);
  EXPECT_NE(missing.status().message().find("missing tensor 'layer.c'"), std::string::npos);
  auto shape = v.GetF32("layer.a", s32);
  EXPECT_NE(shape.status().message().find("layer.a has shape [2, 3], expected [3, 2]"), std::string::npos)
      << shape.status().message();
  auto bf16 = v.GetF32("h", s2);
  EXPECT_NE(bf16.status().message().find("tensor h has dtype BF16; lamd serves F32 checkpoints"),
            std::string::npos)
      << bf16.status().message();
}

TEST(SafetensorsTest, MisalignedF32IsRefusedWithTheByteOffset) {
  // A one-byte U8 tensor first pushes the F32 tensor to an odd offset.
  std::string header =
      R"({"u":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"f":{"dtype":"F32","shape":[1],"data_offsets":[1,5]}})";
  while ((8 + header.size()) % 8) header.push_back(' ');
  const auto file = RawFile(header, 5);
  auto v = SafetensorsView::Parse(file, "t.safetensors");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  const int64_t s1[] = {1};
  auto f = v.value().GetF32("f", s1);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("byte offset " + std::to_string(8 + header.size() + 1)),
            std::string::npos)
      << f.status().message();
}

TEST(SafetensorsTest, TooShortForTheLengthPrefix) {
  ExpectInvalid({}, "need at least 8");
  ExpectInvalid(std::vector<std::byte>(7), "need at least 8");
}

TEST(SafetensorsTest, HeaderLengthPastEndOfFileOrOverCap) {
  ExpectInvalid(RawFile("{}", 0, 1000), "runs past the end");
  ExpectInvalid(RawFile("{}", 0, 1ull << 40), "exceeds the 100 MiB limit");
  ExpectInvalid(RawFile("{}", 0, ~0ull), "exceeds the 100 MiB limit");
}

TEST(SafetensorsTest, MalformedOrNonObjectHeader) {
  ExpectInvalid(RawFile("{\"a\":", 0), "malformed JSON header");
  ExpectInvalid(RawFile("", 0), "malformed JSON header");
  ExpectInvalid(RawFile("[1,2]   ", 0), "not an object");
  ExpectInvalid(RawFile(R"({"__metadata__":[1]})", 0), "__metadata__ is not an object");
  ExpectInvalid(RawFile(R"({"__metadata__":{"k":1}})", 0), "'k' is not a string");
}

TEST(SafetensorsTest, EmptyHeaderObjectIsAValidEmptyFile) {
  auto v = SafetensorsView::Parse(RawFile("{}      ", 0), "t.safetensors");
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v.value().tensors().empty());
}

TEST(SafetensorsTest, EachBadTensorEntryIsNamed) {
  ExpectInvalid(RawFile(R"({"w":3})", 0), "tensor 'w': header entry is not a JSON object");
  ExpectInvalid(RawFile(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4), "tensor 'w': missing string 'dtype'");
  ExpectInvalid(RawFile(R"({"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})", 4), "unknown dtype 'F33'");
  ExpectInvalid(RawFile(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", 4), "missing array 'shape'");
  ExpectInvalid(RawFile(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
                "shape entry -1 is not a non-negative integer");
  ExpectInvalid(RawFile(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4),
                "is not a non-negative integer");
  ExpectInvalid(RawFile(R"({"w":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904],"data_offsets":[0,4]}})", 4),
                "overflows");
  ExpectInvalid(RawFile(R"({"w":{"dtype":"F32","shape":[1]}})", 4), "'data_offsets' must be");
  ExpectInvalid(RawFile(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4), "'data_offsets' must be");
  ExpectInvalid(RawFile(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4), "reversed");
  ExpectInvalid(RawFile(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}})", 4),
                "tensor 'w': data_offsets end 8 is past the data region of 4 bytes");
  ExpectInvalid(RawFile(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 8),
                "hold 4 bytes but F32 [2] needs 2 x 4");
  // numel * dtype size overflowing uint64 must not wrap around to a small size.
  ExpectInvalid(RawFile(R"({"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0),
                "needs");
}

// Error messages used to quote a bad value with nlohmann's dump(), which recurses once per
// nesting level: a shape entry nested 300000 levels deep overflowed the stack.
TEST(SafetensorsTest, DeeplyNestedShapeEntryIsRefusedWithoutRecursing) {
  const std::string deep = std::string(300000, '[') + std::string(300000, ']');
  ExpectInvalid(RawFile(R"({"w":{"dtype":"F32","shape":[)" + deep + R"(],"data_offsets":[0,4]}})", 4),
                "shape entry an array of 1 elements is not a non-negative integer");
  // After an overflow the rest of the shape is not quoted either.
  ExpectInvalid(RawFile(R"({"w":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904,)" +
                            deep + R"(],"data_offsets":[0,4]}})", 4),
                "overflows");
}

TEST(SafetensorsTest, EveryTruncationOfAValidFileFailsCleanly) {
  const auto file = SmallValidFile();
  for (size_t n = 0; n < file.size(); ++n) {
    std::vector<std::byte> cut(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(n));
    auto r = SafetensorsView::Parse(cut, "t.safetensors");
    EXPECT_FALSE(r.ok()) << "prefix of " << n << " bytes parsed";
    EXPECT_EQ(r.status().code(), LAM_STATUS_MODEL_INVALID);
  }
}

TEST(SafetensorsTest, RandomByteCorruptionNeverCrashes) {
  const auto file = SmallValidFile();
  std::mt19937 rng(1234);
  int failures = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    auto bad = file;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      bad[rng() % bad.size()] = static_cast<std::byte>(rng() & 0xff);
    }
    auto r = SafetensorsView::Parse(bad, "t.safetensors");
    if (!r.ok()) {
      ++failures;
      EXPECT_EQ(r.status().code(), LAM_STATUS_MODEL_INVALID);
      continue;
    }
    // Whatever parsed must stay inside the buffer.
    for (const auto& t : r.value().tensors()) {
      EXPECT_LE(t.file_offset + t.nbytes, bad.size());
      EXPECT_GE(t.file_offset, r.value().data_offset());
    }
  }
  EXPECT_GT(failures, 0);
}

class MappedFileTest : public ::testing::Test {
 protected:
  std::filesystem::path dir_ = std::filesystem::path(LAM_TEST_DATA_DIR) /
                               ("safetensors_test_" + std::to_string(::getpid()));
  void SetUp() override { std::filesystem::create_directories(dir_); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
};

TEST_F(MappedFileTest, WriteFileThenMapAndParse) {
  SafetensorsWriter w;
  std::vector<float> x = {0.25f, 0.5f, 0.75f, 1.0f};
  ASSERT_TRUE(w.AddF32("x", {2, 2}, x).ok());
  const std::string path = (dir_ / "m.safetensors").string();
  ASSERT_TRUE(w.WriteFile(path).ok());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  auto m = MappedFile::Open(path);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  MappedFile moved = std::move(m.value());
  auto v = SafetensorsView::Parse(moved.bytes(), path);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  const int64_t s[] = {2, 2};
  const float* p = v.value().GetF32("x", s).value();
  EXPECT_EQ(std::memcmp(p, x.data(), sizeof(float) * 4), 0);
}

TEST_F(MappedFileTest, MissingEmptyAndDirectoryAreDistinctErrors) {
  auto missing = MappedFile::Open((dir_ / "none").string());
  EXPECT_EQ(missing.status().code(), LAM_STATUS_NOT_FOUND);
  std::ofstream((dir_ / "empty").string()).close();
  auto empty = MappedFile::Open((dir_ / "empty").string());
  EXPECT_EQ(empty.status().code(), LAM_STATUS_MODEL_INVALID);
  EXPECT_NE(empty.status().message().find("is empty"), std::string::npos);
  auto d = MappedFile::Open(dir_.string());
  EXPECT_EQ(d.status().code(), LAM_STATUS_MODEL_INVALID);
}

}  // namespace
}  // namespace lam::engine
