// SPDX-License-Identifier: MIT
#include "backend/cpu/cpu_gemm.h"

#include <algorithm>
#include <string>

namespace lam::cpu {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

Status DnnlError(const char* what, const dnnl::error& e) {
  return Status(LAM_STATUS_BACKEND_FAILED, std::string("oneDNN ") + what + ": " + e.what());
}

}  // namespace

Result<GemmPrimitive> GemmPrimitive::Create(const dnnl::engine& eng, const GemmSpec& spec,
                                            int rows) {
  GemmPrimitive g;
  g.spec_ = spec;
  g.rows_ = rows;
  try {
    // bf16: bf16 x bf16 products with fp32 accumulation, bias and dst (oneDNN's bf16 matmul).
    const dt in_dt = spec.precision == Precision::kBf16 ? dt::bf16 : dt::f32;
    g.src_md_ = dnnl::memory::desc({rows, spec.k}, in_dt, tag::ab);
    g.dst_md_ = dnnl::memory::desc({rows, spec.n}, dt::f32, tag::ab);
    const dnnl::memory::desc wei_any({spec.k, spec.n}, in_dt, tag::any);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (spec.gelus > 0) {
      dnnl::post_ops ops;
      for (int i = 0; i < spec.gelus; ++i) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
      attr.set_post_ops(ops);
    }
    std::unique_ptr<dnnl::matmul::desc> desc;
    if (spec.bias) {
      g.bias_md_ = dnnl::memory::desc({1, spec.n}, dt::f32, tag::ab);
      desc = std::make_unique<dnnl::matmul::desc>(g.src_md_, wei_any, g.bias_md_, g.dst_md_);
    } else {
      desc = std::make_unique<dnnl::matmul::desc>(g.src_md_, wei_any, g.dst_md_);
    }
    dnnl::matmul::primitive_desc pd(*desc, attr, eng);
    g.wei_md_ = pd.weights_desc();
    g.scratch_bytes_ = pd.scratchpad_desc().get_size();
    g.prim_ = dnnl::matmul(pd);
  } catch (const dnnl::error& e) {
    return DnnlError("matmul creation", e);
  }
  return g;
}

Result<dnnl::memory> PackWeights(const dnnl::engine& eng, const GemmPrimitive& prim,
                                 const float* w_nk) {
  try {
    // PyTorch [n, k] row-major is the k x n matrix in column-major ("ba") order. In bf16
    // precision the reorder also rounds it to bf16 (nearest even).
    const dnnl::memory::desc plain_md({prim.spec().k, prim.spec().n}, dt::f32, tag::ba);
    dnnl::memory plain(plain_md, eng, const_cast<float*>(w_nk));
    dnnl::memory packed(prim.weights_desc(), eng);
    dnnl::stream s(eng);
    dnnl::reorder(plain, packed).execute(s, plain, packed);
    s.wait();
    return packed;
  } catch (const dnnl::error& e) {
    return DnnlError("weight reorder", e);
  }
}

Result<GemmSlot> GemmSlot::Create(const dnnl::engine& eng, const GemmPrimitive& prim) {
  GemmSlot slot;
  try {
    slot.stream_ = dnnl::stream(eng);
    if (prim.spec().precision == Precision::kBf16) {
      slot.src_ = dnnl::memory(prim.src_desc(), eng);
      slot.src_bf16_ = static_cast<uint16_t*>(slot.src_.get_data_handle());
    } else {
      slot.src_ = dnnl::memory(prim.src_desc(), eng, DNNL_MEMORY_NONE);
    }
    slot.dst_ = dnnl::memory(prim.dst_desc(), eng, DNNL_MEMORY_NONE);
    const auto bytes = static_cast<dnnl::memory::dim>(std::max<size_t>(prim.scratchpad_bytes(), 64));
    slot.scratch_ = dnnl::memory(dnnl::memory::desc({bytes}, dt::u8, tag::a), eng);
  } catch (const dnnl::error& e) {
    return DnnlError("execution context", e);
  }
  return slot;
}

Status GemmSlot::Execute(const GemmPrimitive& prim, const float* src, const dnnl::memory& weights,
                         const dnnl::memory* bias, float* dst) {
  // The C API avoids the std::unordered_map of the C++ execute() (no allocation per call).
  dnnl_status_t st = dnnl_success;
  if (src_bf16_ != nullptr) {
    ConvertToBf16(src, static_cast<size_t>(prim.rows()) * static_cast<size_t>(prim.spec().k), src_bf16_);
  } else {
    st = dnnl_memory_set_data_handle(src_.get(), const_cast<float*>(src));
  }
  if (st == dnnl_success) st = dnnl_memory_set_data_handle(dst_.get(), dst);
  if (st == dnnl_success) {
    dnnl_exec_arg_t args[5];
    int n = 0;
    args[n++] = {DNNL_ARG_SRC, src_.get()};
    args[n++] = {DNNL_ARG_WEIGHTS, weights.get()};
    if (bias != nullptr) args[n++] = {DNNL_ARG_BIAS, bias->get()};
    args[n++] = {DNNL_ARG_DST, dst_.get()};
    args[n++] = {DNNL_ARG_SCRATCHPAD, scratch_.get()};
    st = dnnl_primitive_execute(prim.primitive().get(), stream_.get(), n, args);
  }
  if (st != dnnl_success) {
    return Status(LAM_STATUS_BACKEND_FAILED,
                  "oneDNN matmul execution failed with status " + std::to_string(static_cast<int>(st)));
  }
  return Status::Ok();
}

}  // namespace lam::cpu
