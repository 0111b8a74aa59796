// SPDX-License-Identifier: MIT
// libFuzzer target: a model.safetensors file from hostile bytes. SafetensorsView::Parse either
// refuses it with a status or returns tensors that all lie inside the buffer, whose byte counts
// match dtype x shape, that Find() returns, and that survive a write/parse round trip unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>

#include "engine/safetensors.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "safetensors_fuzz: invariant violated: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lam::engine;
  const std::span<const std::byte> file(reinterpret_cast<const std::byte*>(data), size);
  auto view = SafetensorsView::Parse(file, "fuzz.safetensors");
  if (!view.ok()) {
    Check(!view.status().message().empty(), "an error without a message");
    return 0;
  }
  Check(view->data_offset() >= 8 && view->data_offset() <= size, "data offset outside the file");
  volatile uint8_t sink = 0;
  SafetensorsWriter writer;
  for (const TensorInfo& t : view->tensors()) {
    Check(dtype_size(t.dtype) > 0, "unknown dtype accepted");
    uint64_t numel = 1;
    for (const int64_t d : t.shape) {
      Check(d >= 0, "negative dimension");
      numel *= static_cast<uint64_t>(d);
    }
    Check(numel == t.numel, "numel differs from the shape's product");
    Check(t.nbytes == t.numel * dtype_size(t.dtype), "nbytes differs from numel x dtype size");
    Check(t.file_offset >= view->data_offset(), "tensor starts inside the header");
    Check(t.file_offset <= size && t.nbytes <= size - t.file_offset, "tensor runs past the file");
    Check(t.data == file.data() + t.file_offset, "data pointer and file offset disagree");
    if (t.nbytes > 0) {  // touch both ends: ASan reports any byte outside the input
      sink = sink + static_cast<uint8_t>(t.data[0]) + static_cast<uint8_t>(t.data[t.nbytes - 1]);
    }
    Check(view->Find(t.name) == &t, "Find() does not return the listed tensor");
    auto f32 = view->GetF32(t.name, t.shape);
    if (f32.ok()) {
      Check(t.dtype == DType::kF32, "GetF32 accepted another dtype");
      Check(reinterpret_cast<uintptr_t>(*f32) % alignof(float) == 0, "GetF32 returned misaligned data");
    }
    Check(writer.Add(t.name, t.dtype, t.shape, {t.data, t.nbytes}).ok(),
          "the writer refuses a tensor the parser accepted");
  }
  for (const auto& [k, v] : view->metadata()) writer.SetMetadata(k, v);

  // Round trip: what the writer makes of the parsed tensors parses back to the same tensors.
  const std::vector<std::byte> again = writer.Serialize();
  auto view2 = SafetensorsView::Parse(again, "round-trip.safetensors");
  Check(view2.ok(), "the writer's output does not parse");
  Check(view2->tensors().size() == view->tensors().size(), "round trip changed the tensor count");
  Check(view2->metadata() == view->metadata(), "round trip changed the metadata");
  for (size_t i = 0; i < view->tensors().size(); ++i) {
    const TensorInfo& a = view->tensors()[i];
    const TensorInfo& b = view2->tensors()[i];
    Check(a.name == b.name && a.dtype == b.dtype && a.shape == b.shape && a.nbytes == b.nbytes,
          "round trip changed a tensor's description");
    Check(a.nbytes == 0 || std::memcmp(a.data, b.data, a.nbytes) == 0,
          "round trip changed a tensor's bytes");
  }
  return 0;
}
