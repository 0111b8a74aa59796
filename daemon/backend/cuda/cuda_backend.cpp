// SPDX-License-Identifier: MIT
#include "backend/cuda/cuda_backend.h"

#include <cublasLt.h>
#include <cuda.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cstring>

#include "backend/cuda/cubin_cache.h"
#include "backend/cuda/cuda_driver.h"
#include "backend/cuda/nvrtc_compiler.h"

namespace lam::cuda {
namespace {

// A failed driver call returns BACKEND_FAILED "<expr>: <error text>" from the enclosing function.
#define LAM_CU_RETURN_IF_ERROR(expr) LAM_RETURN_IF_ERROR(Drv().Check((expr), #expr))
#define LAM_LT_RETURN_IF_ERROR(expr)                                                               \
  do {                                                                                             \
    const cublasStatus_t lam_lt_st_ = (expr);                                                      \
    if (lam_lt_st_ != CUBLAS_STATUS_SUCCESS) {                                                     \
      return Status(LAM_STATUS_BACKEND_FAILED, std::string(#expr) + ": " + cublasLtGetStatusString(lam_lt_st_)); \
    }                                                                                              \
  } while (0)

const DriverApi& Drv() { return *Driver(); }

enum Kernel { kEmbed, kFront, kF128, kR64T, kPrepare, kRun, kRms, kLn, kAttn, kPool, kBiasAct, kKernels };
constexpr std::array<const char*, kKernels> kKernelSymbols = {
    "lam_plan_embed",      "lam_plan_front",         "lam_plan_f128_scan", "lam_plan_r64t_single",
    "lam_plan_rec_prepare", "lam_plan_rec_run",      "lam_plan_gated_rmsnorm", "lam_plan_residual_ln",
    "lam_plan_attention",  "lam_plan_pool",          "lam_plan_bias_act"};

constexpr size_t kWorkspaceBytes = 32u << 20;  // cuBLASLt workspace per executable
constexpr unsigned kRowsPerBlock = LAM_ROWS_PER_BLOCK;

unsigned CeilDiv(long a, long b) { return static_cast<unsigned>((a + b - 1) / b); }

}  // namespace

struct CudaBackend::Impl {
  CUdevice dev = 0;
  CUcontext ctx = nullptr;
  bool ctx_retained = false;
  CUmodule module = nullptr;
  std::array<CUfunction, kKernels> fn{};
  cublasLtHandle_t lt = nullptr;
  CUdeviceptr weights = 0;
  std::vector<CUdeviceptr> tensor;  // device pointer per PackedModel tensor id
  int vocab = 0;
  int pos_rows = 0;

  ~Impl() {
    if (ctx != nullptr) Drv().CtxSetCurrent(ctx);
    if (lt != nullptr) cublasLtDestroy(lt);
    if (weights != 0) Drv().MemFree(weights);
    if (module != nullptr) Drv().ModuleUnload(module);
    if (ctx_retained) Drv().DevicePrimaryCtxRelease(dev);
  }
  Status Bind() const { return Drv().Check(Drv().CtxSetCurrent(ctx), "cuCtxSetCurrent"); }
  CUdeviceptr T(int id) const { return id >= 0 ? tensor[static_cast<size_t>(id)] : 0; }
};

// One GEMM of the plan: row-major out[M, n] = in[M, k] W^T as the column-major product
// out^T = W^T^T in^T (cuBLASLt: A = W viewed k x n, op T; B = in viewed k x M; C = out^T).
struct LtGemm {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  ~LtGemm() {
    if (desc != nullptr) cublasLtMatmulDescDestroy(desc);
    if (a != nullptr) cublasLtMatrixLayoutDestroy(a);
    if (b != nullptr) cublasLtMatrixLayoutDestroy(b);
    if (c != nullptr) cublasLtMatrixLayoutDestroy(c);
  }
};

class CudaBackend::Exe final : public backend::Executable {
 public:
  Exe(const CudaBackend* owner, Plan plan) : owner_(owner), plan_(std::move(plan)) {}
  ~Exe() override {
    if (owner_->impl_->ctx != nullptr) Drv().CtxSetCurrent(owner_->impl_->ctx);
    if (exec_ != nullptr) Drv().GraphExecDestroy(exec_);
    if (graph_ != nullptr) Drv().GraphDestroy(graph_);
    if (stream_ != nullptr) Drv().StreamDestroy(stream_);
    for (CUdeviceptr p : {arena_, meta_, workspace_}) {
      if (p != 0) Drv().MemFree(p);
    }
    if (host_meta_ != nullptr) Drv().MemFreeHost(host_meta_);
    if (host_out_ != nullptr) Drv().MemFreeHost(host_out_);
  }
  const backend::Bucket& bucket() const override { return plan_.bucket; }
  size_t byte_size() const override { return bytes_; }

  const CudaBackend* owner_;
  Plan plan_;
  size_t bytes_ = 0;
  CUdeviceptr arena_ = 0, meta_ = 0, workspace_ = 0;
  int* host_meta_ = nullptr;
  float* host_out_ = nullptr;
  CUstream stream_ = nullptr;
  CUgraph graph_ = nullptr;
  CUgraphExec exec_ = nullptr;
  std::vector<std::unique_ptr<LtGemm>> gemms_;  // per plan op (null for non-GEMM ops)

  CUdeviceptr Buf(BufId id) const { return arena_ + plan_.buf(id).offset * sizeof(float); }
  lamk::PlanMeta DeviceMeta() const {
    return plan_.Meta(reinterpret_cast<const int*>(static_cast<uintptr_t>(meta_)));
  }
  size_t OutBytes() const { return static_cast<size_t>(plan_.max_seqs) * LAM_HIDDEN * sizeof(float); }

  // Enqueues op i of the plan on stream_ (inside or outside a graph capture).
  Status Enqueue(size_t i);
  // Enqueues the meta upload, every op and the output download.
  Status EnqueueAll();
  Status Launch(Kernel k, unsigned gx, unsigned gy, unsigned bx, unsigned by, std::vector<void*> args);
};

Status CudaBackend::Exe::Launch(Kernel k, unsigned gx, unsigned gy, unsigned bx, unsigned by,
                                std::vector<void*> args) {
  return Drv().Check(Drv().LaunchKernel(owner_->impl_->fn[k], gx, gy, 1, bx, by, 1, 0, stream_, args.data(), nullptr),
                     std::string("cuLaunchKernel(") + kKernelSymbols[k] + ")");
}

Status CudaBackend::Exe::Enqueue(size_t i) {
  const Op& op = plan_.ops[i];
  const Impl& im = *owner_->impl_;
  const PackedModel& pm = *owner_->packed_;
  lamk::PlanMeta m = DeviceMeta();
  const unsigned row_blocks = CeilDiv(plan_.rows_cap, kRowsPerBlock);
  CUdeviceptr in = Buf(op.in), in2 = Buf(op.in2), out = Buf(op.out);
  CUdeviceptr f = Buf(BufId::kF), s = Buf(BufId::kS), z = Buf(BufId::kZ);
  CUdeviceptr u = Buf(BufId::kU), wk = Buf(BufId::kWk), psi = Buf(BufId::kPsi);
  int variant = plan_.variant;
  float eps = plan_.eps;
  const LamLayerIds* L = (plan_.family == engine::Family::kLam && op.layer >= 0) ? &pm.lam[static_cast<size_t>(op.layer)] : nullptr;
  switch (op.kind) {
    case OpKind::kEmbed: {
      CUdeviceptr word = im.T(pm.word), pos = im.T(pm.pos), type0 = im.T(pm.type0);
      CUdeviceptr lw = im.T(pm.emb_ln_w), lb = im.T(pm.emb_ln_b);
      int pos_rows = im.pos_rows, vocab = im.vocab;
      return Launch(kEmbed, row_blocks, 1, 32, kRowsPerBlock,
                    {&m, &word, &pos, &pos_rows, &type0, &lw, &lb, &eps, &vocab, &out});
    }
    case OpKind::kGemm: {
      const LtGemm& g = *gemms_[i];
      const float alpha = 1.0f, beta = 0.0f;
      CUdeviceptr w = im.T(op.w);
      LAM_LT_RETURN_IF_ERROR(cublasLtMatmul(im.lt, g.desc, &alpha, reinterpret_cast<const void*>(w), g.a,
                                            reinterpret_cast<const void*>(in), g.b, &beta,
                                            reinterpret_cast<void*>(out), g.c, reinterpret_cast<void*>(out), g.c,
                                            &g.algo, reinterpret_cast<void*>(workspace_), kWorkspaceBytes, stream_));
      if (op.bias < 0 && op.act == lamk::kActNone) return Status::Ok();
      CUdeviceptr bias = im.T(op.bias);
      int ld = plan_.buf(op.out).cols, n = op.n, act = op.act;
      return Launch(kBiasAct, 1024, 1, 256, 1, {&m, &out, &ld, &n, &bias, &act});
    }
    case OpKind::kLamFront: {
      CUdeviceptr cw = im.T(L->conv_w), cb = im.T(L->conv_b), fdb = im.T(L->fd_b), fdb2 = im.T(L->fd_b2);
      CUdeviceptr sdb = im.T(L->sd_b), sdb2 = im.T(L->sd_b2), t1w = im.T(L->t1w), t1b = im.T(L->t1b);
      CUdeviceptr t2w = im.T(L->t2w), t2b = im.T(L->t2b);
      return Launch(kFront, row_blocks, 1, 32, kRowsPerBlock,
                    {&m, &variant, &in, &cw, &cb, &fdb, &fdb2, &sdb, &sdb2, &t1w, &t1b, &t2w, &t2b, &f, &s});
    }
    case OpKind::kF128Scan:
      return Launch(kF128, static_cast<unsigned>(plan_.max_chunks), LAM_HEADS, 32, 1, {&m, &f, &s, &out});
    case OpKind::kR64TSingle:
      return Launch(kR64T, static_cast<unsigned>(plan_.max_seqs), LAM_HEADS, 32, 1, {&m, &f, &s, &out});
    case OpKind::kRecPrepare: {
      CUdeviceptr fw = im.T(L->flux_w), temp = im.T(L->flux_temp), n1w = im.T(L->n1w), n1b = im.T(L->n1b);
      CUdeviceptr n2w = im.T(L->n2w), n2b = im.T(L->n2b);
      int per_head = L->flux_per_head ? 1 : 0;
      return Launch(kPrepare, static_cast<unsigned>(plan_.max_chunks), LAM_HEADS, 32, 1,
                    {&m, &variant, &f, &s, &fw, &per_head, &temp, &n1w, &n1b, &n2w, &n2b, &u, &wk, &psi});
    }
    case OpKind::kRecRun:
      return Launch(kRun, static_cast<unsigned>(plan_.max_seqs), LAM_HEADS, 32, 1,
                    {&m, &variant, &f, &s, &u, &wk, &psi, &out});
    case OpKind::kGatedRmsNorm: {
      CUdeviceptr w = im.T(L->onorm);
      return Launch(kRms, row_blocks, 1, 32, kRowsPerBlock, {&m, &z, &w, &out});
    }
    case OpKind::kResidualLn: {
      CUdeviceptr lw = im.T(op.ln_w), lb = im.T(op.ln_b);
      int zero_pad = op.zero_pad ? 1 : 0;
      return Launch(kLn, row_blocks, 1, 32, kRowsPerBlock, {&m, &in, &in2, &lw, &lb, &eps, &zero_pad, &out});
    }
    case OpKind::kAttention:
      return Launch(kAttn, CeilDiv(plan_.rows_cap, 4), LAM_HEADS, 32, 4, {&m, &in, &out});
    case OpKind::kPool:
      return Launch(kPool, static_cast<unsigned>(plan_.max_seqs), 1, 32, 1, {&m, &in, &out});
  }
  return Status(LAM_STATUS_INTERNAL, "unknown plan op " + op.Name());
}

Status CudaBackend::Exe::EnqueueAll() {
  LAM_CU_RETURN_IF_ERROR(Drv().MemcpyHtoDAsync(meta_, host_meta_, plan_.meta_ints * sizeof(int), stream_));
  for (size_t i = 0; i < plan_.ops.size(); ++i) LAM_RETURN_IF_ERROR(Enqueue(i));
  LAM_CU_RETURN_IF_ERROR(Drv().MemcpyDtoHAsync(host_out_, Buf(BufId::kOut), OutBytes(), stream_));
  return Status::Ok();
}

CudaBackend::CudaBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

CudaBackend::~CudaBackend() = default;

Result<std::unique_ptr<CudaBackend>> CudaBackend::Create(const engine::ModelWeights& weights,
                                                         const CudaBackendOptions& options) {
  const int devices = DeviceCount();
  if (devices == 0) {
    return Status(LAM_STATUS_UNSUPPORTED, "no CUDA device (driver " + DriverVersionString() + ")");
  }
  if (options.device < 0 || options.device >= devices) {
    return Status(LAM_STATUS_UNSUPPORTED, "CUDA device " + std::to_string(options.device) + " does not exist (" +
                                              std::to_string(devices) + " present)");
  }
  GemmPrecision precision;
  if (options.precision == "fp32") {
    precision = GemmPrecision::kFp32;
  } else if (options.precision == "tf32") {
    precision = GemmPrecision::kTf32;
  } else {
    return Status(LAM_STATUS_INVALID_ARG,
                  "the CUDA backend computes in fp32 or tf32, not '" + options.precision + "'");
  }
  LAM_ASSIGN_OR_RETURN(std::unique_ptr<PackedModel> packed, PackedModel::Create(weights));
  auto impl = std::make_unique<Impl>();
  impl->vocab = weights.config.vocab_size;
  impl->pos_rows = weights.config.position_table;
  LAM_CU_RETURN_IF_ERROR(Drv().DeviceGet(&impl->dev, options.device));
  LAM_CU_RETURN_IF_ERROR(Drv().DevicePrimaryCtxRetain(&impl->ctx, impl->dev));
  impl->ctx_retained = true;
  LAM_RETURN_IF_ERROR(impl->Bind());
  char name[256] = {};
  LAM_CU_RETURN_IF_ERROR(Drv().DeviceGetName(name, sizeof(name) - 1, impl->dev));
  LAM_ASSIGN_OR_RETURN(std::string arch, DeviceArch(options.device));

  // The plan kernels take every size at run time: one image per architecture serves all buckets,
  // from the disk cache when a precompile or an earlier start left it there.
  LAM_ASSIGN_OR_RETURN(const LoadedCubin kernels, LoadPlanKernels(arch, options.disk));
  LAM_CU_RETURN_IF_ERROR(Drv().ModuleLoadData(&impl->module, kernels.cubin.image.data()));
  for (int k = 0; k < kKernels; ++k) {
    LAM_CU_RETURN_IF_ERROR(Drv().ModuleGetFunction(&impl->fn[static_cast<size_t>(k)], impl->module, kKernelSymbols[static_cast<size_t>(k)]));
  }

  // Every plan tensor in one device block, each 256-byte aligned.
  size_t total = 0;
  std::vector<size_t> offsets;
  for (const PlanTensor& t : packed->tensors()) {
    offsets.push_back(total);
    total += (t.count + 63) / 64 * 64;
  }
  LAM_CU_RETURN_IF_ERROR(Drv().MemAlloc(&impl->weights, total * sizeof(float)));
  for (size_t i = 0; i < packed->tensors().size(); ++i) {
    const PlanTensor& t = packed->tensors()[i];
    const CUdeviceptr p = impl->weights + offsets[i] * sizeof(float);
    LAM_CU_RETURN_IF_ERROR(Drv().MemcpyHtoD(p, t.data, t.count * sizeof(float)));
    impl->tensor.push_back(p);
  }
  LAM_LT_RETURN_IF_ERROR(cublasLtCreate(&impl->lt));
  if (kernels.disk_hit) {
    spdlog::info("cuda: {} ({}, {}), {} MiB of weights, kernels loaded from the disk cache in {:.1f} ms", name, arch,
                 options.precision,
                 total * sizeof(float) >> 20, kernels.load_ms);
  } else {
    spdlog::info("cuda: {} ({}, {}), {} MiB of weights, kernels compiled in {:.0f} ms ({})", name, arch,
                 options.precision,
                 total * sizeof(float) >> 20, kernels.compile_ms,
                 options.disk == nullptr ? "no disk cache" : "stored in the disk cache");
  }
  std::unique_ptr<CudaBackend> b(new CudaBackend(std::move(impl)));
  b->packed_ = std::move(packed);
  b->device_name_ = name;
  b->arch_ = arch;
  b->device_ = options.device;
  b->precision_ = precision;
  b->kernels_from_cache_ = kernels.disk_hit;
  return b;
}

std::string CudaBackend::device_identity() const {
  std::string name = device_name_;  // cache key fields are printable ASCII
  for (char& c : name) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return "cuda:" + std::to_string(device_) + "/" + arch_ + "/" + name;
}

std::string CudaBackend::driver_identity() const { return "driver-" + DriverVersionString(); }

Result<std::unique_ptr<backend::Executable>> CudaBackend::Compile(const backend::Bucket& bucket) {
  LAM_RETURN_IF_ERROR(impl_->Bind());
  LAM_ASSIGN_OR_RETURN(Plan plan, BuildPlan(*packed_, bucket));
  auto exe = std::make_unique<Exe>(this, std::move(plan));
  const Plan& p = exe->plan_;
  LAM_CU_RETURN_IF_ERROR(Drv().StreamCreate(&exe->stream_, CU_STREAM_NON_BLOCKING));
  LAM_CU_RETURN_IF_ERROR(Drv().MemAlloc(&exe->arena_, p.arena_floats * sizeof(float)));
  LAM_CU_RETURN_IF_ERROR(Drv().MemAlloc(&exe->meta_, p.meta_ints * sizeof(int)));
  LAM_CU_RETURN_IF_ERROR(Drv().MemAlloc(&exe->workspace_, kWorkspaceBytes));
  void* hm = nullptr;
  void* ho = nullptr;
  LAM_CU_RETURN_IF_ERROR(Drv().MemHostAlloc(&hm, p.meta_ints * sizeof(int), 0));
  exe->host_meta_ = static_cast<int*>(hm);
  LAM_CU_RETURN_IF_ERROR(Drv().MemHostAlloc(&ho, exe->OutBytes(), 0));
  exe->host_out_ = static_cast<float*>(ho);
  exe->bytes_ = (p.arena_floats + p.meta_ints) * 4 + kWorkspaceBytes + p.meta_ints * 4 + exe->OutBytes();

  // cuBLASLt descriptors and one algorithm per projection, for the bucket's fixed row count.
  exe->gemms_.resize(p.ops.size());
  cublasLtMatmulPreference_t pref = nullptr;
  LAM_LT_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&pref));
  std::unique_ptr<std::remove_pointer_t<cublasLtMatmulPreference_t>, decltype(&cublasLtMatmulPreferenceDestroy)> pref_owner(
      pref, cublasLtMatmulPreferenceDestroy);
  const uint64_t ws = kWorkspaceBytes;
  LAM_LT_RETURN_IF_ERROR(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  for (size_t i = 0; i < p.ops.size(); ++i) {
    const Op& op = p.ops[i];
    if (op.kind != OpKind::kGemm) continue;
    auto g = std::make_unique<LtGemm>();
    // fp32: fp32 in, fp32 accumulate, no TF32, the exact mode (DESIGN.md "Precision"). tf32: the
    // same fp32 buffers, inputs rounded to TF32 on the tensor cores, fp32 accumulation.
    const cublasComputeType_t compute =
        precision_ == GemmPrecision::kTf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    LAM_LT_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&g->desc, compute, CUDA_R_32F));
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    LAM_LT_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(g->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    LAM_LT_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(g->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    const uint64_t M = static_cast<uint64_t>(p.rows_cap), N = static_cast<uint64_t>(op.n), K = static_cast<uint64_t>(op.k);
    LAM_LT_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&g->a, CUDA_R_32F, K, N, static_cast<int64_t>(K)));
    LAM_LT_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&g->b, CUDA_R_32F, K, M, p.buf(op.in).cols));
    LAM_LT_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&g->c, CUDA_R_32F, N, M, p.buf(op.out).cols));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    LAM_LT_RETURN_IF_ERROR(cublasLtMatmulAlgoGetHeuristic(impl_->lt, g->desc, g->a, g->b, g->c, g->c, pref, 1, &result, &found));
    if (found < 1) {
      return Status(LAM_STATUS_BACKEND_FAILED, std::string("cuBLASLt has no ") + GemmPrecisionName(precision_) +
                                                   " algorithm for " + op.Name());
    }
    g->algo = result.algo;
    exe->gemms_[i] = std::move(g);
  }

  // The whole plan as one graph. The capture always ends, also when an enqueue failed.
  LAM_CU_RETURN_IF_ERROR(Drv().StreamBeginCapture(exe->stream_, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
  const Status enqueued = exe->EnqueueAll();
  const CUresult ended = Drv().StreamEndCapture(exe->stream_, &exe->graph_);
  LAM_RETURN_IF_ERROR(enqueued);
  LAM_CU_RETURN_IF_ERROR(ended);
  LAM_CU_RETURN_IF_ERROR(Drv().GraphInstantiate(&exe->exec_, exe->graph_, 0));
  return std::unique_ptr<backend::Executable>(std::move(exe));
}

Status CudaBackend::Run(backend::Executable& exe_base, std::span<const engine::TokenSpan> batch, float* out) {
  auto* exe = dynamic_cast<Exe*>(&exe_base);
  if (exe == nullptr || exe->owner_ != this) {
    return Status(LAM_STATUS_INVALID_ARG, "executable was not compiled by this CUDA backend");
  }
  LAM_RETURN_IF_ERROR(FillMeta(exe->plan_, impl_->vocab, batch, exe->host_meta_));
  LAM_RETURN_IF_ERROR(impl_->Bind());
  LAM_CU_RETURN_IF_ERROR(Drv().GraphLaunch(exe->exec_, exe->stream_));
  LAM_CU_RETURN_IF_ERROR(Drv().StreamSynchronize(exe->stream_));
  std::memcpy(out, exe->host_out_, batch.size() * LAM_HIDDEN * sizeof(float));
  return Status::Ok();
}

Status CudaBackend::RunOpsAndRead(backend::Executable& exe_base, std::span<const engine::TokenSpan> batch,
                                  size_t n_ops, BufId id, std::vector<float>* host) {
  auto* exe = dynamic_cast<Exe*>(&exe_base);
  if (exe == nullptr || exe->owner_ != this) {
    return Status(LAM_STATUS_INVALID_ARG, "executable was not compiled by this CUDA backend");
  }
  LAM_RETURN_IF_ERROR(FillMeta(exe->plan_, impl_->vocab, batch, exe->host_meta_));
  LAM_RETURN_IF_ERROR(impl_->Bind());
  const Plan& p = exe->plan_;
  LAM_CU_RETURN_IF_ERROR(Drv().MemcpyHtoDAsync(exe->meta_, exe->host_meta_, p.meta_ints * sizeof(int), exe->stream_));
  for (size_t i = 0; i < n_ops && i < p.ops.size(); ++i) LAM_RETURN_IF_ERROR(exe->Enqueue(i));
  LAM_CU_RETURN_IF_ERROR(Drv().StreamSynchronize(exe->stream_));
  host->assign(p.buf(id).floats, 0.0f);
  LAM_CU_RETURN_IF_ERROR(Drv().MemcpyDtoH(host->data(), exe->Buf(id), host->size() * sizeof(float)));
  return Status::Ok();
}

}  // namespace lam::cuda
