// SPDX-License-Identifier: MIT
#include "backend/cpu/cpu_backend.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "backend/cpu/cpu_exec_common.h"
#include "backend/cpu/cpu_mixer.h"

namespace lam::cpu {
namespace {

using engine::Variant;

int ChunkBase(Variant v) {
  switch (v) {
    case Variant::kR32:
      return 32;
    case Variant::kR64T:
      return 64;
    default:
      return 128;
  }
}

// oneTBB creates and attaches the arena's workers lazily, and a worker's first entry runs the
// OpenMP-pinning observer, whose first omp_set_num_threads allocates libgomp's per-thread state.
// Making every arena thread enter once here (at compile time) keeps both out of the first Run.
// Each of the n tasks waits until n have started, so n distinct threads must have entered;
// gives up after a second (e.g. when other arenas hold the workers).
void StartWorkers(CpuThreads& threads) {
  const int n = threads.concurrency();
  if (n <= 1) return;
  std::atomic<int> arrived{0};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  threads.Execute([&] {
    tbb::parallel_for(
        tbb::blocked_range<int>(0, n, 1),
        [&](const tbb::blocked_range<int>&) {
          arrived.fetch_add(1);
          while (arrived.load() < n && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
        },
        tbb::simple_partitioner());
  });
}


}  // namespace

struct CpuBackend::LayerPack {
  dnnl::memory w_in, w_out, w_ffn1, w_ffn2, b_ffn1, b_ffn2;
  SplitWeights half[4];  // column halves of in, out, ffn1, ffn2 (when split_ready_)
  std::vector<float> conv_w;  // [4][kQkv]
  std::vector<float> conv_b;  // [kQkv]
  std::vector<float> tflux_w1t;  // [64][16] (R64T)
  FrontParams front;
  const engine::LamLayerWeights* src = nullptr;
};

// Everything one bucket needs: packed activations, per-thread GEMM contexts and tile scratch,
// and the run plan arrays, all sized at compile time.
class CpuBackend::Exe final : public backend::Executable, public TiledRun {
 public:
  struct SeqPlan {
    int len = 0;      // true length L_b
    int seg = 0;      // packed rows: L'_b (R32/R64T, zero rows materialised) or L_b (F128)
    int row0 = 0;     // first packed row
    int chunk = 0;    // C_b
    int nchunks = 0;  // chunks over seg rows (the last F128 chunk may be shorter than C_b)
    int chunk0 = 0;   // index of the first chunk in the batch-wide chunk arrays
  };
  struct ChunkRef {
    int seq = 0;
    int n = 0;
  };
  struct Slot {
    GemmSlot in[kTileKinds], out[kTileKinds], ffn1[kTileKinds], ffn2[kTileKinds];  // per tile kind, as CpuBackend::g_*_
    SplitGemmSlots half;  // [gemm][tile kind][half], when the backend splits columns
    Buffer tmp, mid;
    Buffer part;  // one dense column-half tile
    double gemm_seconds = 0.0;
    double gemm_flops = 0.0;
    uint64_t gemm_calls = 0;
  };

  Exe(const CpuBackend* owner, const backend::Bucket& b) : owner_(owner), bucket_(b) {}
  const backend::Bucket& bucket() const override { return bucket_; }
  size_t byte_size() const override { return bytes_; }

  const CpuBackend* owner_;
  backend::Bucket bucket_;
  size_t bytes_ = 0;
  size_t rows_cap_ = 0;
  Buffer x, z, f, s, o, u, wk;
  std::vector<Slot> slots;
  std::vector<SeqPlan> seqs;
  std::vector<ChunkRef> chunks;
  std::vector<float> psi, cross;
  const engine::TokenSpan* batch = nullptr;
  size_t nseq = 0, nchunks = 0;

  // Sequence owning packed row r.
  size_t SeqOfRow(size_t r) const { return FindSeqOfRow(seqs, nseq, r); }
};

CpuBackend::CpuBackend(const engine::ModelWeights& weights, const CpuBackendOptions& options)
    : w_(weights),
      precision_(options.precision),
      threads_(std::make_unique<CpuThreads>(options.threads)),
      eng_(dnnl::engine::kind::cpu, 0) {}

CpuBackend::~CpuBackend() = default;

Result<std::unique_ptr<CpuBackend>> CpuBackend::Create(const engine::ModelWeights& weights,
                                                       const CpuBackendOptions& options) {
  const engine::ModelConfig& c = weights.config;
  if (c.family != engine::Family::kLam) {
    return Status(LAM_STATUS_UNSUPPORTED, std::string("the CPU backend does not implement the '") +
                                              engine::family_name(c.family) + "' model family");
  }
  if (c.hidden != kDm || c.heads != kHeads || c.head_dim != kHd || c.intermediate != kFfn) {
    return Status(LAM_STATUS_UNSUPPORTED,
                  "the CPU backend is specialised for hidden 384, 12 heads of 32, FFN 1536; model has hidden " +
                      std::to_string(c.hidden) + ", heads " + std::to_string(c.heads) + ", head_dim " +
                      std::to_string(c.head_dim) + ", intermediate " + std::to_string(c.intermediate));
  }
  if (c.variant != Variant::kF128 && c.variant != Variant::kR64T && c.variant != Variant::kR32) {
    return Status(LAM_STATUS_UNSUPPORTED, "LAM model without a delta-rule variant");
  }
  if (static_cast<int>(weights.lam_layers.size()) != c.layers || c.layers < 1) {
    return Status(LAM_STATUS_MODEL_INVALID, "config says " + std::to_string(c.layers) +
                                                " layers but " + std::to_string(weights.lam_layers.size()) +
                                                " are wired");
  }
  if (!weights.word || !weights.pos || !weights.type || !weights.emb_ln_w || !weights.emb_ln_b) {
    return Status(LAM_STATUS_MODEL_INVALID, "embedding tensors are missing");
  }
  if (c.position_table < 2 || c.vocab_size < 1 || c.max_tokens < 1) {
    return Status(LAM_STATUS_MODEL_INVALID, "position table, vocabulary or max_tokens out of range");
  }
  if (options.precision == Precision::kBf16) LAM_RETURN_IF_ERROR(CheckNativeBf16());
  std::unique_ptr<CpuBackend> b(new CpuBackend(weights, options));
  LAM_RETURN_IF_ERROR(b->Init());
  return b;
}

Status CpuBackend::Init() {
  LAM_RETURN_IF_ERROR(engine::CheckWeightsWired(w_));
  const Variant v = w_.config.variant;
  const bool recurrent = v != Variant::kF128;

  Status st;
  threads_->Execute([&] {
    // Primitive creation and reorders run with OpenMP pinned to one thread: oneDNN sizes its
    // work partitioning from it, and no OpenMP team is ever started.
    const GemmSpec specs[4] = {{kDm, kZCols, false, 0, precision_}, {kDm, kDm, false, 0, precision_},
                               {kDm, kFfn, true, 2, precision_}, {kFfn, kDm, true, 0, precision_}};
    st = CreateLayerGemms(eng_, specs, {g_in_, g_out_, g_ffn1_, g_ffn2_}, &tile_kinds_);
    if (!st.ok()) return;
    bool split = false;
    // The kinds the column halves can use too (the halves are checked like the full GEMMs).
    TileKinds split_kinds = tile_kinds_;
    if (threads_->concurrency() >= 2) {
      st = CreateSplitGemms(eng_, specs, split_, &split_kinds, &split);
      if (!st.ok()) return;
    }
    std::vector<float> cat(static_cast<size_t>(kZCols) * kDm, 0.0f);
    for (const auto& L : w_.lam_layers) {
      LayerPack p;
      p.src = &L;
      // Fused input projection rows: q, k, v, g, beta, fgate, sgate, fdecay, sdecay, zero pad.
      std::fill(cat.begin(), cat.end(), 0.0f);
      auto put = [&](int row0, const float* m, int rows) {
        if (m != nullptr) std::memcpy(&cat[static_cast<size_t>(row0) * kDm], m, sizeof(float) * rows * kDm);
      };
      put(kZq, L.q, kDm);
      put(kZk, L.k, kDm);
      put(kZv, L.v, kDm);
      put(kZg, L.g, kDm);
      put(kZbeta, L.beta, kHeads);
      put(kZfg, L.fgate, kHeads);
      put(kZsg, L.sgate, kHeads);
      if (recurrent) {
        put(kZfd, L.fdecay_w, kHeads);
        put(kZsd, L.sdecay_w, kHeads);
      }
      st = PackLayerWeights(eng_, {g_in_, g_out_, g_ffn1_, g_ffn2_}, {cat.data(), L.o, L.ffn1_w, L.ffn2_w},
                            {&p.w_in, &p.w_out, &p.w_ffn1, &p.w_ffn2});
      if (!st.ok()) return;
      try {
        p.b_ffn1 = dnnl::memory(g_ffn1_[0].bias_desc(), eng_, const_cast<float*>(L.ffn1_b));
        p.b_ffn2 = dnnl::memory(g_ffn2_[0].bias_desc(), eng_, const_cast<float*>(L.ffn2_b));
      } catch (const dnnl::error& e) {
        st = Status(LAM_STATUS_BACKEND_FAILED, std::string("oneDNN bias memory: ") + e.what());
        return;
      }
      if (split) {
        const dnnl::memory* packed[4] = {&p.w_in, &p.w_out, &p.w_ffn1, &p.w_ffn2};
        const float* bias[4] = {nullptr, nullptr, L.ffn1_b, L.ffn2_b};
        const float* w_nk[4] = {cat.data(), L.o, L.ffn1_w, L.ffn2_w};
        for (int i = 0; i < 4 && split; ++i) {
          const Status sliced = MakeSplitWeights(eng_, split_[i], *packed[i], w_nk[i], bias[i], &p.half[i]);
          split = sliced.ok();
          if (!split) split_layout_error_ = sliced.message();
          packed_bytes_ += p.half[i].owned_bytes;
        }
        if (split && layers_.empty()) {
          // The layout and the bits do not depend on the weight values: one layer is enough.
          const dnnl::memory* bias_mem[4] = {nullptr, nullptr, &p.b_ffn1, &p.b_ffn2};
          st = VerifySplitGemms(eng_, {g_in_, g_out_, g_ffn1_, g_ffn2_}, split_,
                                {cat.data(), L.o, L.ffn1_w, L.ffn2_w}, packed, bias_mem,
                                {&p.half[0], &p.half[1], &p.half[2], &p.half[3]}, &split_kinds, &split);
          if (!st.ok()) return;
        }
      }
      // Conv weights [384, 1, 4] per q/k/v -> tap-major [4][1152] for channel-vector loops.
      p.conv_w.assign(4 * kQkv, 0.0f);
      p.conv_b.assign(kQkv, 0.0f);
      const float* cw[3] = {L.conv_q_w, L.conv_k_w, L.conv_v_w};
      const float* cb[3] = {L.conv_q_b, L.conv_k_b, L.conv_v_b};
      for (int part = 0; part < 3; ++part) {
        for (int ch = 0; ch < kDm; ++ch) {
          for (int j = 0; j < 4; ++j) p.conv_w[j * kQkv + part * kDm + ch] = cw[part][ch * 4 + j];
          p.conv_b[part * kDm + ch] = cb[part][ch];
        }
      }
      p.front.conv_w = p.conv_w.data();
      p.front.conv_b = p.conv_b.data();
      if (v == Variant::kR64T) {
        p.tflux_w1t.assign(64 * 16, 0.0f);
        for (int o = 0; o < 16; ++o) {
          for (int i = 0; i < 64; ++i) p.tflux_w1t[i * 16 + o] = L.tflux_net1_w[o * 64 + i];
        }
        p.front.tflux_w1t = p.tflux_w1t.data();
        p.front.tflux_b1 = L.tflux_net1_b;
        p.front.tflux_w2 = L.tflux_net2_w;
        p.front.tflux_b2 = L.tflux_net2_b;
      }
      if (recurrent) {
        p.front.fd_bias = L.fdecay_b;
        p.front.fd_bias2 = L.fdecay_bias2;
        p.front.sd_bias = L.sdecay_b;
        p.front.sd_bias2 = L.sdecay_bias2;
      }
      packed_bytes_ += p.w_in.get_desc().get_size() + p.w_out.get_desc().get_size() +
                       p.w_ffn1.get_desc().get_size() + p.w_ffn2.get_desc().get_size() +
                       (p.conv_w.size() + p.conv_b.size() + p.tflux_w1t.size()) * sizeof(float);
      layers_.push_back(std::move(p));
    }
    split_ready_ = split;
    if (split) tile_kinds_ = split_kinds;
    tile_plan_ = TilePlan(tile_kinds_);
    LogTileKinds("cpu lam", tile_plan_, split_ready_);
  });
  return st;
}

Result<std::unique_ptr<backend::Executable>> CpuBackend::Compile(const backend::Bucket& bucket) {
  LAM_RETURN_IF_ERROR(CheckBucket(bucket));
  const bool recurrent = w_.config.variant != Variant::kF128;
  auto exe = std::make_unique<Exe>(this, bucket);
  const size_t s = static_cast<size_t>(bucket.max_sequences);
  size_t rows = static_cast<size_t>(bucket.token_budget) + (recurrent ? 31 * s : 0);
  rows = (rows + kTileRows - 1) / kTileRows * kTileRows;
  exe->ReserveTiles(rows, threads_->concurrency());
  exe->rows_cap_ = rows;
  exe->x = Buffer(rows * kDm);
  exe->z = Buffer(rows * kZCols);
  exe->f = Buffer(rows * kFCols);
  exe->s = Buffer(rows * kSCols);
  exe->o = Buffer(rows * kDm);
  bool ok = exe->x.ok() && exe->z.ok() && exe->f.ok() && exe->s.ok() && exe->o.ok();
  if (recurrent) {
    exe->u = Buffer(rows * kDm);
    exe->wk = Buffer(rows * kDm);
    ok = ok && exe->u.ok() && exe->wk.ok();
  }
  if (!ok) return Status(LAM_STATUS_BACKEND_FAILED, "out of memory for bucket " + bucket.ToString());
  exe->bytes_ = exe->x.bytes() + exe->z.bytes() + exe->f.bytes() + exe->s.bytes() + exe->o.bytes() +
                exe->u.bytes() + exe->wk.bytes();
  // Chunks per sequence are at most max(1, seg / 32).
  const size_t max_chunks = s + rows / 32;
  exe->seqs.resize(s);
  exe->chunks.resize(max_chunks);
  exe->psi.resize(max_chunks * kHeads);
  exe->cross.resize(max_chunks);
  exe->bytes_ += s * sizeof(Exe::SeqPlan) + max_chunks * (sizeof(Exe::ChunkRef) + (kHeads + 1) * sizeof(float));

  Status st;
  exe->slots.resize(static_cast<size_t>(threads_->concurrency()));
  threads_->Execute([&] {
    for (auto& slot : exe->slots) {
      st = CreateLayerGemmSlots(eng_, {g_in_, g_out_, g_ffn1_, g_ffn2_}, tile_kinds_,
                                {slot.in, slot.out, slot.ffn1, slot.ffn2});
      if (!st.ok()) return;
      st = CreateTileScratch(eng_, split_, split_ready_, tile_kinds_, slot.half, &slot.part, &slot.tmp, &slot.mid);
      if (!st.ok()) return;
    }
  });
  LAM_RETURN_IF_ERROR(st);
  StartWorkers(*threads_);
  exe->bytes_ += exe->slots.size() * (LayerGemmScratchBytes({g_in_, g_out_, g_ffn1_, g_ffn2_}, tile_kinds_) +
                                      TileScratchBytes(split_, split_ready_, tile_kinds_));
  return std::unique_ptr<backend::Executable>(std::move(exe));
}

int CpuBackend::ProbeWorkerOmpThreads() {
  std::atomic<int> seen{0};
  threads_->Execute([&] {
    tbb::parallel_for(0, 256, [&](int) {
      int cur = CpuThreads::OmpMaxThreads();
      int prev = seen.load();
      while (cur > prev && !seen.compare_exchange_weak(prev, cur)) {
      }
    });
  });
  return seen.load();
}

GemmProfile CpuBackend::TakeGemmProfile(backend::Executable& exe_base) {
  GemmProfile p;
  auto* exe = dynamic_cast<Exe*>(&exe_base);
  if (exe == nullptr) return p;
  for (auto& s : exe->slots) {
    p.thread_seconds += s.gemm_seconds;
    p.flops += s.gemm_flops;
    p.calls += s.gemm_calls;
    s.gemm_seconds = s.gemm_flops = 0.0;
    s.gemm_calls = 0;
  }
  return p;
}

Status CpuBackend::Run(backend::Executable& exe_base, std::span<const engine::TokenSpan> batch,
                       float* out) {
  auto* exe = dynamic_cast<Exe*>(&exe_base);
  if (exe == nullptr || exe->owner_ != this) {
    return Status(LAM_STATUS_INVALID_ARG, "executable was not compiled by this CPU backend");
  }
  const engine::ModelConfig& cfg = w_.config;
  const bool recurrent = cfg.variant != Variant::kF128;
  const int c0 = ChunkBase(cfg.variant);
  size_t tokens = 0;
  for (size_t b = 0; b < batch.size(); ++b) {
    // Cheap guard: the engine validates, but a backend must never read outside its tables.
    const auto& sp = batch[b];
    if (sp.len == 0 || sp.ids == nullptr || sp.len > static_cast<size_t>(cfg.max_tokens)) {
      return Status(LAM_STATUS_INVALID_ARG, "sequence " + std::to_string(b) + " is empty or too long");
    }
    for (size_t t = 0; t < sp.len; ++t) {
      if (sp.ids[t] < 0 || sp.ids[t] >= cfg.vocab_size) {
        return Status(LAM_STATUS_TOKEN_OUT_OF_RANGE, "token id " + std::to_string(sp.ids[t]) +
                                                         " at position " + std::to_string(t) +
                                                         " of sequence " + std::to_string(b));
      }
    }
    tokens += sp.len;
  }
  if (batch.empty()) return Status(LAM_STATUS_EMPTY_BATCH, "empty batch");
  if (!exe->bucket_.Fits(batch.size(), tokens)) {
    return Status(LAM_STATUS_INVALID_ARG, "batch of " + std::to_string(batch.size()) + " sequences / " +
                                              std::to_string(tokens) + " tokens does not fit bucket " +
                                              exe->bucket_.ToString());
  }

  // Plan: packed rows and chunk layout from each sequence's own length (section 8b).
  size_t row = 0, chunk = 0;
  for (size_t b = 0; b < batch.size(); ++b) {
    auto& p = exe->seqs[b];
    p.len = static_cast<int>(batch[b].len);
    const int lp = LayerPaddedLength(p.len);
    p.seg = recurrent ? lp : p.len;  // F128 is causal: its zero rows never reach real rows
    p.chunk = ChunkLength(lp, c0);
    p.nchunks = (p.seg + p.chunk - 1) / p.chunk;
    p.row0 = static_cast<int>(row);
    p.chunk0 = static_cast<int>(chunk);
    for (int n = 0; n < p.nchunks; ++n) exe->chunks[chunk++] = {static_cast<int>(b), n};
    row += static_cast<size_t>(p.seg);
  }
  exe->batch = batch.data();
  exe->nseq = batch.size();
  exe->nchunks = chunk;
  exe->rows = row;
  exe->PlanTiles(tile_plan_, threads_->concurrency());
  exe->failed.store(false);
  exe->error = Status();

  auto body = [&](PairTeam* team) {
    // Embeddings; the zero rows of R32/R64T stay x = 0.
    const bool serial = exe->rows <= kSerialRows;
    ForRange(serial, exe->rows, 16, [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) {
        const auto& p = exe->seqs[exe->SeqOfRow(i)];
        const int t = static_cast<int>(i) - p.row0;
        float* x = exe->x.get() + i * kDm;
        if (t < p.len) {
          EmbedRow(w_, exe->batch[&p - exe->seqs.data()].ids[t], t, p.len, x);
        } else {
          std::memset(x, 0, kDm * sizeof(float));
        }
      }
    });
    for (size_t l = 0; l < layers_.size() && !exe->failed.load(); ++l) {
      Status st = RunLayer(*exe, static_cast<int>(l), team);
      if (!st.ok()) exe->Fail(std::move(st));
    }
    if (exe->failed.load()) return;
    PoolSequences(serial, exe->seqs, exe->nseq, exe->x.get(), out);
  };
  RunInArena(*threads_, exe->rows <= kSerialRows && split_ready_, body);
  if (exe->failed.load()) return exe->error;
  return Status::Ok();
}

Status CpuBackend::RunLayer(Exe& exe, int layer, PairTeam* team) {
  const LayerPack& lp = layers_[static_cast<size_t>(layer)];
  const engine::LamLayerWeights& L = *lp.src;
  const Variant variant = w_.config.variant;
  const bool recurrent = variant != Variant::kF128;
  const bool profile = profiling_.load(std::memory_order_relaxed);
  // Small batches: GEMM column halves and the per-row / per-head work on two threads when the
  // backend splits columns, otherwise everything inline on the calling thread.
  const bool split = team != nullptr;
  const bool serial = exe.rows <= kSerialRows && !split;
  const float eps = w_.config.layer_norm_eps;
  // f(begin, end) over [0, n): the team's items of `grain` indices, or ForRange.
  auto par = [&](size_t n, size_t grain, const auto& f, Share share = Share::kRanges) {
    ForItems(team, serial, n, grain, f, share);
  };

  // Layer-level zero rows (section 8b.3) are re-materialised as x = 0 before every layer.
  if (recurrent && layer > 0) {
    for (size_t b = 0; b < exe.nseq; ++b) {
      const auto& p = exe.seqs[b];
      if (p.seg > p.len) {
        std::memset(exe.x.get() + static_cast<size_t>(p.row0 + p.len) * kDm, 0,
                    static_cast<size_t>(p.seg - p.len) * kDm * sizeof(float));
      }
    }
  }

  auto gemm = [&](Exe::Slot& slot, GemmSlot& gs, const GemmPrimitive& prim, const float* src,
                  const dnnl::memory& wts, const dnnl::memory* bias, float* dst) {
    std::chrono::steady_clock::time_point t0;
    if (profile) t0 = std::chrono::steady_clock::now();
    Status st = gs.Execute(prim, src, wts, bias, dst);
    if (profile) {
      slot.gemm_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      slot.gemm_flops += prim.flops_per_call();
      ++slot.gemm_calls;
    }
    if (!st.ok()) exe.Fail(std::move(st));
  };
  // GEMM i of the layer over all tiles, column half h per task, into dst[rows, ld].
  auto split_gemm = [&](int i, const float* src, size_t src_ld, float* dst, size_t ld) {
    const SplitGemm& sg = split_[i];
    SplitGemmOverTiles(*team, exe, exe.slots, sg, src, src_ld, dst, ld,
                       [&](Exe::Slot& slot, int kind, int h, const float* s, float* part) {
                         gemm(slot, slot.half[i][kind][h], sg.half[kind][h], s, lp.half[i].w[h],
                              lp.half[i].bias(h), part);
                       });
  };

  // 1. Fused input projection: Z = X [Wq Wk Wv Wg Wbeta Wfg Wsg Wfd Wsd]^T.
  if (split) {
    split_gemm(0, exe.x.get(), kDm, exe.z.get(), kZCols);
  } else {
    ForEachTile(par, exe, exe.slots, [&](Exe::Slot& slot, int kind, size_t r0, size_t) {
      gemm(slot, slot.in[kind], g_in_[kind], exe.x.get() + r0 * kDm, lp.w_in, nullptr, exe.z.get() + r0 * kZCols);
    });
  }
  if (exe.failed.load()) return Status::Ok();

  // 2. Front end per token; conv taps never leave the sequence's own rows.
  par(exe.rows, 8, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      const auto& p = exe.seqs[exe.SeqOfRow(i)];
      const int t = static_cast<int>(i) - p.row0;
      const float* taps[4];
      for (int j = 0; j < 4; ++j) {
        const int tt = t + j - 2;
        taps[j] = (tt >= 0 && tt < p.seg) ? exe.z.get() + static_cast<size_t>(p.row0 + tt) * kZCols : nullptr;
      }
      FrontRow(taps, lp.front, exe.f.get() + i * kFCols, exe.s.get() + i * kSCols);
    }
  });

  // 3. Delta-rule mixer.
  const float* f = exe.f.get();
  const float* s = exe.s.get();
  float* o = exe.o.get();
  auto frow = [&](int r) { return f + static_cast<size_t>(r) * kFCols; };
  auto srow = [&](int r) { return s + static_cast<size_t>(r) * kSCols; };
  auto drow = [&](float* base, int r) { return base + static_cast<size_t>(r) * kDm; };
  if (!recurrent) {
    par(exe.nchunks * kHeads, 1, [&](size_t begin, size_t end) {
      for (size_t task = begin; task < end; ++task) {
        const auto& ch = exe.chunks[task / kHeads];
        const int h = static_cast<int>(task % kHeads);
        const auto& p = exe.seqs[static_cast<size_t>(ch.seq)];
        const int r0 = p.row0 + ch.n * p.chunk;
        const int len = std::min(p.chunk, p.seg - ch.n * p.chunk);
        F128ScanChunk(frow(r0), srow(r0), drow(o, r0), len, h);
      }
    });
  } else {
    float* u = exe.u.get();
    float* wk = exe.wk.get();
    // Phase 1: per (chunk, head) u = T v, w = T k^beta and psi; R64T single chunks scan instead.
    par(exe.nchunks * kHeads, 1, [&](size_t begin, size_t end) {
      for (size_t task = begin; task < end; ++task) {
        const auto& ch = exe.chunks[task / kHeads];
        const int h = static_cast<int>(task % kHeads);
        const auto& p = exe.seqs[static_cast<size_t>(ch.seq)];
        if (variant == Variant::kR64T && p.nchunks == 1) {
          R64TSingleChunkScan(frow(p.row0), srow(p.row0), drow(o, p.row0), p.seg, h);
          continue;
        }
        exe.psi[(static_cast<size_t>(p.chunk0) + ch.n) * kHeads + h] =
            RecurrentChunkPrepare(L, variant, frow(p.row0), srow(p.row0), drow(u, p.row0),
                                  drow(wk, p.row0), p.chunk, h, ch.n, p.nchunks);
      }
    });
    // Cross coupling per sequence and chunk: mean over this sequence's heads only (8a).
    for (size_t c = 0; c < exe.nchunks; ++c) {
      double sum = 0.0;
      for (int h = 0; h < kHeads; ++h) sum += exe.psi[c * kHeads + h];
      exe.cross[c] = static_cast<float>(0.05 + 0.1 * (sum / kHeads));
    }
    // Phase 2: sequential states per (sequence, head).
    par(exe.nseq * kHeads, 1, [&](size_t begin, size_t end) {
      for (size_t task = begin; task < end; ++task) {
        const auto& p = exe.seqs[task / kHeads];
        const int h = static_cast<int>(task % kHeads);
        if (variant == Variant::kR64T && p.nchunks == 1) continue;
        RecurrentHeadRun(variant, frow(p.row0), srow(p.row0), drow(u, p.row0), drow(wk, p.row0),
                         drow(o, p.row0), p.chunk, p.nchunks, h,
                         exe.psi.data() + static_cast<size_t>(p.chunk0) * kHeads,
                         exe.cross.data() + p.chunk0);
      }
    });
  }

  // 4. Per tile: gated RMSNorm, o_proj, residual + LN1, FFN (GELU twice), residual + LN2.
  if (split) {
    // The same steps over the batch's (at most kTileRows) rows, each GEMM as two column halves;
    // slot 0's tile scratch holds the whole batch here.
    float* tmp = exe.slots[0].tmp.get();
    float* mid = exe.slots[0].mid.get();
    for (size_t i = 0; i < exe.rows; ++i) {
      GatedRmsNormRow(exe.o.get() + i * kDm, exe.z.get() + i * kZCols + kZg, L.onorm_w);
    }
    split_gemm(1, exe.o.get(), kDm, tmp, kDm);
    if (exe.failed.load()) return Status::Ok();
    for (size_t i = 0; i < exe.rows; ++i) {
      float* x = exe.x.get() + i * kDm;
      AddLayerNormRow(x, tmp + i * kDm, L.ln1_w, L.ln1_b, eps, x);
    }
    split_gemm(2, exe.x.get(), kDm, mid, kFfn);
    if (exe.failed.load()) return Status::Ok();
    split_gemm(3, mid, kFfn, tmp, kDm);
    if (exe.failed.load()) return Status::Ok();
    for (size_t i = 0; i < exe.rows; ++i) {
      float* x = exe.x.get() + i * kDm;
      AddLayerNormRow(x, tmp + i * kDm, L.ln2_w, L.ln2_b, eps, x);
    }
    return Status::Ok();
  }
  ForEachTile(par, exe, exe.slots, [&](Exe::Slot& slot, int kind, size_t r0, size_t r1) {
    float* xt = exe.x.get() + r0 * kDm;
    float* ot = exe.o.get() + r0 * kDm;
    for (size_t i = r0; i < r1; ++i) {
      GatedRmsNormRow(exe.o.get() + i * kDm, exe.z.get() + i * kZCols + kZg, L.onorm_w);
    }
    gemm(slot, slot.out[kind], g_out_[kind], ot, lp.w_out, nullptr, slot.tmp.get());
    for (size_t i = r0; i < r1; ++i) {
      float* x = exe.x.get() + i * kDm;
      AddLayerNormRow(x, slot.tmp.get() + (i - r0) * kDm, L.ln1_w, L.ln1_b, eps, x);
    }
    gemm(slot, slot.ffn1[kind], g_ffn1_[kind], xt, lp.w_ffn1, &lp.b_ffn1, slot.mid.get());
    gemm(slot, slot.ffn2[kind], g_ffn2_[kind], slot.mid.get(), lp.w_ffn2, &lp.b_ffn2, slot.tmp.get());
    for (size_t i = r0; i < r1; ++i) {
      float* x = exe.x.get() + i * kDm;
      AddLayerNormRow(x, slot.tmp.get() + (i - r0) * kDm, L.ln2_w, L.ln2_b, eps, x);
    }
  });
  return Status::Ok();
}

}  // namespace lam::cpu
