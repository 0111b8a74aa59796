// SPDX-License-Identifier: MIT
// safetensors: a read-only, hostile-input-safe parser over a memory-mapped file, plus a small
// deterministic writer (used by lam-mkmodel, converters and tests).
//
// File layout (https://github.com/huggingface/safetensors): 8-byte little-endian header length
// N, N bytes of JSON header {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]},
// "__metadata__": {str: str}}, then the data region; offsets are relative to its start.
// Every check names the tensor and/or the byte offset so a broken file is diagnosable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace lam::engine {

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU64, kU32, kU16, kU8, kBool,
                   kF8E4M3, kF8E5M2 };

// "F32", "BF16", ... as spelled in safetensors headers.
const char* dtype_name(DType t) noexcept;
size_t dtype_size(DType t) noexcept;

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t numel = 0;
  uint64_t file_offset = 0;  // absolute offset of the first byte in the file
  uint64_t nbytes = 0;
  const std::byte* data = nullptr;  // points into the parsed bytes (the mapping)
};

// Header size cap: the reference implementation refuses headers over 100 MB; so do we.
inline constexpr uint64_t kMaxSafetensorsHeader = 100ull << 20;

// A parsed view over bytes owned elsewhere (normally a MappedFile). Cheap to move.
class SafetensorsView {
 public:
  // Parses and validates `file` (the whole file). `source` names it in error messages.
  static Result<SafetensorsView> Parse(std::span<const std::byte> file, std::string_view source);

  const TensorInfo* Find(std::string_view name) const;
  // The tensor as fp32 with exactly `shape`, used in place: MODEL_INVALID if missing, of another
  // dtype, another shape or misaligned for float access.
  Result<const float*> GetF32(std::string_view name, std::span<const int64_t> shape) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // sorted by name
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  uint64_t data_offset() const { return data_offset_; }  // 8 + header length
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
  uint64_t data_offset_ = 0;
};

// Read-only private mapping of a whole file. Movable, not copyable.
class MappedFile {
 public:
  // NOT_FOUND if the file does not exist, IO_ERROR for other failures, MODEL_INVALID if empty
  // or not a regular file.
  static Result<MappedFile> Open(const std::string& path);
  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

 private:
  void Reset() noexcept;
  std::string path_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

// Builds a safetensors file. Output is deterministic: tensors are laid out in name order, the
// header is JSON with sorted keys, padded with spaces to a multiple of 8 bytes.
class SafetensorsWriter {
 public:
  // Copies the bytes. INVALID_ARG on a duplicate name or a size that does not match the shape.
  Status Add(std::string name, DType dtype, std::vector<int64_t> shape,
             std::span<const std::byte> bytes);
  Status AddF32(std::string name, std::vector<int64_t> shape, std::span<const float> values);
  void SetMetadata(std::string key, std::string value) { metadata_[std::move(key)] = std::move(value); }

  // The complete file contents.
  std::vector<std::byte> Serialize() const;
  // Writes to `path` (via `path`.tmp + rename). IO_ERROR on failure.
  Status WriteFile(const std::string& path) const;

 private:
  struct Entry {
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<std::byte> bytes;
  };
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

// "[384, 1, 4]"
std::string ShapeString(std::span<const int64_t> shape);

}  // namespace lam::engine
