// SPDX-License-Identifier: MIT
#include "backend/cuda/host_executor.h"

#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <cstring>
#include <limits>

namespace lam::cuda {

HostExecutor::HostExecutor(const PackedModel& model, Plan plan, GemmPrecision precision)
    : model_(model), plan_(std::move(plan)), precision_(precision) {}

Result<std::unique_ptr<HostExecutor>> HostExecutor::Create(const PackedModel& model, const backend::Bucket& bucket,
                                                           GemmPrecision precision) {
  LAM_ASSIGN_OR_RETURN(Plan plan, BuildPlan(model, bucket));
  std::unique_ptr<HostExecutor> e(new HostExecutor(model, std::move(plan), precision));
  // NaN-filled: a task that reads a row nobody wrote shows up in the result.
  e->arena_.assign(e->plan_.arena_floats, std::numeric_limits<float>::quiet_NaN());
  e->meta_.assign(e->plan_.meta_ints, 0);
  e->scratch_.assign(static_cast<size_t>(std::max({lamk::kPrepareScratch, lamk::kRunScratch, lamk::kMaxAttnLen})), 0.0f);
  return e;
}

const float* HostExecutor::Tf32Weights(int id, size_t count) {
  auto [it, inserted] = rounded_w_.try_emplace(id);
  if (inserted) {
    const float* w = T(id);
    it->second.resize(count);
    std::transform(w, w + count, it->second.begin(), RoundToTf32);
  }
  return it->second.data();
}

Status HostExecutor::Begin(std::span<const engine::TokenSpan> batch) {
  return FillMeta(plan_, model_.config().vocab_size, batch, meta_.data());
}

Status HostExecutor::RunOp(const Op& op) {
  const lamk::PlanMeta m = Meta();
  const lamk::HostTeam tm;
  const int rows = m.nrows();
  float* sh = scratch_.data();
  const float* in = buffer(op.in);
  float* out = buffer(op.out);
  auto each_row = [&](auto&& body) {
    for (int r = 0; r < rows; ++r) body(r);
  };
  const LamLayerIds* L = (plan_.family == engine::Family::kLam && op.layer >= 0)
                             ? &model_.lam[static_cast<size_t>(op.layer)] : nullptr;
  switch (op.kind) {
    case OpKind::kEmbed: {
      const auto& c = model_.config();
      each_row([&](int r) {
        lamk::plan_embed_row(tm, m, r, T(model_.word), T(model_.pos), c.position_table, T(model_.type0),
                             T(model_.emb_ln_w), T(model_.emb_ln_b), plan_.eps, c.vocab_size, out);
      });
      return Status::Ok();
    }
    case OpKind::kGemm: {
      int lda = plan_.buf(op.in).cols;
      const int ldc = plan_.buf(op.out).cols;
      const float* w = T(op.w);
      if (precision_ == GemmPrecision::kTf32 && rows > 0) {
        rounded_in_.resize(static_cast<size_t>(rows) * static_cast<size_t>(op.k));
        for (int r = 0; r < rows; ++r) {
          const float* x = in + static_cast<size_t>(r) * static_cast<size_t>(lda);
          std::transform(x, x + op.k, rounded_in_.begin() + static_cast<long>(r) * op.k, RoundToTf32);
        }
        in = rounded_in_.data();
        lda = op.k;
        w = Tf32Weights(op.w, model_.tensor(op.w).count);
      }
      if (rows > 0) {
        const dnnl_status_t st = dnnl_sgemm('N', 'T', rows, op.n, op.k, 1.0f, in, lda, w, op.k, 0.0f, out, ldc);
        if (st != dnnl_success) {
          return Status(LAM_STATUS_BACKEND_FAILED, "dnnl_sgemm failed for " + op.Name() + " (status " +
                                                       std::to_string(static_cast<int>(st)) + ")");
        }
      }
      if (op.bias >= 0 || op.act != lamk::kActNone) {
        const float* bias = T(op.bias);
        for (int r = 0; r < rows; ++r) {
          float* y = out + static_cast<size_t>(r) * ldc;
          for (int c = 0; c < op.n; ++c) y[c] = lamk::bias_act(y[c], bias != nullptr ? bias[c] : 0.0f, op.act);
        }
      }
      return Status::Ok();
    }
    case OpKind::kLamFront:
      each_row([&](int r) {
        lamk::plan_front_row(tm, m, r, plan_.variant, in, T(L->conv_w), T(L->conv_b), T(L->fd_b), T(L->fd_b2),
                             T(L->sd_b), T(L->sd_b2), T(L->t1w), T(L->t1b), T(L->t2w), T(L->t2b),
                             buffer(BufId::kF), buffer(BufId::kS));
      });
      return Status::Ok();
    case OpKind::kF128Scan:
      for (int c = 0; c < m.nchunks(); ++c) {
        for (int h = 0; h < LAM_HEADS; ++h) {
          lamk::plan_f128_chunk(tm, m, c, h, buffer(BufId::kF), buffer(BufId::kS), sh, out);
        }
      }
      return Status::Ok();
    case OpKind::kR64TSingle:
      for (int b = 0; b < m.nseq(); ++b) {
        for (int h = 0; h < LAM_HEADS; ++h) {
          lamk::plan_r64t_single(tm, m, b, h, buffer(BufId::kF), buffer(BufId::kS), sh, out);
        }
      }
      return Status::Ok();
    case OpKind::kRecPrepare:
      for (int c = 0; c < m.nchunks(); ++c) {
        for (int h = 0; h < LAM_HEADS; ++h) {
          lamk::plan_recurrent_prepare(tm, m, c, h, plan_.variant, buffer(BufId::kF), buffer(BufId::kS),
                                       T(L->flux_w), L->flux_per_head ? 1 : 0, T(L->flux_temp), T(L->n1w),
                                       T(L->n1b), T(L->n2w), T(L->n2b), sh, buffer(BufId::kU),
                                       buffer(BufId::kWk), buffer(BufId::kPsi));
        }
      }
      return Status::Ok();
    case OpKind::kRecRun:
      for (int b = 0; b < m.nseq(); ++b) {
        for (int h = 0; h < LAM_HEADS; ++h) {
          lamk::plan_recurrent_run(tm, m, b, h, plan_.variant, buffer(BufId::kF), buffer(BufId::kS),
                                   buffer(BufId::kU), buffer(BufId::kWk), buffer(BufId::kPsi), sh, out);
        }
      }
      return Status::Ok();
    case OpKind::kGatedRmsNorm:
      each_row([&](int r) { lamk::plan_gated_rmsnorm_row(tm, m, r, buffer(BufId::kZ), T(L->onorm), out); });
      return Status::Ok();
    case OpKind::kResidualLn:
      each_row([&](int r) {
        lamk::plan_residual_ln_row(tm, m, r, in, buffer(op.in2), T(op.ln_w), T(op.ln_b), plan_.eps,
                                   op.zero_pad ? 1 : 0, out);
      });
      return Status::Ok();
    case OpKind::kAttention:
      each_row([&](int r) {
        for (int h = 0; h < LAM_HEADS; ++h) lamk::plan_attention_row(tm, m, r, h, in, sh, out);
      });
      return Status::Ok();
    case OpKind::kPool:
      for (int b = 0; b < m.nseq(); ++b) lamk::plan_pool_seq(tm, m, b, in, out);
      return Status::Ok();
  }
  return Status(LAM_STATUS_INTERNAL, "unknown plan op " + op.Name());
}

Status HostExecutor::Run(std::span<const engine::TokenSpan> batch, float* out) {
  LAM_RETURN_IF_ERROR(Begin(batch));
  for (const Op& op : plan_.ops) LAM_RETURN_IF_ERROR(RunOp(op));
  std::memcpy(out, buffer(BufId::kOut), batch.size() * LAM_HIDDEN * sizeof(float));
  return Status::Ok();
}

}  // namespace lam::cuda
