// SPDX-License-Identifier: MIT
// lamctl embed --model DIR: the model computed in-process by lamd's engine (with --text, the
// texts tokenised as lamd does: the model's vocab.txt, sentence-transformers' max_seq_length and
// lower-casing when the directory has them, [SEP] kept last).
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "embed_io.h"
#include "engine/engine.h"
#include "engine_commands.h"
#include "tokenizer/sentence_config.h"

namespace lam::ctl {
namespace {

class EngineEmbedder final : public Embedder {
 public:
  EngineEmbedder(std::unique_ptr<engine::Engine> engine, std::optional<tokenizer::TextFrontEnd> text)
      : engine_(std::move(engine)), text_(std::move(text)) {}

  int dim() const override { return engine_->info().embedding_dim; }

  Status Validate(const std::vector<int32_t>& ids) const override {
    engine::TokenSpan span{ids.data(), ids.size()};
    return engine_->Validate({&span, 1});
  }

  Status EmbedTokens(const std::vector<std::vector<int32_t>>& batch, float* out) override {
    std::vector<engine::TokenSpan> spans;
    spans.reserve(batch.size());
    for (const auto& s : batch) spans.push_back({s.data(), s.size()});
    return engine_->Embed(spans, out);
  }

  Status EmbedTexts(std::span<const std::string> texts, float* out) override {
    if (!text_) return Status(LAM_STATUS_INTERNAL, "no tokenizer loaded (--text)");
    std::vector<std::vector<int32_t>> ids(texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
      LAM_ASSIGN_OR_RETURN(ids[i], text_->tokenizer.Encode(texts[i], text_->max_tokens));
    }
    return EmbedTokens(ids, out);
  }

 private:
  std::unique_ptr<engine::Engine> engine_;
  std::optional<tokenizer::TextFrontEnd> text_;
};

}  // namespace

int RunLocalEmbed(const EmbedOptions& options) {
  engine::EngineOptions eo;
  eo.backend = options.backend;
  eo.threads = options.threads;
  auto opened = engine::Engine::Open(options.model_dir, eo);
  if (!opened.ok()) {
    std::fprintf(stderr, "lamctl embed: cannot open model '%s': %s\n", options.model_dir.c_str(),
                 opened.status().ToString().c_str());
    return 1;
  }
  std::optional<tokenizer::TextFrontEnd> text;
  if (options.text) {
    auto loaded =
        tokenizer::LoadTextFrontEnd(options.model_dir, static_cast<size_t>((*opened)->info().config.max_tokens));
    if (!loaded.ok()) {
      std::fprintf(stderr, "lamctl embed: --text needs the model's vocab.txt: %s\n",
                   loaded.status().ToString().c_str());
      return 1;
    }
    text.emplace(std::move(loaded).value());
  }
  EngineEmbedder embedder(std::move(opened).value(), std::move(text));
  return RunEmbedLoop(embedder, options.text, options.batch_lines);
}

}  // namespace lam::ctl
