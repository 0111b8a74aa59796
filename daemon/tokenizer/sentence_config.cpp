// SPDX-License-Identifier: MIT
#include "tokenizer/sentence_config.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace lam::tokenizer {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kTransformer = "sentence_transformers.models.Transformer";
constexpr std::string_view kPooling = "sentence_transformers.models.Pooling";
constexpr std::string_view kNormalize = "sentence_transformers.models.Normalize";

Status Invalid(std::string_view dir, std::string_view file, std::string_view what) {
  std::string m;
  for (std::string_view part : {dir, std::string_view("/"), file, std::string_view(": "), what}) m.append(part);
  return Status(LAM_STATUS_MODEL_INVALID, std::move(m));
}

// ""<name>"" (appending, not operator+: g++ 12 warns falsely on short literal concatenations).
std::string Quoted(std::string_view name) {
  std::string q(1, '"');
  q.append(name.substr(0, 120));
  q.push_back('"');
  return q;
}

Result<Json> ParseObjectOrArray(std::string_view text, std::string_view dir, std::string_view file) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Invalid(dir, file, "not valid JSON");
  if (!j.is_object() && !j.is_array()) return Invalid(dir, file, "not a JSON object or array");
  return j;
}

// A module folder is one plain name inside the model directory: no "/", no "..", no NUL.
bool IsPlainFolderName(const std::string& s) {
  if (s.empty() || s == "." || s == ".." || s.size() > 255) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
  });
}

struct Module {
  std::string type;
  std::string path;
};

Result<std::vector<Module>> ParseModules(std::string_view modules_json, std::string_view dir) {
  constexpr std::string_view kFile = "modules.json";
  auto parsed = ParseObjectOrArray(modules_json, dir, kFile);
  if (!parsed.ok()) return parsed.status();
  const Json& j = *parsed;
  if (!j.is_array() || j.empty() || j.size() > 16) {
    return Invalid(dir, kFile, "must be an array of 1 to 16 modules");
  }
  std::vector<Module> modules;
  for (const Json& m : j) {
    if (!m.is_object() || !m.contains("type") || !m["type"].is_string()) {
      return Invalid(dir, kFile, "every module needs a string \"type\"");
    }
    Module mod;
    mod.type = m["type"].get<std::string>();
    if (m.contains("path")) {
      if (!m["path"].is_string()) return Invalid(dir, kFile, "a module's \"path\" must be a string");
      mod.path = m["path"].get<std::string>();
    }
    modules.push_back(std::move(mod));
  }
  // lamd computes exactly Transformer -> Pooling [-> Normalize], with the Transformer's files in
  // the directory itself.
  if (modules[0].type != kTransformer || !modules[0].path.empty()) {
    return Invalid(dir, kFile,
                   "lamd serves a Transformer module whose files are the model directory itself (path \"\"); "
                   "the first module is " + Quoted(modules[0].type) + " at " + Quoted(modules[0].path));
  }
  if (modules.size() < 2 || modules[1].type != kPooling) {
    return Invalid(dir, kFile, "the second module must be a Pooling module");
  }
  if (!IsPlainFolderName(modules[1].path)) {
    return Invalid(dir, kFile, "the Pooling module's path must be one plain folder name");
  }
  for (size_t i = 2; i < modules.size(); ++i) {
    if (i != 2 || modules[i].type != kNormalize) {
      return Invalid(dir, kFile,
                     "lamd computes Transformer, Pooling and Normalize only; module " + std::to_string(i) + " is " +
                         Quoted(modules[i].type));
    }
  }
  return modules;
}

Status CheckPooling(std::string_view pooling_json, std::string_view dir, std::string_view file) {
  auto parsed = ParseObjectOrArray(pooling_json, dir, file);
  if (!parsed.ok()) return parsed.status();
  const Json& j = *parsed;
  if (!j.is_object()) return Invalid(dir, file, "not a JSON object");
  // The modes sentence-transformers knows; lamd computes the mean over the sequence's tokens.
  static const char* kModes[] = {"pooling_mode_cls_token", "pooling_mode_max_tokens",
                                 "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
                                 "pooling_mode_lasttoken"};
  for (const char* mode : kModes) {
    auto it = j.find(mode);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_boolean()) return Invalid(dir, file, Quoted(mode) + " must be true or false");
    if (it->get<bool>()) {
      return Invalid(dir, file, "lamd computes mean pooling only; this model asks for " + Quoted(mode));
    }
  }
  auto mean = j.find("pooling_mode_mean_tokens");
  if (mean == j.end() || !mean->is_boolean() || !mean->get<bool>()) {
    return Invalid(dir, file, "lamd computes mean pooling only; \"pooling_mode_mean_tokens\" is not true");
  }
  if (auto mode = j.find("pooling_mode"); mode != j.end() && !mode->is_null() &&
                                          !(mode->is_string() && mode->get<std::string>() == "mean")) {
    return Invalid(dir, file, "lamd computes mean pooling only; \"pooling_mode\" is not \"mean\"");
  }
  return Status::Ok();
}

Status ReadFile(const std::string& path, std::optional<std::string>* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    out->reset();
    return Status::Ok();
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status(LAM_STATUS_IO_ERROR, "read error on " + path);
  *out = std::move(text).str();
  return Status::Ok();
}

}  // namespace

Result<std::string> PoolingFolder(std::string_view modules_json, std::string_view dir) {
  auto modules = ParseModules(modules_json, dir);
  if (!modules.ok()) return modules.status();
  return (*modules)[1].path;
}

Result<SentenceConfig> ParseSentenceConfig(std::optional<std::string_view> modules_json,
                                           std::optional<std::string_view> sentence_bert_config_json,
                                           std::optional<std::string_view> pooling_config_json,
                                           std::string_view dir) {
  SentenceConfig c;
  if (modules_json.has_value()) {
    c.present = true;
    auto modules = ParseModules(*modules_json, dir);
    if (!modules.ok()) return modules.status();
    c.normalize = modules->size() == 3;
    const std::string pooling_file = (*modules)[1].path + "/config.json";
    if (!pooling_config_json.has_value()) return Invalid(dir, pooling_file, "missing");
    LAM_RETURN_IF_ERROR(CheckPooling(*pooling_config_json, dir, pooling_file));
  }
  if (sentence_bert_config_json.has_value()) {
    c.present = true;
    constexpr std::string_view kFile = "sentence_bert_config.json";
    auto parsed = ParseObjectOrArray(*sentence_bert_config_json, dir, kFile);
    if (!parsed.ok()) return parsed.status();
    const Json& j = *parsed;
    if (!j.is_object()) return Invalid(dir, kFile, "not a JSON object");
    if (auto it = j.find("max_seq_length"); it != j.end() && !it->is_null()) {
      if (!it->is_number_integer() || it->get<int64_t>() < 2 || it->get<int64_t>() > (int64_t{1} << 30)) {
        return Invalid(dir, kFile, "\"max_seq_length\" must be an integer from 2 to 2^30");
      }
      c.max_seq_length = static_cast<size_t>(it->get<int64_t>());
    }
    if (auto it = j.find("do_lower_case"); it != j.end() && !it->is_null()) {
      if (!it->is_boolean()) return Invalid(dir, kFile, "\"do_lower_case\" must be true or false");
      c.do_lower_case = it->get<bool>();
    }
  }
  if (!modules_json.has_value()) c.normalize = !c.present;  // a bare model dir: lamd's defaults
  return c;
}

Result<SentenceConfig> LoadSentenceConfig(const std::string& dir) {
  std::optional<std::string> modules, sbert, pooling;
  LAM_RETURN_IF_ERROR(ReadFile(dir + "/modules.json", &modules));
  LAM_RETURN_IF_ERROR(ReadFile(dir + "/sentence_bert_config.json", &sbert));
  if (modules.has_value()) {
    auto folder = PoolingFolder(*modules, dir);
    if (!folder.ok()) return folder.status();
    LAM_RETURN_IF_ERROR(ReadFile(dir + "/" + *folder + "/config.json", &pooling));
  }
  auto view = [](const std::optional<std::string>& s) {
    return s.has_value() ? std::optional<std::string_view>(*s) : std::nullopt;
  };
  return ParseSentenceConfig(view(modules), view(sbert), view(pooling), dir);
}

size_t DefaultTextMaxTokens(const SentenceConfig& config, size_t model_max_tokens) {
  return config.max_seq_length != 0 ? std::min(config.max_seq_length, model_max_tokens) : model_max_tokens;
}

Result<TextFrontEnd> LoadTextFrontEnd(const std::string& dir, size_t model_max_tokens) {
  auto sentence = LoadSentenceConfig(dir);
  if (!sentence.ok()) return sentence.status();
  auto tok = WordPieceTokenizer::LoadFromModelDir(dir);
  if (!tok.ok()) return tok.status();
  if (sentence->do_lower_case) tok->LowerCaseInput();
  return TextFrontEnd{std::move(tok).value(), *sentence, DefaultTextMaxTokens(*sentence, model_max_tokens)};
}

}  // namespace lam::tokenizer
