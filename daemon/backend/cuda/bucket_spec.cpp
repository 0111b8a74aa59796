// SPDX-License-Identifier: MIT
#include "backend/cuda/bucket_spec.h"

#include <algorithm>
#include <charconv>

namespace lam::cuda {
namespace {

// Grid dimensions y and z are limited to 65535 blocks; sequences index grid.y / grid.z.
constexpr int kMaxGridYZ = 65535;
constexpr int kMaxLen = 1 << 20;
constexpr long kMaxTokens = 1L << 24;
constexpr int kDefaultPackedLen = 8192;

bool ParseInt(const std::string& s, size_t begin, size_t end, int* out) {
  if (begin >= end || end > s.size()) return false;
  const auto r = std::from_chars(s.data() + begin, s.data() + end, *out);
  return r.ec == std::errc() && r.ptr == s.data() + end && *out > 0;
}

}  // namespace

BucketSpec BucketSpec::Padded(int seqs, int len) {
  BucketSpec b;
  b.max_seqs = seqs;
  b.max_len = len;
  const long tokens = static_cast<long>(seqs) * len;
  b.max_tokens = tokens > kMaxTokens ? static_cast<int>(kMaxTokens + 1) : static_cast<int>(tokens);
  return b;
}

BucketSpec BucketSpec::Packed(int tokens, int max_len) {
  BucketSpec b;
  b.layout = Layout::kPacked;
  b.max_tokens = tokens;
  b.max_len = std::min(tokens, max_len);
  b.max_seqs = std::min(tokens, kMaxGridYZ);
  return b;
}

Result<BucketSpec> BucketSpec::Parse(const std::string& name) {
  const auto bad = [&] {
    return Status(LAM_STATUS_INVALID_ARG,
                  "bucket name '" + name + "' is not of the form s<seqs>xL<len> or t<tokens>[xL<len>]");
  };
  BucketSpec b;
  if (name.size() >= 2 && name[0] == 's') {
    const size_t x = name.find("xL");
    int seqs = 0, len = 0;
    if (x == std::string::npos || !ParseInt(name, 1, x, &seqs) ||
        !ParseInt(name, x + 2, name.size(), &len)) {
      return bad();
    }
    b = Padded(seqs, len);
  } else if (name.size() >= 2 && name[0] == 't') {
    const size_t x = name.find("xL");
    int tokens = 0, len = kDefaultPackedLen;
    if (!ParseInt(name, 1, x == std::string::npos ? name.size() : x, &tokens)) return bad();
    if (x != std::string::npos && !ParseInt(name, x + 2, name.size(), &len)) return bad();
    b = Packed(tokens, len);
  } else {
    return bad();
  }
  LAM_RETURN_IF_ERROR(b.Validate());
  if (b.Name() != name) return bad();  // e.g. leading zeros: keep names canonical
  return b;
}

std::string BucketSpec::Name() const {
  // Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string.
  std::string n;
  if (layout == Layout::kPadded) {
    n += 's';
    n += std::to_string(max_seqs);
    n += "xL";
    n += std::to_string(max_len);
    return n;
  }
  n += 't';
  n += std::to_string(max_tokens);
  if (max_len != std::min(max_tokens, kDefaultPackedLen)) {
    n += "xL";
    n += std::to_string(max_len);
  }
  return n;
}

std::vector<std::string> BucketSpec::Defines() const {
  return {"-DLAM_HIDDEN=" + std::to_string(shape.hidden),
          "-DLAM_HEADS=" + std::to_string(shape.heads),
          "-DLAM_HEAD_DIM=" + std::to_string(shape.head_dim),
          "-DLAM_FFN=" + std::to_string(shape.ffn),
          "-DLAM_VOCAB=" + std::to_string(shape.vocab),
          "-DLAM_POS_ROWS=" + std::to_string(shape.pos_rows),
          "-DLAM_CHUNK=" + std::to_string(shape.chunk),
          "-DLAM_MAX_LEN=" + std::to_string(max_len),
          "-DLAM_MAX_TOKENS=" + std::to_string(max_tokens),
          "-DLAM_MAX_SEQS=" + std::to_string(max_seqs)};
}

Status BucketSpec::Validate() const {
  const auto field = [](const char* name, long value, long lo, long hi) -> Status {
    if (value < lo || value > hi) {
      return Status(LAM_STATUS_INVALID_ARG, std::string("bucket field ") + name + " = " +
                                                std::to_string(value) + " is outside [" +
                                                std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
    return Status::Ok();
  };
  LAM_RETURN_IF_ERROR(field("max_seqs", max_seqs, 1, kMaxGridYZ));
  LAM_RETURN_IF_ERROR(field("max_len", max_len, 1, kMaxLen));
  LAM_RETURN_IF_ERROR(field("max_tokens", max_tokens, max_len, kMaxTokens));
  if (layout == Layout::kPadded) {
    const long tokens = static_cast<long>(max_seqs) * max_len;
    LAM_RETURN_IF_ERROR(field("max_tokens (padded: max_seqs x max_len)", max_tokens, tokens, tokens));
  } else {
    const long seqs = std::min<long>(max_tokens, kMaxGridYZ);
    LAM_RETURN_IF_ERROR(field("max_seqs (packed: min(max_tokens, 65535))", max_seqs, seqs, seqs));
  }
  LAM_RETURN_IF_ERROR(field("shape.head_dim", shape.head_dim, 32, 32));
  LAM_RETURN_IF_ERROR(field("shape.heads", shape.heads, 1, 64));
  LAM_RETURN_IF_ERROR(field("shape.hidden", shape.hidden, static_cast<long>(shape.heads) * shape.head_dim,
                            static_cast<long>(shape.heads) * shape.head_dim));
  if (shape.ffn <= 0 || shape.ffn % 32 != 0) {
    return Status(LAM_STATUS_INVALID_ARG,
                  "bucket field shape.ffn = " + std::to_string(shape.ffn) + " is not a positive multiple of 32");
  }
  LAM_RETURN_IF_ERROR(field("shape.vocab", shape.vocab, 1, 1L << 24));
  LAM_RETURN_IF_ERROR(field("shape.pos_rows", shape.pos_rows, 2, 1 << 16));
  if (shape.chunk < 32 || shape.chunk % 32 != 0) {
    return Status(LAM_STATUS_INVALID_ARG, "bucket field shape.chunk = " + std::to_string(shape.chunk) +
                                              " is not a multiple of 32 (>= 32)");
  }
  return Status::Ok();
}

}  // namespace lam::cuda
