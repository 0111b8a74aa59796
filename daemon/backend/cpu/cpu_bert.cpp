// SPDX-License-Identifier: MIT
#include "backend/cpu/cpu_bert.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "backend/cpu/cpu_attention.h"
#include "backend/cpu/cpu_exec_common.h"
#include "backend/cpu/cpu_layout.h"
#include "backend/cpu/cpu_ops.h"

namespace lam::cpu {

struct CpuBertBackend::LayerPack {
  dnnl::memory w_qkv, w_out, w_ffn1, w_ffn2;
  dnnl::memory b_qkv, b_out, b_ffn1, b_ffn2;
  std::vector<float> qkv_bias;  // [kQkv]: q, k, v biases concatenated
  SplitWeights half[4];  // column halves of qkv, out, ffn1, ffn2 (when split_ready_)
  const engine::BertLayerWeights* src = nullptr;
};

class CpuBertBackend::Exe final : public backend::Executable, public TiledRun {
 public:
  struct SeqPlan {
    int len = 0;
    int row0 = 0;
  };
  struct Slot {
    GemmSlot qkv[kTileKinds], out[kTileKinds], ffn1[kTileKinds], ffn2[kTileKinds];  // per tile kind
    SplitGemmSlots half;  // [gemm][tile kind][half], when the backend splits columns
    Buffer tmp, mid, attn;
    Buffer part;  // one dense column-half tile
  };

  Exe(const CpuBertBackend* owner, const backend::Bucket& b) : owner_(owner), bucket_(b) {}
  const backend::Bucket& bucket() const override { return bucket_; }
  size_t byte_size() const override { return bytes_; }

  size_t SeqOfRow(size_t r) const { return FindSeqOfRow(seqs, nseq, r); }

  const CpuBertBackend* owner_;
  backend::Bucket bucket_;
  size_t bytes_ = 0;
  Buffer x, qkv, ctx;
  std::vector<Slot> slots;
  std::vector<SeqPlan> seqs;
  const engine::TokenSpan* batch = nullptr;
  size_t nseq = 0;
};

CpuBertBackend::CpuBertBackend(const engine::ModelWeights& weights, int threads, Precision precision)
    : w_(weights),
      precision_(precision),
      threads_(std::make_unique<CpuThreads>(threads)),
      eng_(dnnl::engine::kind::cpu, 0) {}

CpuBertBackend::~CpuBertBackend() = default;

int CpuBertBackend::embedding_dim() const { return kDm; }

Result<std::unique_ptr<CpuBertBackend>> CpuBertBackend::Create(const engine::ModelWeights& weights,
                                                               int threads, Precision precision) {
  const engine::ModelConfig& c = weights.config;
  if (c.family != engine::Family::kBert) {
    return Status(LAM_STATUS_UNSUPPORTED, std::string("CpuBertBackend serves the 'bert' family, not '") +
                                              engine::family_name(c.family) + "'");
  }
  if (c.hidden != kDm || c.heads != kHeads || c.head_dim != kHd || c.intermediate != kFfn) {
    return Status(LAM_STATUS_UNSUPPORTED,
                  "the CPU BERT kernels are specialised for hidden 384, 12 heads of 32, FFN 1536; model has hidden " +
                      std::to_string(c.hidden) + ", heads " + std::to_string(c.heads) + ", head_dim " +
                      std::to_string(c.head_dim) + ", intermediate " + std::to_string(c.intermediate));
  }
  if (static_cast<int>(weights.bert_layers.size()) != c.layers || c.layers < 1) {
    return Status(LAM_STATUS_MODEL_INVALID, "config says " + std::to_string(c.layers) +
                                                " layers but " + std::to_string(weights.bert_layers.size()) +
                                                " bert layers are wired");
  }
  if (!weights.word || !weights.pos || !weights.type || !weights.emb_ln_w || !weights.emb_ln_b) {
    return Status(LAM_STATUS_MODEL_INVALID, "embedding tensors are missing");
  }
  // BERT positions are rows 0..L-1 of the table; there is no interpolation past its end.
  if (c.vocab_size < 1 || c.max_tokens < 1 || c.max_tokens > c.position_table) {
    return Status(LAM_STATUS_MODEL_INVALID,
                  "bert max_tokens " + std::to_string(c.max_tokens) + " must be in [1, position table rows " +
                      std::to_string(c.position_table) + "]");
  }
  if (precision == Precision::kBf16) LAM_RETURN_IF_ERROR(CheckNativeBf16());
  std::unique_ptr<CpuBertBackend> b(new CpuBertBackend(weights, threads, precision));
  LAM_RETURN_IF_ERROR(b->Init());
  return b;
}

Status CpuBertBackend::Init() {
  LAM_RETURN_IF_ERROR(engine::CheckWeightsWired(w_));

  Status st;
  threads_->Execute([&] {
    // As in CpuBackend: primitives and reorders are built with OpenMP pinned to one thread.
    const GemmSpec specs[4] = {{kDm, kQkv, true, 0, precision_}, {kDm, kDm, true, 0, precision_},
                               {kDm, kFfn, true, 1, precision_}, {kFfn, kDm, true, 0, precision_}};
    st = CreateLayerGemms(eng_, specs, {g_qkv_, g_out_, g_ffn1_, g_ffn2_}, &tile_kinds_);
    if (!st.ok()) return;
    bool split = false;
    // The kinds the column halves can use too (the halves are checked like the full GEMMs).
    TileKinds split_kinds = tile_kinds_;
    if (threads_->concurrency() >= 2) {
      st = CreateSplitGemms(eng_, specs, split_, &split_kinds, &split);
      if (!st.ok()) return;
    }
    std::vector<float> cat(static_cast<size_t>(kQkv) * kDm);
    layers_.reserve(w_.bert_layers.size());
    for (const auto& L : w_.bert_layers) {
      LayerPack p;
      p.src = &L;
      // Fused QKV projection: rows q, k, v of one [kQkv, kDm] matrix, biases likewise.
      std::memcpy(cat.data(), L.q_w, sizeof(float) * kDm * kDm);
      std::memcpy(cat.data() + kDm * kDm, L.k_w, sizeof(float) * kDm * kDm);
      std::memcpy(cat.data() + 2 * kDm * kDm, L.v_w, sizeof(float) * kDm * kDm);
      p.qkv_bias.resize(kQkv);
      std::memcpy(p.qkv_bias.data(), L.q_b, sizeof(float) * kDm);
      std::memcpy(p.qkv_bias.data() + kDm, L.k_b, sizeof(float) * kDm);
      std::memcpy(p.qkv_bias.data() + 2 * kDm, L.v_b, sizeof(float) * kDm);
      st = PackLayerWeights(eng_, {g_qkv_, g_out_, g_ffn1_, g_ffn2_},
                            {cat.data(), L.attn_out_w, L.ffn1_w, L.ffn2_w},
                            {&p.w_qkv, &p.w_out, &p.w_ffn1, &p.w_ffn2});
      if (!st.ok()) return;
      try {
        p.b_qkv = dnnl::memory(g_qkv_[0].bias_desc(), eng_, p.qkv_bias.data());
        p.b_out = dnnl::memory(g_out_[0].bias_desc(), eng_, const_cast<float*>(L.attn_out_b));
        p.b_ffn1 = dnnl::memory(g_ffn1_[0].bias_desc(), eng_, const_cast<float*>(L.ffn1_b));
        p.b_ffn2 = dnnl::memory(g_ffn2_[0].bias_desc(), eng_, const_cast<float*>(L.ffn2_b));
      } catch (const dnnl::error& e) {
        st = Status(LAM_STATUS_BACKEND_FAILED, std::string("oneDNN bias memory: ") + e.what());
        return;
      }
      if (split) {
        const dnnl::memory* packed[4] = {&p.w_qkv, &p.w_out, &p.w_ffn1, &p.w_ffn2};
        const float* bias[4] = {p.qkv_bias.data(), L.attn_out_b, L.ffn1_b, L.ffn2_b};
        const float* w_nk[4] = {cat.data(), L.attn_out_w, L.ffn1_w, L.ffn2_w};
        for (int i = 0; i < 4 && split; ++i) {
          const Status sliced = MakeSplitWeights(eng_, split_[i], *packed[i], w_nk[i], bias[i], &p.half[i]);
          split = sliced.ok();
          if (!split) split_layout_error_ = sliced.message();
          packed_bytes_ += p.half[i].owned_bytes;
        }
        if (split && layers_.empty()) {
          // The layout and the bits do not depend on the weight values: one layer is enough.
          const dnnl::memory* bias_mem[4] = {&p.b_qkv, &p.b_out, &p.b_ffn1, &p.b_ffn2};
          st = VerifySplitGemms(eng_, {g_qkv_, g_out_, g_ffn1_, g_ffn2_}, split_,
                                {cat.data(), L.attn_out_w, L.ffn1_w, L.ffn2_w}, packed, bias_mem,
                                {&p.half[0], &p.half[1], &p.half[2], &p.half[3]}, &split_kinds, &split);
          if (!st.ok()) return;
        }
      }
      packed_bytes_ += p.w_qkv.get_desc().get_size() + p.w_out.get_desc().get_size() +
                       p.w_ffn1.get_desc().get_size() + p.w_ffn2.get_desc().get_size() +
                       p.qkv_bias.size() * sizeof(float);
      // The bias memory points into qkv_bias's heap block, which moving the vector keeps.
      layers_.push_back(std::move(p));
    }
    split_ready_ = split;
    if (split) tile_kinds_ = split_kinds;
    tile_plan_ = TilePlan(tile_kinds_);
    LogTileKinds("cpu bert", tile_plan_, split_ready_);
  });
  return st;
}

Result<std::unique_ptr<backend::Executable>> CpuBertBackend::Compile(const backend::Bucket& bucket) {
  LAM_RETURN_IF_ERROR(CheckBucket(bucket));
  auto exe = std::make_unique<Exe>(this, bucket);
  size_t rows = static_cast<size_t>(bucket.token_budget);
  rows = (rows + kTileRows - 1) / kTileRows * kTileRows;
  exe->ReserveTiles(rows, threads_->concurrency());
  exe->x = Buffer(rows * kDm);
  exe->qkv = Buffer(rows * kQkv);
  exe->ctx = Buffer(rows * kDm);
  if (!exe->x.ok() || !exe->qkv.ok() || !exe->ctx.ok()) {
    return Status(LAM_STATUS_BACKEND_FAILED, "out of memory for bucket " + bucket.ToString());
  }
  exe->bytes_ = exe->x.bytes() + exe->qkv.bytes() + exe->ctx.bytes();
  exe->seqs.resize(static_cast<size_t>(bucket.max_sequences));
  exe->bytes_ += exe->seqs.size() * sizeof(Exe::SeqPlan);
  // No sequence is longer than the bucket's budget or the model's maximum.
  const int max_len = std::min(bucket.token_budget, w_.config.max_tokens);
  const size_t attn_floats = AttentionScratchFloats(max_len);

  Status st;
  exe->slots.resize(static_cast<size_t>(threads_->concurrency()));
  threads_->Execute([&] {
    for (auto& slot : exe->slots) {
      st = CreateLayerGemmSlots(eng_, {g_qkv_, g_out_, g_ffn1_, g_ffn2_}, tile_kinds_,
                                {slot.qkv, slot.out, slot.ffn1, slot.ffn2});
      if (!st.ok()) return;
      st = CreateTileScratch(eng_, split_, split_ready_, tile_kinds_, slot.half, &slot.part, &slot.tmp, &slot.mid);
      if (!st.ok()) return;
      slot.attn = Buffer(attn_floats);
      if (!slot.attn.ok()) {
        st = Status(LAM_STATUS_BACKEND_FAILED, "out of memory for attention scratch");
        return;
      }
    }
  });
  LAM_RETURN_IF_ERROR(st);
  exe->bytes_ += exe->slots.size() * (LayerGemmScratchBytes({g_qkv_, g_out_, g_ffn1_, g_ffn2_}, tile_kinds_) +
                                      TileScratchBytes(split_, split_ready_, tile_kinds_) + attn_floats * sizeof(float));
  return std::unique_ptr<backend::Executable>(std::move(exe));
}

Status CpuBertBackend::Run(backend::Executable& exe_base, std::span<const engine::TokenSpan> batch,
                           float* out) {
  auto* exe = dynamic_cast<Exe*>(&exe_base);
  if (exe == nullptr || exe->owner_ != this) {
    return Status(LAM_STATUS_INVALID_ARG, "executable was not compiled by this CPU BERT backend");
  }
  if (batch.empty()) return Status(LAM_STATUS_EMPTY_BATCH, "empty batch");
  const engine::ModelConfig& cfg = w_.config;
  size_t tokens = 0;
  for (size_t b = 0; b < batch.size(); ++b) {
    // Cheap guard: the engine validates, but a backend must never read outside its tables.
    const auto& sp = batch[b];
    if (sp.len == 0 || sp.ids == nullptr || sp.len > static_cast<size_t>(cfg.max_tokens)) {
      return Status(LAM_STATUS_INVALID_ARG, "sequence " + std::to_string(b) + " is empty or longer than " +
                                                std::to_string(cfg.max_tokens) + " tokens");
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
  if (!exe->bucket_.Fits(batch.size(), tokens)) {
    return Status(LAM_STATUS_INVALID_ARG, "batch of " + std::to_string(batch.size()) + " sequences / " +
                                              std::to_string(tokens) + " tokens does not fit bucket " +
                                              exe->bucket_.ToString());
  }

  size_t row = 0;
  for (size_t b = 0; b < batch.size(); ++b) {
    exe->seqs[b].len = static_cast<int>(batch[b].len);
    exe->seqs[b].row0 = static_cast<int>(row);
    row += batch[b].len;
  }
  exe->batch = batch.data();
  exe->nseq = batch.size();
  exe->rows = row;
  exe->PlanTiles(tile_plan_, threads_->concurrency());
  exe->failed.store(false);
  exe->error = Status();

  auto body = [&](PairTeam* team) {
    const bool serial = exe->rows <= kSerialRows;
    // Embeddings: word + position row t + token type 0, LayerNorm.
    ForRange(serial, exe->rows, 16, [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) {
        const size_t b = exe->SeqOfRow(i);
        const auto& p = exe->seqs[b];
        const int t = static_cast<int>(i) - p.row0;
        EmbedRow(w_, exe->batch[b].ids[t], t, p.len, exe->x.get() + i * kDm);
      }
    });
    for (size_t l = 0; l < layers_.size() && !exe->failed.load(); ++l) RunLayer(*exe, l, team);
    if (exe->failed.load()) return;
    // Mean over the sequence's own tokens (the attention mask), then L2 normalisation.
    PoolSequences(serial, exe->seqs, exe->nseq, exe->x.get(), out);
  };
  RunInArena(*threads_, exe->rows <= kSerialRows && split_ready_, body);
  if (exe->failed.load()) return exe->error;
  return Status::Ok();
}

void CpuBertBackend::RunLayer(Exe& exe, size_t layer, PairTeam* team) {
  const LayerPack& lp = layers_[layer];
  const engine::BertLayerWeights& L = *lp.src;
  // Small batches: GEMM column halves and the per-head attention on two threads when the
  // backend splits columns, otherwise everything inline on the calling thread.
  const bool split = team != nullptr;
  const bool serial = exe.rows <= kSerialRows && !split;
  const float eps = w_.config.layer_norm_eps;
  // f(begin, end) over [0, n): the team's items of `grain` indices, or ForRange.
  auto par = [&](size_t n, size_t grain, const auto& f, Share share = Share::kRanges) {
    ForItems(team, serial, n, grain, f, share);
  };
  auto gemm = [&](GemmSlot& gs, const GemmPrimitive& prim, const float* src, const dnnl::memory& wts,
                  const dnnl::memory& bias, float* dst) {
    Status st = gs.Execute(prim, src, wts, &bias, dst);
    if (!st.ok()) exe.Fail(std::move(st));
  };
  // GEMM i of the layer over all tiles, column half h per task, into dst[rows, ld].
  auto split_gemm = [&](int i, const float* src, size_t src_ld, float* dst, size_t ld) {
    const SplitGemm& sg = split_[i];
    SplitGemmOverTiles(*team, exe, exe.slots, sg, src, src_ld, dst, ld,
                       [&](Exe::Slot& slot, int kind, int h, const float* s, float* part) {
                         gemm(slot.half[i][kind][h], sg.half[kind][h], s, lp.half[i].w[h], lp.half[i].b[h], part);
                       });
  };

  // 1. QKV = X [Wq Wk Wv]^T + [bq bk bv], per tile.
  if (split) {
    split_gemm(0, exe.x.get(), kDm, exe.qkv.get(), kQkv);
  } else {
    ForEachTile(par, exe, exe.slots, [&](auto& slot, int kind, size_t r0, size_t) {
      gemm(slot.qkv[kind], g_qkv_[kind], exe.x.get() + r0 * kDm, lp.w_qkv, lp.b_qkv, exe.qkv.get() + r0 * kQkv);
    });
  }
  if (exe.failed.load()) return;

  // 2. Softmax attention per (sequence, head) over the sequence's own rows.
  par(exe.nseq * kHeads, 1, [&](size_t begin, size_t end) {
    float* scratch = exe.slots[static_cast<size_t>(CpuThreads::SlotIndex())].attn.get();
    for (size_t task = begin; task < end; ++task) {
      const auto& p = exe.seqs[task / kHeads];
      const int h = static_cast<int>(task % kHeads);
      const size_t r0 = static_cast<size_t>(p.row0);
      AttentionHead(exe.qkv.get() + r0 * kQkv, kQkv, p.len, h, exe.ctx.get() + r0 * kDm, kDm, scratch);
    }
  });

  // 3. Per tile: output dense + residual + LN1, FFN (one GELU) + residual + LN2.
  if (split) {
    // The same steps over the batch's (at most kTileRows) rows, each GEMM as two column halves;
    // slot 0's tile scratch holds the whole batch here.
    float* tmp = exe.slots[0].tmp.get();
    float* mid = exe.slots[0].mid.get();
    split_gemm(1, exe.ctx.get(), kDm, tmp, kDm);
    if (exe.failed.load()) return;
    for (size_t i = 0; i < exe.rows; ++i) {
      float* x = exe.x.get() + i * kDm;
      AddLayerNormRow(x, tmp + i * kDm, L.ln1_w, L.ln1_b, eps, x);
    }
    split_gemm(2, exe.x.get(), kDm, mid, kFfn);
    if (exe.failed.load()) return;
    split_gemm(3, mid, kFfn, tmp, kDm);
    if (exe.failed.load()) return;
    for (size_t i = 0; i < exe.rows; ++i) {
      float* x = exe.x.get() + i * kDm;
      AddLayerNormRow(x, tmp + i * kDm, L.ln2_w, L.ln2_b, eps, x);
    }
    return;
  }
  ForEachTile(par, exe, exe.slots, [&](auto& slot, int kind, size_t r0, size_t r1) {
    float* xt = exe.x.get() + r0 * kDm;
    gemm(slot.out[kind], g_out_[kind], exe.ctx.get() + r0 * kDm, lp.w_out, lp.b_out, slot.tmp.get());
    for (size_t i = r0; i < r1; ++i) {
      float* x = exe.x.get() + i * kDm;
      AddLayerNormRow(x, slot.tmp.get() + (i - r0) * kDm, L.ln1_w, L.ln1_b, eps, x);
    }
    gemm(slot.ffn1[kind], g_ffn1_[kind], xt, lp.w_ffn1, lp.b_ffn1, slot.mid.get());
    gemm(slot.ffn2[kind], g_ffn2_[kind], slot.mid.get(), lp.w_ffn2, lp.b_ffn2, slot.tmp.get());
    for (size_t i = r0; i < r1; ++i) {
      float* x = exe.x.get() + i * kDm;
      AddLayerNormRow(x, slot.tmp.get() + (i - r0) * kDm, L.ln2_w, L.ln2_b, eps, x);
    }
  });
}

}  // namespace lam::cpu
