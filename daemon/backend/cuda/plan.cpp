// SPDX-License-Identifier: MIT
#include "backend/cuda/plan.h"

#include <algorithm>
#include <cstring>

namespace lam::cuda {
namespace {

using engine::Family;
using engine::Variant;

constexpr int kDm = LAM_HIDDEN;
constexpr int kHeads = LAM_HEADS;
constexpr int kFfn = LAM_FFN;
constexpr int kQkv = LAM_QKV;

int LayerPadded(int len) { return (len >= 64 && len % 32 != 0) ? len + (32 - len % 32) : len; }

int ChunkOf(int padded, int c0) {
  if (padded <= 32) return padded;
  int c = std::min(c0, padded);
  if (padded % c != 0) c = padded;
  return c;
}

}  // namespace

const char* GemmPrecisionName(GemmPrecision p) { return p == GemmPrecision::kTf32 ? "tf32" : "fp32"; }

int PackedModel::Add(std::string name, const float* data, size_t count) {
  tensors_.push_back(PlanTensor{std::move(name), data, count});
  return static_cast<int>(tensors_.size() - 1);
}

int PackedModel::Own(std::string name, std::vector<float> data) {
  owned_.push_back(std::make_unique<std::vector<float>>(std::move(data)));
  return Add(std::move(name), owned_.back()->data(), owned_.back()->size());
}

Status CheckPlanShape(const engine::ModelConfig& c) {
  if (c.hidden != kDm || c.heads != kHeads || c.head_dim != LAM_HEAD_DIM || c.intermediate != kFfn) {
    return Status(LAM_STATUS_UNSUPPORTED,
                  "the CUDA plan is specialised for hidden 384, 12 heads of 32, FFN 1536; model has hidden " +
                      std::to_string(c.hidden) + ", heads " + std::to_string(c.heads) + ", head_dim " +
                      std::to_string(c.head_dim) + ", intermediate " + std::to_string(c.intermediate));
  }
  return Status::Ok();
}

Result<std::unique_ptr<PackedModel>> PackedModel::Create(const engine::ModelWeights& w) {
  const engine::ModelConfig& c = w.config;
  LAM_RETURN_IF_ERROR(engine::CheckWeightsWired(w));
  LAM_RETURN_IF_ERROR(CheckPlanShape(c));
  if (!w.word || !w.pos || !w.type || !w.emb_ln_w || !w.emb_ln_b) {
    return Status(LAM_STATUS_MODEL_INVALID, "embedding tensors are missing");
  }
  if (c.position_table < 2 || c.vocab_size < 1 || c.max_tokens < 1 || c.layers < 1) {
    return Status(LAM_STATUS_MODEL_INVALID, "layers, position table, vocabulary or max_tokens out of range");
  }
  std::unique_ptr<PackedModel> m(new PackedModel(c));
  const size_t dm = kDm;
  m->word = m->Add("emb.word", w.word, static_cast<size_t>(c.vocab_size) * dm);
  m->pos = m->Add("emb.pos", w.pos, static_cast<size_t>(c.position_table) * dm);
  m->type0 = m->Add("emb.type0", w.type, dm);
  m->emb_ln_w = m->Add("emb.ln.w", w.emb_ln_w, dm);
  m->emb_ln_b = m->Add("emb.ln.b", w.emb_ln_b, dm);

  if (c.family == Family::kBert) {
    if (c.max_tokens > std::min(c.position_table, lamk::kMaxAttnLen)) {
      return Status(LAM_STATUS_UNSUPPORTED, "the CUDA BERT plan serves at most " +
                                                std::to_string(std::min(c.position_table, lamk::kMaxAttnLen)) +
                                                " tokens; model max_tokens is " + std::to_string(c.max_tokens));
    }
    if (static_cast<int>(w.bert_layers.size()) != c.layers) {
      return Status(LAM_STATUS_MODEL_INVALID, "config says " + std::to_string(c.layers) + " layers but " +
                                                  std::to_string(w.bert_layers.size()) + " bert layers are wired");
    }
    for (size_t l = 0; l < w.bert_layers.size(); ++l) {
      const auto& L = w.bert_layers[l];
      const std::string p = "bert layer " + std::to_string(l);
      std::vector<float> wqkv(static_cast<size_t>(kQkv) * dm), bqkv(kQkv);
      const float* ws[3] = {L.q_w, L.k_w, L.v_w};
      const float* bs[3] = {L.q_b, L.k_b, L.v_b};
      for (int i = 0; i < 3; ++i) {
        std::memcpy(wqkv.data() + i * dm * dm, ws[i], sizeof(float) * dm * dm);
        std::memcpy(bqkv.data() + i * dm, bs[i], sizeof(float) * dm);
      }
      BertLayerIds ids;
      ids.w_qkv = m->Own(p + ".w_qkv", std::move(wqkv));
      ids.b_qkv = m->Own(p + ".b_qkv", std::move(bqkv));
      ids.w_o = m->Add(p + ".attn_out.w", L.attn_out_w, dm * dm);
      ids.b_o = m->Add(p + ".attn_out.b", L.attn_out_b, dm);
      ids.ln1_w = m->Add(p + ".ln1.w", L.ln1_w, dm);
      ids.ln1_b = m->Add(p + ".ln1.b", L.ln1_b, dm);
      ids.ffn1_w = m->Add(p + ".ffn1.w", L.ffn1_w, static_cast<size_t>(kFfn) * dm);
      ids.ffn1_b = m->Add(p + ".ffn1.b", L.ffn1_b, kFfn);
      ids.ffn2_w = m->Add(p + ".ffn2.w", L.ffn2_w, static_cast<size_t>(kFfn) * dm);
      ids.ffn2_b = m->Add(p + ".ffn2.b", L.ffn2_b, dm);
      ids.ln2_w = m->Add(p + ".ln2.w", L.ln2_w, dm);
      ids.ln2_b = m->Add(p + ".ln2.b", L.ln2_b, dm);
      m->bert.push_back(ids);
    }
    return m;
  }

  switch (c.variant) {
    case Variant::kF128: m->variant_ = lamk::kPlanF128; break;
    case Variant::kR64T: m->variant_ = lamk::kPlanR64T; break;
    case Variant::kR32: m->variant_ = lamk::kPlanR32; break;
    default: return Status(LAM_STATUS_UNSUPPORTED, "LAM model without a delta-rule variant");
  }
  if (static_cast<int>(w.lam_layers.size()) != c.layers) {
    return Status(LAM_STATUS_MODEL_INVALID, "config says " + std::to_string(c.layers) + " layers but " +
                                                std::to_string(w.lam_layers.size()) + " are wired");
  }
  const bool recurrent = c.variant != Variant::kF128;
  for (size_t l = 0; l < w.lam_layers.size(); ++l) {
    const auto& L = w.lam_layers[l];
    const std::string p = "layer " + std::to_string(l);
    // Fused input projection rows in Z's column order (lamk::kZ*), zero rows elsewhere.
    std::vector<float> win(static_cast<size_t>(lamk::kZCols) * dm, 0.0f);
    auto put = [&](int row0, const float* src, int rows) {
      std::memcpy(win.data() + static_cast<size_t>(row0) * dm, src, sizeof(float) * rows * dm);
    };
    put(lamk::kZq, L.q, kDm);
    put(lamk::kZk, L.k, kDm);
    put(lamk::kZv, L.v, kDm);
    put(lamk::kZg, L.g, kDm);
    put(lamk::kZbeta, L.beta, kHeads);
    put(lamk::kZfg, L.fgate, kHeads);
    put(lamk::kZsg, L.sgate, kHeads);
    if (recurrent) {
      put(lamk::kZfd, L.fdecay_w, kHeads);
      put(lamk::kZsd, L.sdecay_w, kHeads);
    }
    std::vector<float> cw(static_cast<size_t>(kQkv) * 4), cb(kQkv);
    const float* cws[3] = {L.conv_q_w, L.conv_k_w, L.conv_v_w};
    const float* cbs[3] = {L.conv_q_b, L.conv_k_b, L.conv_v_b};
    for (int i = 0; i < 3; ++i) {
      std::memcpy(cw.data() + i * dm * 4, cws[i], sizeof(float) * dm * 4);
      std::memcpy(cb.data() + i * dm, cbs[i], sizeof(float) * dm);
    }
    LamLayerIds ids;
    ids.w_in = m->Own(p + ".w_in", std::move(win));
    ids.conv_w = m->Own(p + ".conv.w", std::move(cw));
    ids.conv_b = m->Own(p + ".conv.b", std::move(cb));
    if (recurrent) {
      ids.fd_b = m->Add(p + ".fdecay.b", L.fdecay_b, kHeads);
      ids.fd_b2 = m->Add(p + ".fdecay.bias2", L.fdecay_bias2, kHeads);
      ids.sd_b = m->Add(p + ".sdecay.b", L.sdecay_b, kHeads);
      ids.sd_b2 = m->Add(p + ".sdecay.bias2", L.sdecay_bias2, kHeads);
      ids.flux_per_head = L.flux_w_per_head;
      ids.flux_w = m->Add(p + ".flux.W", L.flux_w, L.flux_w_per_head ? kHeads * 32 * 32 : 32 * 32);
      ids.flux_temp = m->Add(p + ".flux.temp", L.flux_temp, kHeads);
      ids.n1w = m->Add(p + ".flux.net1.w", L.flux_net1_w, 16 * 65);
      ids.n1b = m->Add(p + ".flux.net1.b", L.flux_net1_b, 16);
      ids.n2w = m->Add(p + ".flux.net2.w", L.flux_net2_w, 16);
      ids.n2b = m->Add(p + ".flux.net2.b", L.flux_net2_b, 1);
    }
    if (c.variant == Variant::kR64T) {
      ids.t1w = m->Add(p + ".tflux.net1.w", L.tflux_net1_w, 16 * 64);
      ids.t1b = m->Add(p + ".tflux.net1.b", L.tflux_net1_b, 16);
      ids.t2w = m->Add(p + ".tflux.net2.w", L.tflux_net2_w, 16);
      ids.t2b = m->Add(p + ".tflux.net2.b", L.tflux_net2_b, 1);
    }
    ids.onorm = m->Add(p + ".onorm.w", L.onorm_w, 32);
    ids.w_o = m->Add(p + ".o", L.o, dm * dm);
    ids.ln1_w = m->Add(p + ".ln1.w", L.ln1_w, dm);
    ids.ln1_b = m->Add(p + ".ln1.b", L.ln1_b, dm);
    ids.ffn1_w = m->Add(p + ".ffn1.w", L.ffn1_w, static_cast<size_t>(kFfn) * dm);
    ids.ffn1_b = m->Add(p + ".ffn1.b", L.ffn1_b, kFfn);
    ids.ffn2_w = m->Add(p + ".ffn2.w", L.ffn2_w, static_cast<size_t>(kFfn) * dm);
    ids.ffn2_b = m->Add(p + ".ffn2.b", L.ffn2_b, dm);
    ids.ln2_w = m->Add(p + ".ln2.w", L.ln2_w, dm);
    ids.ln2_b = m->Add(p + ".ln2.b", L.ln2_b, dm);
    m->lam.push_back(ids);
  }
  return m;
}

const char* BufName(BufId id) {
  static const char* const kNames[] = {"x", "z", "f", "s", "o", "tmp", "mid", "u", "wk", "psi", "qkv", "ctx", "out"};
  const auto i = static_cast<size_t>(id);
  return i < sizeof(kNames) / sizeof(kNames[0]) ? kNames[i] : "?";
}

const char* OpKindName(OpKind k) {
  switch (k) {
    case OpKind::kEmbed: return "embed";
    case OpKind::kGemm: return "gemm";
    case OpKind::kLamFront: return "lam_front";
    case OpKind::kF128Scan: return "f128_scan";
    case OpKind::kR64TSingle: return "r64t_single";
    case OpKind::kRecPrepare: return "rec_prepare";
    case OpKind::kRecRun: return "rec_run";
    case OpKind::kGatedRmsNorm: return "gated_rmsnorm";
    case OpKind::kResidualLn: return "residual_ln";
    case OpKind::kAttention: return "attention";
    case OpKind::kPool: return "pool";
  }
  return "?";
}

std::string Op::Name() const {
  std::string s;
  if (layer >= 0) {
    s += 'L';
    s += std::to_string(layer);
    s += '.';
  }
  s += OpKindName(kind);
  s += std::string("(") + BufName(in);
  if (kind == OpKind::kResidualLn) s += std::string(", ") + BufName(in2);
  s += std::string(" -> ") + BufName(out) + ")";
  if (kind == OpKind::kGemm) s += " n=" + std::to_string(n) + " k=" + std::to_string(k) + " act=" + std::to_string(act);
  return s;
}

std::string Plan::Describe() const {
  std::string s = "plan " + bucket.ToString() + ": rows " + std::to_string(rows_cap) + ", chunks " +
                  std::to_string(max_chunks) + ", arena " + std::to_string(arena_floats * 4) + " bytes\n";
  for (const auto& op : ops) s += "  " + op.Name() + "\n";
  return s;
}

Result<Plan> BuildPlan(const PackedModel& model, const backend::Bucket& bucket) {
  if (bucket.max_sequences < 1 || bucket.token_budget < bucket.max_sequences || bucket.token_budget > (1 << 24)) {
    return Status(LAM_STATUS_INVALID_ARG, "bucket " + bucket.ToString() + " is out of range");
  }
  const engine::ModelConfig& c = model.config();
  Plan p;
  p.family = c.family;
  p.variant = model.variant();
  p.bucket = bucket;
  p.eps = c.layer_norm_eps;
  const bool lam = c.family == Family::kLam;
  const bool recurrent = lam && p.variant != lamk::kPlanF128;
  p.c0 = p.variant == lamk::kPlanR32 ? 32 : p.variant == lamk::kPlanR64T ? 64 : 128;
  p.max_seqs = bucket.max_sequences;
  p.max_len = std::min(bucket.token_budget, c.max_tokens);
  p.rows_cap = bucket.token_budget + (recurrent ? 31 * bucket.max_sequences : 0);
  p.max_chunks = lam ? bucket.max_sequences + p.rows_cap / 32 : 0;
  p.meta_ints = static_cast<size_t>(lamk::PlanMeta::Ints(p.rows_cap, p.max_seqs, p.max_chunks));

  size_t offset = 0;
  auto def = [&](BufId id, int rows, int cols) {
    BufferSpec& b = p.buffers[static_cast<size_t>(id)];
    b.offset = offset;
    b.rows = rows;
    b.cols = cols;
    b.floats = static_cast<size_t>(rows) * cols;
    offset += (b.floats + 63) / 64 * 64;
  };
  const int R = p.rows_cap;
  def(BufId::kX, R, kDm);
  def(BufId::kTmp, R, kDm);
  def(BufId::kMid, R, kFfn);
  def(BufId::kOut, p.max_seqs, kDm);
  if (lam) {
    def(BufId::kZ, R, lamk::kZCols);
    def(BufId::kF, R, lamk::kFCols);
    def(BufId::kS, R, lamk::kSCols);
    def(BufId::kO, R, kDm);
    if (recurrent) {
      def(BufId::kU, R, kDm);
      def(BufId::kWk, R, kDm);
      def(BufId::kPsi, p.max_chunks, kHeads);
    }
  } else {
    def(BufId::kQkv, R, kQkv);
    def(BufId::kCtx, R, kDm);
  }
  p.arena_floats = offset;

  auto gemm = [&](int layer, BufId in, BufId out, int w, int bias, int n, int k, int act) {
    Op op;
    op.kind = OpKind::kGemm;
    op.layer = layer;
    op.in = in;
    op.out = out;
    op.w = w;
    op.bias = bias;
    op.n = n;
    op.k = k;
    op.act = act;
    p.ops.push_back(op);
  };
  auto simple = [&](OpKind kind, int layer, BufId in, BufId out) {
    Op op;
    op.kind = kind;
    op.layer = layer;
    op.in = in;
    op.out = out;
    p.ops.push_back(op);
  };
  auto residual = [&](int layer, BufId delta, int ln_w, int ln_b, bool zero_pad) {
    Op op;
    op.kind = OpKind::kResidualLn;
    op.layer = layer;
    op.in = BufId::kX;
    op.in2 = delta;
    op.out = BufId::kX;
    op.ln_w = ln_w;
    op.ln_b = ln_b;
    op.zero_pad = zero_pad;
    p.ops.push_back(op);
  };

  simple(OpKind::kEmbed, -1, BufId::kX, BufId::kX);
  if (lam) {
    for (int l = 0; l < static_cast<int>(model.lam.size()); ++l) {
      const LamLayerIds& L = model.lam[static_cast<size_t>(l)];
      gemm(l, BufId::kX, BufId::kZ, L.w_in, -1, lamk::kZCols, kDm, lamk::kActNone);
      simple(OpKind::kLamFront, l, BufId::kZ, BufId::kF);
      if (p.variant == lamk::kPlanF128) {
        simple(OpKind::kF128Scan, l, BufId::kF, BufId::kO);
      } else {
        if (p.variant == lamk::kPlanR64T) simple(OpKind::kR64TSingle, l, BufId::kF, BufId::kO);
        simple(OpKind::kRecPrepare, l, BufId::kF, BufId::kU);
        simple(OpKind::kRecRun, l, BufId::kU, BufId::kO);
      }
      simple(OpKind::kGatedRmsNorm, l, BufId::kO, BufId::kO);
      gemm(l, BufId::kO, BufId::kTmp, L.w_o, -1, kDm, kDm, lamk::kActNone);
      residual(l, BufId::kTmp, L.ln1_w, L.ln1_b, false);
      gemm(l, BufId::kX, BufId::kMid, L.ffn1_w, L.ffn1_b, kFfn, kDm, lamk::kActGelu2);
      gemm(l, BufId::kMid, BufId::kTmp, L.ffn2_w, L.ffn2_b, kDm, kFfn, lamk::kActNone);
      residual(l, BufId::kTmp, L.ln2_w, L.ln2_b, recurrent);
    }
  } else {
    for (int l = 0; l < static_cast<int>(model.bert.size()); ++l) {
      const BertLayerIds& L = model.bert[static_cast<size_t>(l)];
      gemm(l, BufId::kX, BufId::kQkv, L.w_qkv, L.b_qkv, kQkv, kDm, lamk::kActNone);
      simple(OpKind::kAttention, l, BufId::kQkv, BufId::kCtx);
      gemm(l, BufId::kCtx, BufId::kTmp, L.w_o, L.b_o, kDm, kDm, lamk::kActNone);
      residual(l, BufId::kTmp, L.ln1_w, L.ln1_b, false);
      gemm(l, BufId::kX, BufId::kMid, L.ffn1_w, L.ffn1_b, kFfn, kDm, lamk::kActGelu);
      gemm(l, BufId::kMid, BufId::kTmp, L.ffn2_w, L.ffn2_b, kDm, kFfn, lamk::kActNone);
      residual(l, BufId::kTmp, L.ln2_w, L.ln2_b, false);
    }
  }
  simple(OpKind::kPool, -1, BufId::kX, BufId::kOut);
  return p;
}

Status FillMeta(const Plan& p, int vocab, std::span<const engine::TokenSpan> batch, int* table) {
  if (batch.empty()) return Status(LAM_STATUS_EMPTY_BATCH, "empty batch");
  size_t tokens = 0;
  for (size_t b = 0; b < batch.size(); ++b) {
    const auto& sp = batch[b];
    if (sp.len == 0 || sp.ids == nullptr || sp.len > static_cast<size_t>(p.max_len)) {
      return Status(LAM_STATUS_INVALID_ARG, "sequence " + std::to_string(b) + " is empty, has no ids or is longer than " +
                                                std::to_string(p.max_len) + " tokens");
    }
    for (size_t t = 0; t < sp.len; ++t) {
      if (sp.ids[t] < 0 || sp.ids[t] >= vocab) {
        return Status(LAM_STATUS_TOKEN_OUT_OF_RANGE, "token id " + std::to_string(sp.ids[t]) + " at position " +
                                                         std::to_string(t) + " of sequence " + std::to_string(b));
      }
    }
    tokens += sp.len;
  }
  if (!p.bucket.Fits(batch.size(), tokens)) {
    return Status(LAM_STATUS_INVALID_ARG, "batch of " + std::to_string(batch.size()) + " sequences / " +
                                              std::to_string(tokens) + " tokens does not fit bucket " +
                                              p.bucket.ToString());
  }
  const bool lam = p.family == Family::kLam;
  const bool recurrent = lam && p.variant != lamk::kPlanF128;
  const int R = p.rows_cap, S = p.max_seqs, MC = p.max_chunks;
  int* row_seq = table + 4;
  int* row_t = row_seq + R;
  int* ids = row_t + R;
  int* seq = ids + R;  // 6 fields of S
  int* chunk_seq = seq + 6 * S;
  int* chunk_n = chunk_seq + MC;
  std::fill(table, table + p.meta_ints, 0);
  std::fill(row_seq, row_seq + R, -1);
  int row = 0, chunk = 0;
  for (size_t bi = 0; bi < batch.size(); ++bi) {
    const int b = static_cast<int>(bi);
    const int len = static_cast<int>(batch[bi].len);
    const int padded = LayerPadded(len);
    const int seg = recurrent ? padded : len;
    int c = 0, nchunks = 0;
    if (lam) {
      c = ChunkOf(padded, p.c0);
      nchunks = (seg + c - 1) / c;
      if (recurrent && (nchunks > 1 || p.variant == lamk::kPlanR32) && c > lamk::kMaxDense) {
        return Status(LAM_STATUS_INTERNAL, "chunk of " + std::to_string(c) + " rows exceeds the dense form");
      }
    }
    if (row + seg > R || chunk + nchunks > MC) {
      return Status(LAM_STATUS_INTERNAL, "packed rows or chunks exceed the plan of bucket " + p.bucket.ToString());
    }
    seq[0 * S + b] = row;
    seq[1 * S + b] = len;
    seq[2 * S + b] = seg;
    seq[3 * S + b] = c;
    seq[4 * S + b] = nchunks;
    seq[5 * S + b] = chunk;
    for (int t = 0; t < seg; ++t) {
      row_seq[row + t] = b;
      row_t[row + t] = t;
      ids[row + t] = t < len ? batch[bi].ids[t] : 0;
    }
    for (int n = 0; n < nchunks; ++n) {
      chunk_seq[chunk + n] = b;
      chunk_n[chunk + n] = n;
    }
    row += seg;
    chunk += nchunks;
  }
  table[0] = static_cast<int>(batch.size());
  table[1] = row;
  table[2] = chunk;
  return Status::Ok();
}

}  // namespace lam::cuda
