// SPDX-License-Identifier: MIT
#include "backend/cuda/cubin_inspect.h"

#include <cstring>

namespace lam::cuda {
namespace {

constexpr uint16_t kEmCuda = 190;  // EM_CUDA
constexpr uint32_t kShtSymtab = 2;
constexpr uint8_t kSttFunc = 2;
constexpr uint8_t kStbGlobal = 1;

template <typename T>
T Load(std::span<const uint8_t> b, uint64_t off) {
  T v;
  std::memcpy(&v, b.data() + off, sizeof v);  // ELF64 little-endian, as x86-64 and aarch64 hosts
  return v;
}

Status Bad(uint64_t offset, const std::string& what) {
  return Status(LAM_STATUS_INVALID_ARG,
                "cubin: " + what + " (at byte offset " + std::to_string(offset) + ")");
}

bool InRange(std::span<const uint8_t> b, uint64_t off, uint64_t size) {
  return off <= b.size() && size <= b.size() - off;
}

}  // namespace

Result<CubinInfo> InspectCubin(std::span<const uint8_t> b) {
  if (b.size() < 64) return Bad(0, "shorter than an ELF64 header");
  if (std::memcmp(b.data(), "\x7f" "ELF", 4) != 0) return Bad(0, "no ELF magic");
  if (b[4] != 2) return Bad(4, "not ELF64");
  if (b[5] != 1) return Bad(5, "not little-endian");
  if (Load<uint16_t>(b, 18) != kEmCuda) return Bad(18, "e_machine is not EM_CUDA");
  CubinInfo info;
  info.abi_version = b[8];
  const uint32_t flags = Load<uint32_t>(b, 48);
  // CUDA ELF ABI v8 (CUDA 12.8+) moved the SM number from bits 0-7 to bits 8-15 of e_flags.
  info.sm = info.abi_version >= 8 ? static_cast<int>((flags >> 8) & 0xff)
                                  : static_cast<int>(flags & 0xff);

  const uint64_t shoff = Load<uint64_t>(b, 40);
  const uint16_t shentsize = Load<uint16_t>(b, 58);
  const uint16_t shnum = Load<uint16_t>(b, 60);
  if (shentsize != 64) return Bad(58, "unexpected section header size");
  if (!InRange(b, shoff, static_cast<uint64_t>(shnum) * shentsize)) {
    return Bad(40, "section headers beyond the end of the image");
  }
  for (uint16_t i = 0; i < shnum; ++i) {
    const uint64_t sh = shoff + static_cast<uint64_t>(i) * shentsize;
    if (Load<uint32_t>(b, sh + 4) != kShtSymtab) continue;
    const uint64_t off = Load<uint64_t>(b, sh + 24);
    const uint64_t size = Load<uint64_t>(b, sh + 32);
    const uint32_t link = Load<uint32_t>(b, sh + 40);
    const uint64_t entsize = Load<uint64_t>(b, sh + 56);
    if (entsize != 24 || !InRange(b, off, size)) return Bad(sh, "malformed symbol table");
    if (link >= shnum) return Bad(sh + 40, "symbol table links to a missing string table");
    const uint64_t strsh = shoff + static_cast<uint64_t>(link) * shentsize;
    const uint64_t stroff = Load<uint64_t>(b, strsh + 24);
    const uint64_t strsize = Load<uint64_t>(b, strsh + 32);
    if (!InRange(b, stroff, strsize)) return Bad(strsh, "string table beyond the end of the image");
    for (uint64_t s = off; s + 24 <= off + size; s += 24) {
      const uint8_t st_info = b[s + 4];
      if ((st_info & 0xf) != kSttFunc || (st_info >> 4) != kStbGlobal) continue;
      const uint32_t name = Load<uint32_t>(b, s);
      if (name >= strsize) return Bad(s, "symbol name outside the string table");
      const char* p = reinterpret_cast<const char*>(b.data() + stroff + name);
      const size_t max = strsize - name;
      const size_t len = strnlen(p, max);
      if (len == max) return Bad(stroff + name, "unterminated symbol name");
      info.functions.emplace_back(p, len);
    }
  }
  return info;
}

}  // namespace lam::cuda
