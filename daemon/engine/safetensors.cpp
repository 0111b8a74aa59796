// SPDX-License-Identifier: MIT
#include "engine/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/json_describe.h"

namespace lam::engine {
namespace {

using nlohmann::json;

struct DTypeEntry {
  DType type;
  const char* name;
  size_t size;
};

constexpr DTypeEntry kDTypes[] = {
    {DType::kF64, "F64", 8},   {DType::kF32, "F32", 4},        {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2}, {DType::kI64, "I64", 8},        {DType::kI32, "I32", 4},
    {DType::kI16, "I16", 2},   {DType::kI8, "I8", 1},          {DType::kU64, "U64", 8},
    {DType::kU32, "U32", 4},   {DType::kU16, "U16", 2},        {DType::kU8, "U8", 1},
    {DType::kBool, "BOOL", 1}, {DType::kF8E4M3, "F8_E4M3", 1}, {DType::kF8E5M2, "F8_E5M2", 1},
};

bool ParseDType(std::string_view s, DType* out) {
  for (const auto& e : kDTypes) {
    if (s == e.name) {
      *out = e.type;
      return true;
    }
  }
  return false;
}

Status Invalid(std::string_view source, const std::string& what) {
  return Status(LAM_STATUS_MODEL_INVALID, std::string(source) + ": " + what);
}

// Validates one tensor entry of the header and fills `t` (offsets relative to the data region).
Status ParseEntry(std::string_view source, const std::string& name, const json& v,
                  uint64_t data_size, TensorInfo* t) {
  const std::string where = "tensor '" + name + "'";
  if (!v.is_object()) return Invalid(source, where + ": header entry is not a JSON object");
  auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string()) return Invalid(source, where + ": missing string 'dtype'");
  if (!ParseDType(dt->get_ref<const std::string&>(), &t->dtype)) {
    return Invalid(source, where + ": unknown dtype '" + dt->get<std::string>() + "'");
  }
  auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array()) return Invalid(source, where + ": missing array 'shape'");
  if (sh->size() > 16) return Invalid(source, where + ": shape has more than 16 dimensions");
  uint64_t numel = 1;
  for (const auto& d : *sh) {
    // Dimensions above 2^62 cannot describe bytes in a real file; rejecting them here keeps
    // the int64 shape and the overflow-checked products below meaningful.
    if (!d.is_number_unsigned() || d.get<uint64_t>() > (1ull << 62)) {
      return Invalid(source, where + ": shape entry " + DescribeJson(d) + " is not a non-negative integer");
    }
    t->shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
    if (__builtin_mul_overflow(numel, d.get<uint64_t>(), &numel)) {
      return Invalid(source, where + ": element count of shape " + ShapeString(t->shape) + "... overflows");
    }
  }
  auto off = v.find("data_offsets");
  if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned()) {
    return Invalid(source, where + ": 'data_offsets' must be [begin, end] non-negative integers");
  }
  const uint64_t begin = (*off)[0].get<uint64_t>();
  const uint64_t end = (*off)[1].get<uint64_t>();
  if (begin > end) {
    return Invalid(source, where + ": data_offsets [" + std::to_string(begin) + ", " +
                               std::to_string(end) + "] are reversed");
  }
  if (end > data_size) {
    return Invalid(source, where + ": data_offsets end " + std::to_string(end) +
                               " is past the data region of " + std::to_string(data_size) +
                               " bytes (file truncated?)");
  }
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dtype_size(t->dtype)), &nbytes) ||
      nbytes != end - begin) {
    return Invalid(source, where + ": data_offsets [" + std::to_string(begin) + ", " +
                               std::to_string(end) + "] hold " + std::to_string(end - begin) +
                               " bytes but " + dtype_name(t->dtype) + " " + ShapeString(t->shape) +
                               " needs " + std::to_string(numel) + " x " +
                               std::to_string(dtype_size(t->dtype)));
  }
  t->name = name;
  t->numel = numel;
  t->nbytes = nbytes;
  t->file_offset = begin;  // made absolute by the caller
  return Status::Ok();
}

Status WriteAll(int fd, const std::byte* p, size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status(LAM_STATUS_IO_ERROR, "write " + path + ": " + std::strerror(errno));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

}  // namespace

const char* dtype_name(DType t) noexcept {
  for (const auto& e : kDTypes) {
    if (e.type == t) return e.name;
  }
  return "?";
}

size_t dtype_size(DType t) noexcept {
  for (const auto& e : kDTypes) {
    if (e.type == t) return e.size;
  }
  return 0;
}

std::string ShapeString(std::span<const int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Result<SafetensorsView> SafetensorsView::Parse(std::span<const std::byte> file,
                                               std::string_view source) {
  SafetensorsView view;
  view.source_ = std::string(source);
  if (file.size() < 8) {
    return Invalid(source, "truncated: " + std::to_string(file.size()) +
                               " bytes, need at least 8 for the header length");
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(file[static_cast<size_t>(i)]);
  if (n > kMaxSafetensorsHeader) {
    return Invalid(source, "header length " + std::to_string(n) +
                               " (bytes 0-7) exceeds the 100 MiB limit");
  }
  if (n > file.size() - 8) {
    return Invalid(source, "header length " + std::to_string(n) + " (bytes 0-7) runs past the end of the " +
                               std::to_string(file.size()) + "-byte file (truncated?)");
  }
  const char* hbegin = reinterpret_cast<const char*>(file.data() + 8);
  json header;
  try {
    header = json::parse(hbegin, hbegin + n);
  } catch (const json::exception& e) {
    return Invalid(source, "malformed JSON header (header spans bytes 8-" + std::to_string(8 + n) +
                               "): " + e.what());
  }
  if (!header.is_object()) return Invalid(source, "JSON header is not an object");

  view.data_offset_ = 8 + n;
  const uint64_t data_size = file.size() - view.data_offset_;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) return Invalid(source, "__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) return Invalid(source, "__metadata__ value '" + m.key() + "' is not a string");
        view.metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    TensorInfo t;
    LAM_RETURN_IF_ERROR(ParseEntry(source, it.key(), *it, data_size, &t));
    t.data = file.data() + view.data_offset_ + t.file_offset;
    t.file_offset += view.data_offset_;
    view.tensors_.push_back(std::move(t));
  }
  // nlohmann objects iterate in key order, so tensors_ is sorted; Find relies on it.
  return view;
}

const TensorInfo* SafetensorsView::Find(std::string_view name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const TensorInfo& t, std::string_view n) { return t.name < n; });
  return (it != tensors_.end() && it->name == name) ? &*it : nullptr;
}

Result<const float*> SafetensorsView::GetF32(std::string_view name,
                                             std::span<const int64_t> shape) const {
  const TensorInfo* t = Find(name);
  if (!t) return Invalid(source_, "missing tensor '" + std::string(name) + "'");
  if (t->dtype != DType::kF32) {
    if (t->dtype == DType::kF16 || t->dtype == DType::kBF16) {
      return Invalid(source_, "tensor " + t->name + " has dtype " + dtype_name(t->dtype) +
                                  "; lamd serves F32 checkpoints — convert with lam-convert");
    }
    return Invalid(source_, "tensor " + t->name + " has dtype " + dtype_name(t->dtype) +
                                ", expected F32");
  }
  if (!std::equal(t->shape.begin(), t->shape.end(), shape.begin(), shape.end())) {
    return Invalid(source_, "tensor " + t->name + " has shape " + ShapeString(t->shape) +
                                ", expected " + ShapeString(shape));
  }
  if (reinterpret_cast<uintptr_t>(t->data) % alignof(float) != 0) {
    return Invalid(source_, "tensor " + t->name + " starts at byte offset " +
                                std::to_string(t->file_offset) +
                                ", which is not 4-byte aligned; F32 tensors are used in place");
  }
  return reinterpret_cast<const float*>(t->data);
}

// ---- MappedFile ---------------------------------------------------------------------------

Result<MappedFile> MappedFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return Status(err == ENOENT ? LAM_STATUS_NOT_FOUND : LAM_STATUS_IO_ERROR,
                  "open " + path + ": " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Status(LAM_STATUS_IO_ERROR, "stat " + path + ": " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status(LAM_STATUS_MODEL_INVALID, path + " is not a regular file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    return Status(LAM_STATUS_MODEL_INVALID, path + " is empty");
  }
  void* p = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);  // the mapping keeps its own reference
  if (p == MAP_FAILED) return Status(LAM_STATUS_IO_ERROR, "mmap " + path + ": " + std::strerror(err));
  MappedFile f;
  f.path_ = path;
  f.data_ = static_cast<const std::byte*>(p);
  f.size_ = static_cast<size_t>(st.st_size);
  return f;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    Reset();
    path_ = std::move(other.path_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

MappedFile::~MappedFile() { Reset(); }

void MappedFile::Reset() noexcept {
  if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

// ---- SafetensorsWriter --------------------------------------------------------------------

Status SafetensorsWriter::Add(std::string name, DType dtype, std::vector<int64_t> shape,
                              std::span<const std::byte> bytes) {
  if (name == "__metadata__" || entries_.count(name)) {
    return Status(LAM_STATUS_INVALID_ARG, "tensor name '" + name + "' is reserved or already added");
  }
  uint64_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0) return Status(LAM_STATUS_INVALID_ARG, "tensor " + name + ": negative dimension");
    numel *= static_cast<uint64_t>(d);
  }
  if (numel * dtype_size(dtype) != bytes.size()) {
    return Status(LAM_STATUS_INVALID_ARG, "tensor " + name + ": " + std::to_string(bytes.size()) +
                                              " bytes do not match shape " + ShapeString(shape));
  }
  entries_.emplace(std::move(name),
                   Entry{dtype, std::move(shape), std::vector<std::byte>(bytes.begin(), bytes.end())});
  return Status::Ok();
}

Status SafetensorsWriter::AddF32(std::string name, std::vector<int64_t> shape,
                                 std::span<const float> values) {
  return Add(std::move(name), DType::kF32, std::move(shape), std::as_bytes(values));
}

std::vector<std::byte> SafetensorsWriter::Serialize() const {
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& [name, e] : entries_) {
    header[name] = {{"dtype", dtype_name(e.dtype)},
                    {"shape", e.shape},
                    {"data_offsets", {offset, offset + e.bytes.size()}}};
    offset += e.bytes.size();
  }
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  std::string h = header.dump();
  // Pad so the data region starts 8-byte aligned (as the reference writer does).
  while ((8 + h.size()) % 8 != 0) h.push_back(' ');
  std::vector<std::byte> out;
  out.reserve(8 + h.size() + offset);
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>((n >> (8 * i)) & 0xff));
  for (char c : h) out.push_back(static_cast<std::byte>(c));
  for (const auto& [name, e] : entries_) out.insert(out.end(), e.bytes.begin(), e.bytes.end());
  return out;
}

Status SafetensorsWriter::WriteFile(const std::string& path) const {
  const std::vector<std::byte> bytes = Serialize();
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status(LAM_STATUS_IO_ERROR, "create " + tmp + ": " + std::strerror(errno));
  Status st = WriteAll(fd, bytes.data(), bytes.size(), tmp);
  if (st.ok() && ::fsync(fd) != 0) {
    st = Status(LAM_STATUS_IO_ERROR, "fsync " + tmp + ": " + std::strerror(errno));
  }
  if (::close(fd) != 0 && st.ok()) {
    st = Status(LAM_STATUS_IO_ERROR, "close " + tmp + ": " + std::strerror(errno));
  }
  if (st.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    st = Status(LAM_STATUS_IO_ERROR, "rename " + tmp + " to " + path + ": " + std::strerror(errno));
  }
  if (!st.ok()) ::unlink(tmp.c_str());
  return st;
}

}  // namespace lam::engine
