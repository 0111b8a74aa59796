// SPDX-License-Identifier: MIT
// libFuzzer target: config.json contents. ParseModelConfig either refuses them with a status
// naming config.json or returns a configuration inside the ranges the engine computes. The same
// bytes are also each of the sentence-transformers files in turn (modules.json,
// sentence_bert_config.json, the Pooling config; tokenizer/sentence_config.h): refused with
// MODEL_INVALID naming the file, or a configuration in range whose Pooling folder is one plain
// name inside the model directory.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "engine/model_loader.h"
#include "tokenizer/sentence_config.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "model_config_fuzz: invariant violated: %s\n", what);
    std::abort();
  }
}

constexpr std::string_view kModules =
    R"([{"path": "", "type": "sentence_transformers.models.Transformer"},
        {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])";
constexpr std::string_view kSbert = R"({"max_seq_length": 256, "do_lower_case": false})";
constexpr std::string_view kMean = R"({"pooling_mode_mean_tokens": true})";

void CheckSentenceConfig(std::string_view modules, std::string_view sbert, std::string_view pooling) {
  auto c = lam::tokenizer::ParseSentenceConfig(modules, sbert, pooling, "/m");
  if (!c.ok()) {
    Check(c.status().code() == LAM_STATUS_MODEL_INVALID, "a sentence config error other than MODEL_INVALID");
    Check(c.status().message().rfind("/m/", 0) == 0, "a sentence config error not naming its file");
    return;
  }
  Check(c->present, "sentence config files read as absent");
  Check(c->max_seq_length == 0 || (c->max_seq_length >= 2 && c->max_seq_length <= (size_t{1} << 30)),
        "max_seq_length out of range");
  Check(lam::tokenizer::DefaultTextMaxTokens(*c, 512) <= 512, "truncation past the position table");
  auto folder = lam::tokenizer::PoolingFolder(modules, "/m");
  Check(folder.ok(), "a pipeline accepted whose Pooling folder is refused");
  Check(!folder->empty() && folder->find('/') == std::string::npos && *folder != ".." && *folder != ".",
        "a Pooling folder that is not one plain name");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lam::engine;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  CheckSentenceConfig(text, kSbert, kMean);
  CheckSentenceConfig(kModules, text, kMean);
  CheckSentenceConfig(kModules, kSbert, text);
  auto config = ParseModelConfig(text);
  if (!config.ok()) {
    Check(config.status().code() == LAM_STATUS_MODEL_INVALID, "an error other than MODEL_INVALID");
    Check(config.status().message().rfind("config.json: ", 0) == 0, "an error not naming config.json");
    return 0;
  }
  const ModelConfig& c = *config;
  Check(c.family == Family::kLam || c.family == Family::kBert, "unknown family");
  Check(c.hidden == 384 && c.heads == 12 && c.head_dim == 32 && c.intermediate == 1536,
        "architecture other than 384/12x32/1536 accepted");
  Check(c.layers >= 1 && c.layers <= 64, "layer count out of range");
  Check(c.vocab_size >= 1 && c.vocab_size <= (1 << 22), "vocabulary size out of range");
  Check(c.position_table >= 1 && c.max_tokens >= 1 && c.max_tokens <= 8192, "lengths out of range");
  Check(std::isfinite(c.layer_norm_eps) && c.layer_norm_eps > 0.0f && c.layer_norm_eps <= 1e-3f,
        "layer_norm_eps outside (0, 1e-3]");
  if (c.family == Family::kBert) {
    Check(c.variant == Variant::kNone, "a BERT config with a LAM variant");
    Check(c.max_tokens == c.position_table, "BERT max_tokens differs from its position table");
  }
  // Parsing is a pure function of the text.
  auto again = ParseModelConfig(text);
  Check(again.ok() && again->layers == c.layers && again->vocab_size == c.vocab_size &&
            again->variant == c.variant && again->max_tokens == c.max_tokens,
        "parsing the same text twice differs");
  return 0;
}
