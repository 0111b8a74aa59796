// SPDX-License-Identifier: MIT
#include "engine/model_loader.h"

#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <utility>

#include "common/json_describe.h"
#include "engine/model_names.h"

namespace lam::engine {

const char* family_name(Family f) noexcept {
  switch (f) {
    case Family::kLam:
      return "lam";
    case Family::kBert:
      return "bert";
  }
  return "?";
}

const char* variant_name(Variant v) noexcept {
  switch (v) {
    case Variant::kF128:
      return "f128";
    case Variant::kR64T:
      return "r64t";
    case Variant::kR32:
      return "r32";
    case Variant::kNone:
      return "none";
  }
  return "?";
}

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// What the engine computes (lam-model.md section 1); other architectures are refused.
constexpr int kHidden = 384;
constexpr int kHeads = 12;
constexpr int kIntermediate = 1536;
constexpr int kLamPositionTable = 512;  // the interpolation in section 3 is defined on 512 rows
constexpr int kLamMaxTokens = 8192;     // the package's licence limit (section 2)
constexpr int kMaxLayers = 64;
constexpr int kMaxVocab = 1 << 22;
constexpr uintmax_t kMaxConfigBytes = 1 << 20;
constexpr uintmax_t kMaxVocabBytes = 64u << 20;

Status ConfigError(const std::string& what) {
  return Status(LAM_STATUS_MODEL_INVALID, "config.json: " + what);
}

struct ParsedConfig {
  ModelConfig config;
  int type_rows = 2;  // BERT type_vocab_size
};

// Reads an integer field; `fallback` < 0 means the field is required.
Result<int> IntField(const json& j, const char* key, int lo, int hi, int fallback = -1) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (fallback >= 0) return fallback;
    return ConfigError(std::string("missing required field '") + key + "'");
  }
  if (!it->is_number_integer()) {
    return ConfigError(std::string("field '") + key + "' must be an integer, got " + DescribeJson(*it));
  }
  const int64_t v = it->get<int64_t>();
  if (v < lo || v > hi) {
    return ConfigError(std::string("field '") + key + "' is " + std::to_string(v) +
                       ", outside the supported range [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "]");
  }
  return static_cast<int>(v);
}

// The fixed architecture: the field may be absent only when `optional`.
Status ExpectArch(const json& j, const char* key, int expected) {
  auto it = j.find(key);
  if (it == j.end()) return ConfigError(std::string("missing required field '") + key + "'");
  if (!it->is_number_integer() || it->get<int64_t>() != expected) {
    return ConfigError(std::string("field '") + key + "' is " + DescribeJson(*it) + "; lamd computes " +
                       key + " = " + std::to_string(expected) +
                       " (hidden 384, 12 heads of 32, intermediate 1536)");
  }
  return Status::Ok();
}

Result<ParsedConfig> ParseConfig(std::string_view text) {
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return ConfigError(std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) return ConfigError("top level is not a JSON object");
  ParsedConfig out;
  ModelConfig& c = out.config;
  auto mt = j.find("model_type");
  if (mt == j.end() || !mt->is_string()) return ConfigError("missing string field 'model_type'");
  const std::string model_type = mt->get<std::string>();
  if (model_type == "lam") {
    c.family = Family::kLam;
  } else if (model_type == "bert") {
    c.family = Family::kBert;
  } else {
    return ConfigError("model_type '" + model_type + "' is not supported (expected \"lam\" or \"bert\")");
  }
  LAM_RETURN_IF_ERROR(ExpectArch(j, "hidden_size", kHidden));
  LAM_RETURN_IF_ERROR(ExpectArch(j, "num_attention_heads", kHeads));
  LAM_RETURN_IF_ERROR(ExpectArch(j, "intermediate_size", kIntermediate));
  c.hidden = kHidden;
  c.heads = kHeads;
  c.head_dim = kHidden / kHeads;
  c.intermediate = kIntermediate;
  LAM_ASSIGN_OR_RETURN(c.layers, IntField(j, "num_hidden_layers", 1, kMaxLayers));
  LAM_ASSIGN_OR_RETURN(c.vocab_size, IntField(j, "vocab_size", 1, kMaxVocab));

  auto eps = j.find("layer_norm_eps");
  if (eps != j.end()) {
    if (!eps->is_number() || !(eps->get<double>() > 0.0) || !(eps->get<double>() <= 1e-3)) {
      return ConfigError("field 'layer_norm_eps' must be a number in (0, 1e-3], got " + DescribeJson(*eps));
    }
    // The engine computes in float32: a positive double that rounds to 0 (or to a subnormal)
    // there would let a constant row divide by zero in LayerNorm (found by model_config_fuzz).
    c.layer_norm_eps = eps->get<float>();
    if (!(c.layer_norm_eps >= std::numeric_limits<float>::min())) {
      return ConfigError("field 'layer_norm_eps' is " + DescribeJson(*eps) +
                         ", below the smallest normal float32; lamd computes in float32");
    }
  } else {
    c.layer_norm_eps = 1e-12f;
  }

  if (c.family == Family::kLam) {
    auto v = j.find("lam_variant");
    if (v == j.end() || v->is_null()) {
      c.variant = Variant::kNone;  // inferred from W_bilinear's shape by the loader
    } else if (!v->is_string()) {
      return ConfigError("field 'lam_variant' must be a string, got " + DescribeJson(*v));
    } else if (*v == "f128") {
      c.variant = Variant::kF128;
    } else if (*v == "r64t") {
      c.variant = Variant::kR64T;
    } else if (*v == "r32") {
      c.variant = Variant::kR32;
    } else {
      return ConfigError("unknown lam_variant '" + v->get<std::string>() +
                         "' (expected \"f128\", \"r64t\" or \"r32\")");
    }
    // LAM-base-v1's own config says 32768 here although its table has 512 rows (lam-model.md
    // section 3), so the field is only range-checked; the table shape is what counts.
    LAM_RETURN_IF_ERROR(IntField(j, "max_position_embeddings", 1, 1 << 20, kLamPositionTable).status());
    c.position_table = kLamPositionTable;
    LAM_ASSIGN_OR_RETURN(c.max_tokens, IntField(j, "max_seq_length", 1, kLamMaxTokens, kLamMaxTokens));
  } else {
    c.variant = Variant::kNone;
    LAM_ASSIGN_OR_RETURN(c.position_table, IntField(j, "max_position_embeddings", 1, kLamMaxTokens));
    c.max_tokens = c.position_table;
    LAM_ASSIGN_OR_RETURN(out.type_rows, IntField(j, "type_vocab_size", 1, 1024, 2));
    auto act = j.find("hidden_act");
    if (act != j.end() && *act != "gelu") {
      return ConfigError("field 'hidden_act' is " + DescribeJson(*act) +
                         "; lamd computes the exact erf GELU (\"gelu\")");
    }
    auto pe = j.find("position_embedding_type");
    if (pe != j.end() && *pe != "absolute") {
      return ConfigError("field 'position_embedding_type' is " + DescribeJson(*pe) +
                         "; only \"absolute\" is supported");
    }
  }
  return out;
}

Result<std::string> ReadSmallFile(const fs::path& path, uintmax_t cap, const char* what) {
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    return Status(LAM_STATUS_MODEL_INVALID,
                  "model directory " + path.parent_path().string() + " has no " + what);
  }
  if (!fs::is_regular_file(st)) return Status(LAM_STATUS_MODEL_INVALID, path.string() + " is not a regular file");
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) return Status(LAM_STATUS_IO_ERROR, "stat " + path.string() + ": " + ec.message());
  if (size > cap) {
    return Status(LAM_STATUS_MODEL_INVALID, path.string() + " is " + std::to_string(size) +
                                                " bytes, over the " + std::to_string(cap) + "-byte limit");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(LAM_STATUS_IO_ERROR, "open " + path.string() + ": " + std::strerror(errno));
  std::string data(static_cast<size_t>(size), '\0');
  in.read(data.data(), static_cast<std::streamsize>(size));
  if (in.gcount() != static_cast<std::streamsize>(size)) {
    return Status(LAM_STATUS_IO_ERROR, "read " + path.string() + ": short read");
  }
  return data;
}

// vocab.txt: one token per line; the tokenizer may produce ids up to line count - 1, which must
// index the word table.
Status CheckVocab(const fs::path& path, int vocab_size) {
  LAM_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, kMaxVocabBytes, "vocab.txt"));
  size_t lines = 0;
  for (char ch : text) lines += ch == '\n';
  if (!text.empty() && text.back() != '\n') ++lines;
  if (lines == 0) return Status(LAM_STATUS_MODEL_INVALID, path.string() + " is empty");
  if (lines > static_cast<size_t>(vocab_size)) {
    return Status(LAM_STATUS_MODEL_INVALID,
                  path.string() + " has " + std::to_string(lines) + " tokens but config.json vocab_size is " +
                      std::to_string(vocab_size));
  }
  return Status::Ok();
}

// Resolves the specs against the file, storing pointers; returns the names it used.
Status BindTensors(const SafetensorsView& st, const std::vector<TensorSpec>& specs,
                   std::set<std::string>* used) {
  for (const TensorSpec& spec : specs) {
    const TensorInfo* t = st.Find(spec.name);
    for (size_t a = 0; !t && a < spec.alternatives.size(); ++a) t = st.Find(spec.alternatives[a]);
    if (!t) {
      if (!spec.required) continue;
      std::string msg = "missing tensor '" + spec.name + "'";
      for (const auto& alt : spec.alternatives) msg += " (or '" + alt + "')";
      return Status(LAM_STATUS_MODEL_INVALID, st.source() + ": " + msg);
    }
    LAM_ASSIGN_OR_RETURN(const float* p, st.GetF32(t->name, spec.shape));
    if (spec.dst) *spec.dst = p;
    used->insert(t->name);
  }
  return Status::Ok();
}

// LAM: decide variant and layout from config + layer 0's W_bilinear (lam-model.md section 0).
Result<LamLayout> ResolveLamLayout(const SafetensorsView& st, ModelConfig* c) {
  const TensorInfo* wb = st.Find(LamBilinearKey(0));
  const std::vector<int64_t> r32_shape = {c->head_dim, c->head_dim};
  const std::vector<int64_t> v1_shape = {c->heads, c->head_dim, c->head_dim};
  const bool is_r32 = wb && wb->shape == r32_shape;
  if (wb && !is_r32 && wb->shape != v1_shape) {
    return Status(LAM_STATUS_MODEL_INVALID,
                  st.source() + ": tensor " + wb->name + " has shape " + ShapeString(wb->shape) +
                      ", expected [12, 32, 32] (v1 layout) or [32, 32] (R32 layout)");
  }
  if (c->variant == Variant::kNone) c->variant = is_r32 ? Variant::kR32 : Variant::kF128;
  if (c->variant == Variant::kR32 && wb && !is_r32) {
    return Status(LAM_STATUS_MODEL_INVALID,
                  st.source() + ": lam_variant r32 needs " + wb->name + " of shape [32, 32], found " +
                      ShapeString(wb->shape) + " (a v1 checkpoint: use f128 or r64t)");
  }
  if (c->variant == Variant::kR64T && is_r32) {
    return Status(LAM_STATUS_MODEL_INVALID,
                  st.source() + ": lam_variant r64t needs " + wb->name +
                      " of shape [12, 32, 32] and token_flux_proj, found the R32 layout [32, 32]");
  }
  if (c->variant == Variant::kR32) return LamLayout::kR32;
  return is_r32 ? LamLayout::kR32 : LamLayout::kV1;
}

std::string Fingerprint(std::string_view config, std::span<const std::byte> model) {
  XXH3_state_t* state = XXH3_createState();
  XXH3_128bits_reset(state);
  XXH3_128bits_update(state, config.data(), config.size());
  // Streamed in slices so the hash walks the mapping sequentially with bounded page residency.
  constexpr size_t kSlice = 8u << 20;
  for (size_t off = 0; off < model.size(); off += kSlice) {
    XXH3_128bits_update(state, model.data() + off, std::min(kSlice, model.size() - off));
  }
  const XXH128_hash_t h = XXH3_128bits_digest(state);
  XXH3_freeState(state);
  XXH128_canonical_t canon;
  XXH128_canonicalFromHash(&canon, h);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : canon.digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

}  // namespace

Result<ModelConfig> ParseModelConfig(std::string_view json_text) {
  LAM_ASSIGN_OR_RETURN(ParsedConfig pc, ParseConfig(json_text));
  return pc.config;
}

Result<std::unique_ptr<LoadedModel>> LoadModel(const std::string& model_dir) {
  std::error_code ec;
  fs::path dir = fs::absolute(fs::path(model_dir), ec).lexically_normal();
  if (ec || model_dir.empty()) return Status(LAM_STATUS_NOT_FOUND, "model directory '" + model_dir + "' is invalid");
  if (!dir.has_filename()) dir = dir.parent_path();  // drop a trailing slash
  const auto st_dir = fs::status(dir, ec);
  if (ec || !fs::exists(st_dir)) {
    return Status(LAM_STATUS_NOT_FOUND, "model directory " + dir.string() + " does not exist");
  }
  if (!fs::is_directory(st_dir)) {
    return Status(LAM_STATUS_MODEL_INVALID, dir.string() + " is not a directory");
  }

  LAM_ASSIGN_OR_RETURN(std::string config_text,
                       ReadSmallFile(dir / "config.json", kMaxConfigBytes, "config.json"));
  LAM_ASSIGN_OR_RETURN(ParsedConfig pc, ParseConfig(config_text));
  LAM_RETURN_IF_ERROR(CheckVocab(dir / "vocab.txt", pc.config.vocab_size));

  const std::string st_path = (dir / "model.safetensors").string();
  auto mapped = MappedFile::Open(st_path);
  if (!mapped.ok()) {
    if (mapped.status().code() == LAM_STATUS_NOT_FOUND) {
      return Status(LAM_STATUS_MODEL_INVALID, "model directory " + dir.string() + " has no model.safetensors");
    }
    return mapped.status();
  }
  std::unique_ptr<LoadedModel> model(new LoadedModel());
  model->file_ = std::move(mapped.value());
  LAM_ASSIGN_OR_RETURN(SafetensorsView view, SafetensorsView::Parse(model->file_.bytes(), st_path));

  ModelWeights& w = model->weights_;
  w.config = pc.config;
  std::vector<TensorSpec> specs;
  if (w.config.family == Family::kLam) {
    LAM_ASSIGN_OR_RETURN(LamLayout layout, ResolveLamLayout(view, &w.config));
    specs = LamTensorSpecs(w.config, layout, &w);
  } else {
    // HF BertModel keys, bare or under "bert." (BertForX checkpoints).
    const std::string prefix = view.Find("embeddings.word_embeddings.weight") ? ""
                               : view.Find("bert.embeddings.word_embeddings.weight") ? "bert."
                                                                                      : "";
    specs = BertTensorSpecs(w.config, prefix, pc.type_rows, &w);
  }
  std::set<std::string> used;
  LAM_RETURN_IF_ERROR(BindTensors(view, specs, &used));
  size_t ignored = 0;
  for (const TensorInfo& t : view.tensors()) {
    if (used.count(t.name)) continue;
    ++ignored;
    spdlog::debug("model {}: ignoring tensor {} ({} {})", dir.filename().string(), t.name,
                  dtype_name(t.dtype), ShapeString(t.shape));
  }

  model->fingerprint_ = Fingerprint(config_text, model->file_.bytes());
  model->dir_ = dir.string();
  model->name_ = dir.filename().string();
  spdlog::debug("model {}: {} {} layers={} vocab={} max_tokens={} tensors={} ignored={} fingerprint={}",
                model->name_, family_name(w.config.family), variant_name(w.config.variant),
                w.config.layers, w.config.vocab_size, w.config.max_tokens, view.tensors().size(),
                ignored, model->fingerprint_);
  return model;
}

}  // namespace lam::engine
