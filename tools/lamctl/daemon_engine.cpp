// SPDX-License-Identifier: MIT
#include "daemon_engine.h"

#include <vector>

#include "lam/lam.h"

namespace lam::ctl {
namespace {

class DaemonEngine final : public engine::Engine {
 public:
  explicit DaemonEngine(lam_client* c) : client_(c) {}
  ~DaemonEngine() override { lam_client_close(client_); }

  Status Init() {
    lam_model_info mi = LAM_MODEL_INFO_INIT;
    if (lam_status st = lam_client_get_model_info(client_, &mi); st != LAM_STATUS_OK) {
      return Status(st, lam_client_last_error(client_));
    }
    info_.name = mi.name;
    info_.fingerprint = mi.fingerprint;
    info_.embedding_dim = static_cast<int>(mi.embedding_dim);
    info_.config.max_tokens = static_cast<int>(mi.max_tokens);
    info_.config.vocab_size = static_cast<int>(mi.vocab_size);
    backend_ = mi.backend;
    info_.precision = mi.precision;
    return Status::Ok();
  }

  const engine::ModelInfo& info() const override { return info_; }

  // The daemon validates again; checking here lets an error name the input line at once.
  Status Validate(std::span<const engine::TokenSpan> batch) const override {
    if (batch.empty()) return Status(LAM_STATUS_EMPTY_BATCH, "the batch has no sequences");
    for (size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].len == 0) return Status(LAM_STATUS_EMPTY_SEQUENCE, "sequence " + std::to_string(i) + " is empty");
      if (batch[i].len > static_cast<size_t>(info_.config.max_tokens)) {
        return Status(LAM_STATUS_SEQUENCE_TOO_LONG, "sequence " + std::to_string(i) + " has " +
                                                        std::to_string(batch[i].len) + " tokens; the maximum is " +
                                                        std::to_string(info_.config.max_tokens));
      }
      for (size_t j = 0; j < batch[i].len; ++j) {
        const int32_t id = batch[i].ids[j];
        if (id < 0 || id >= info_.config.vocab_size) {
          return Status(LAM_STATUS_TOKEN_OUT_OF_RANGE,
                        "token id " + std::to_string(id) + " at position " + std::to_string(j) + " of sequence " +
                            std::to_string(i) + " is outside [0, " + std::to_string(info_.config.vocab_size) + ")");
        }
      }
    }
    return Status::Ok();
  }

  Status Embed(std::span<const engine::TokenSpan> batch, float* out) override {
    std::vector<int32_t> ids;
    std::vector<uint32_t> lengths;
    for (const auto& s : batch) {
      ids.insert(ids.end(), s.ids, s.ids + s.len);
      lengths.push_back(static_cast<uint32_t>(s.len));
    }
    lam_embed_tokens_request req = LAM_EMBED_TOKENS_REQUEST_INIT;
    req.token_ids = ids.data();
    req.lengths = lengths.data();
    req.n_sequences = lengths.size();
    const size_t cap = batch.size() * static_cast<size_t>(info_.embedding_dim);
    size_t n = 0;
    if (lam_status st = lam_client_embed_tokens(client_, &req, out, cap, &n); st != LAM_STATUS_OK) {
      return Status(st, lam_client_last_error(client_));
    }
    return Status::Ok();
  }

  Status EmbedTexts(std::span<const std::string> texts, float* out) {
    std::vector<const char*> ptrs;
    std::vector<size_t> lengths;
    for (const auto& t : texts) {
      ptrs.push_back(t.data());
      lengths.push_back(t.size());
    }
    lam_embed_text_request req = LAM_EMBED_TEXT_REQUEST_INIT;
    req.texts = ptrs.data();
    req.lengths = lengths.data();
    req.n_texts = texts.size();
    const size_t cap = texts.size() * static_cast<size_t>(info_.embedding_dim);
    size_t n = 0;
    if (lam_status st = lam_client_embed_text(client_, &req, out, cap, &n); st != LAM_STATUS_OK) {
      return Status(st, lam_client_last_error(client_));
    }
    return Status::Ok();
  }

  const char* backend_name() const override { return backend_.c_str(); }
  const std::vector<backend::Bucket>& buckets() const override { return buckets_; }
  Status CompileAll() override { return Status::Ok(); }  // the daemon warmed up before READY
  engine::EngineStats stats() const override { return {}; }

 private:
  lam_client* client_;
  engine::ModelInfo info_;
  std::string backend_;
  std::vector<backend::Bucket> buckets_;
};

}  // namespace

Status DaemonEmbedTexts(engine::Engine& eng, std::span<const std::string> texts, float* out) {
  auto* d = dynamic_cast<DaemonEngine*>(&eng);
  if (d == nullptr) return Status(LAM_STATUS_INTERNAL, "DaemonEmbedTexts needs an engine from OpenDaemonEngine");
  return d->EmbedTexts(texts, out);
}

Result<std::unique_ptr<engine::Engine>> OpenDaemonEngine(const std::string& socket) {
  lam_client_options o = LAM_CLIENT_OPTIONS_INIT;
  o.socket_path = socket.c_str();
  lam_client* c = nullptr;
  if (lam_status st = lam_client_open(&o, &c); st != LAM_STATUS_OK) {
    Status s(st, std::string("lamd on ") + socket + ": " + lam_client_last_error(c));
    lam_client_close(c);
    return s;
  }
  auto e = std::make_unique<DaemonEngine>(c);
  LAM_RETURN_IF_ERROR(e->Init());
  return std::unique_ptr<engine::Engine>(std::move(e));
}

}  // namespace lam::ctl
