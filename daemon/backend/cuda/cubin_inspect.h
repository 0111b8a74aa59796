// SPDX-License-Identifier: MIT
// Reads the facts lamd relies on from a cubin (a CUDA ELF image) without the driver or
// cuobjdump: the SM architecture it was built for and its global function symbols. Used to
// refuse a cached image for the wrong architecture before the driver ever sees it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace lam::cuda {

struct CubinInfo {
  int sm = 0;               // e.g. 90 for sm_90
  int abi_version = 0;      // ELF EI_ABIVERSION of the CUDA ELF
  std::vector<std::string> functions;  // global function symbols (the kernels)
};

// MODEL_INVALID-free: returns INVALID_ARG naming the byte offset of what is malformed.
Result<CubinInfo> InspectCubin(std::span<const uint8_t> image);

}  // namespace lam::cuda
