// SPDX-License-Identifier: MIT
// lamctl embed through a running lamd (liblamclient): token ids go to lam_client_embed_tokens,
// texts (--text) to lam_client_embed_text and lamd's own tokeniser. `embed --model DIR` computes
// in-process instead, in the engine module (engine/embed_local.cpp); both print the same bytes.
#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "embed_io.h"
#include "lam/lam.h"

namespace lam::ctl {
namespace {

class DaemonEmbedder final : public Embedder {
 public:
  explicit DaemonEmbedder(lam_client* c) : client_(c) {}
  ~DaemonEmbedder() override { lam_client_close(client_); }
  DaemonEmbedder(const DaemonEmbedder&) = delete;
  DaemonEmbedder& operator=(const DaemonEmbedder&) = delete;

  Status Init() {
    lam_model_info mi = LAM_MODEL_INFO_INIT;
    if (lam_status st = lam_client_get_model_info(client_, &mi); st != LAM_STATUS_OK) {
      return Status(st, lam_client_last_error(client_));
    }
    dim_ = static_cast<int>(mi.embedding_dim);
    max_tokens_ = mi.max_tokens;
    vocab_size_ = static_cast<int64_t>(mi.vocab_size);
    return Status::Ok();
  }

  int dim() const override { return dim_; }

  // The daemon validates again; checking here lets an error name the input line at once.
  Status Validate(const std::vector<int32_t>& ids) const override {
    if (ids.empty()) return Status(LAM_STATUS_EMPTY_SEQUENCE, "sequence 0 is empty");
    if (ids.size() > max_tokens_) {
      return Status(LAM_STATUS_SEQUENCE_TOO_LONG, "sequence 0 has " + std::to_string(ids.size()) +
                                                      " tokens; the maximum is " + std::to_string(max_tokens_));
    }
    for (size_t j = 0; j < ids.size(); ++j) {
      if (ids[j] < 0 || ids[j] >= vocab_size_) {
        return Status(LAM_STATUS_TOKEN_OUT_OF_RANGE, "token id " + std::to_string(ids[j]) + " at position " +
                                                         std::to_string(j) + " of sequence 0 is outside [0, " +
                                                         std::to_string(vocab_size_) + ")");
      }
    }
    return Status::Ok();
  }

  Status EmbedTokens(const std::vector<std::vector<int32_t>>& batch, float* out) override {
    std::vector<int32_t> ids;
    std::vector<uint32_t> lengths;
    for (const auto& s : batch) {
      ids.insert(ids.end(), s.begin(), s.end());
      lengths.push_back(static_cast<uint32_t>(s.size()));
    }
    lam_embed_tokens_request req = LAM_EMBED_TOKENS_REQUEST_INIT;
    req.token_ids = ids.data();
    req.lengths = lengths.data();
    req.n_sequences = lengths.size();
    size_t n = 0;
    if (lam_status st = lam_client_embed_tokens(client_, &req, out, batch.size() * static_cast<size_t>(dim_), &n);
        st != LAM_STATUS_OK) {
      return Status(st, lam_client_last_error(client_));
    }
    return Status::Ok();
  }

  Status EmbedTexts(std::span<const std::string> texts, float* out) override {
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
    size_t n = 0;
    if (lam_status st = lam_client_embed_text(client_, &req, out, texts.size() * static_cast<size_t>(dim_), &n);
        st != LAM_STATUS_OK) {
      return Status(st, lam_client_last_error(client_));
    }
    return Status::Ok();
  }

 private:
  lam_client* client_;
  int dim_ = 0;
  size_t max_tokens_ = 0;
  int64_t vocab_size_ = 0;
};

}  // namespace

int RunDaemonEmbed(const EmbedOptions& options) {
  lam_client_options o = LAM_CLIENT_OPTIONS_INIT;
  o.socket_path = options.socket.c_str();
  lam_client* c = nullptr;
  if (lam_status st = lam_client_open(&o, &c); st != LAM_STATUS_OK) {
    std::fprintf(stderr, "lamctl embed: cannot open model '%s': %s: lamd on %s: %s\n", options.socket.c_str(),
                 status_code_name(st), options.socket.c_str(), lam_client_last_error(c));
    lam_client_close(c);
    return 1;
  }
  DaemonEmbedder embedder(c);
  if (Status st = embedder.Init(); !st.ok()) {
    std::fprintf(stderr, "lamctl embed: cannot open model '%s': %s\n", options.socket.c_str(), st.ToString().c_str());
    return 1;
  }
  return RunEmbedLoop(embedder, options.text, options.batch_lines);
}

}  // namespace lam::ctl
