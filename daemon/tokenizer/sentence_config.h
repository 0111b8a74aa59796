// SPDX-License-Identifier: MIT
// What a sentence-transformers model directory says about turning text into an embedding, so
// that lamd's text API gives `SentenceTransformer(dir).encode(text)`:
//
//   modules.json               the pipeline: Transformer (path ""), Pooling, optional Normalize
//   sentence_bert_config.json  max_seq_length (truncation, [CLS] and [SEP] included) and
//                              do_lower_case (the text is lower-cased before tokenisation)
//   <pooling path>/config.json the pooling mode; lamd computes mean pooling over the tokens
//
// A directory without these files (a LAM model, a bare Hugging Face BERT) keeps lamd's
// defaults: truncation at the model's max_tokens, mean pooling, L2 normalisation. A pipeline
// lamd cannot compute (CLS or max pooling, a Dense layer, a Transformer elsewhere than the
// directory itself) is refused with LAM_STATUS_MODEL_INVALID naming what it asks for, rather
// than served with embeddings that differ from the model's. Every file is untrusted input
// (tests/fuzz/model_config_fuzz.cpp): a module path is one plain name, never "..".
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "tokenizer/wordpiece.h"

namespace lam::tokenizer {

struct SentenceConfig {
  bool present = false;        // any of the sentence-transformers files was found
  size_t max_seq_length = 0;   // 0: not set (truncate at the model's max_tokens)
  bool do_lower_case = false;  // lower-case the text before the tokenizer sees it
  bool normalize = true;       // a Normalize module ends the pipeline (or no modules.json)
};

// The contents of the three files (nullopt: the file does not exist). `pooling_config_json` is
// the config.json of the Pooling module's folder, which the caller reads from
// PoolingConfigPath(modules_json) ("1_Pooling/config.json" for all-MiniLM-L6-v2).
// `dir` only names the files in error messages.
Result<SentenceConfig> ParseSentenceConfig(std::optional<std::string_view> modules_json,
                                           std::optional<std::string_view> sentence_bert_config_json,
                                           std::optional<std::string_view> pooling_config_json,
                                           std::string_view dir);

// The folder of the Pooling module named by modules.json, relative to the model directory
// ("" when there is none). Errors as ParseSentenceConfig.
Result<std::string> PoolingFolder(std::string_view modules_json, std::string_view dir);

// Reads the files from `dir` and parses them.
Result<SentenceConfig> LoadSentenceConfig(const std::string& dir);

// How many tokens a text keeps by default: max_seq_length when set (capped at the model's
// position table, `model_max_tokens`), else model_max_tokens.
size_t DefaultTextMaxTokens(const SentenceConfig& config, size_t model_max_tokens);

// A model directory's text front end as lamd applies it (for tools that tokenise in-process and
// must give lamd's rows): the tokenizer, lower-casing as the sentence config asks, and the
// default truncation length.
struct TextFrontEnd {
  WordPieceTokenizer tokenizer;
  SentenceConfig sentence;
  size_t max_tokens = 0;
};
Result<TextFrontEnd> LoadTextFrontEnd(const std::string& dir, size_t model_max_tokens);

}  // namespace lam::tokenizer
