// SPDX-License-Identifier: MIT
#include "synth_model.h"

#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "engine/model_names.h"
#include "engine/safetensors.h"
#include "vocab_gen.h"

namespace lam::mkmodel {
namespace {

namespace fs = std::filesystem;
using engine::TensorRole;
using engine::TensorSpec;
using nlohmann::json;

// std::normal_distribution is implementation-defined; Box-Muller over mt19937_64 keeps the
// output identical across standard libraries.
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  double Uniform() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }  // [0, 1)
  double Normal() {
    const double u1 = 1.0 - Uniform();  // (0, 1]
    const double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  std::mt19937_64 gen_;
};

// Values for one tensor. Each tensor has its own stream (seed, name), so adding a tensor to the
// table never changes the others. Scales follow what trained BERT/LAM weights look like.
std::vector<float> Init(const TensorSpec& s, uint64_t seed) {
  size_t n = 1;
  for (int64_t d : s.shape) n *= static_cast<size_t>(d);
  Rng rng(XXH3_64bits_withSeed(s.name.data(), s.name.size(), seed));
  std::vector<float> v(n);
  const double fan_in = s.shape.size() >= 2 ? static_cast<double>(s.shape.back()) : 1.0;
  for (size_t i = 0; i < n; ++i) {
    const double z = rng.Normal();
    double x = 0;
    switch (s.role) {
      case TensorRole::kEmbedding:
        x = 0.05 * z;
        break;
      case TensorRole::kProjection:
        x = z / std::sqrt(fan_in);
        break;
      case TensorRole::kBias:
      case TensorRole::kLayerNormBias:
        x = 0.02 * z;
        break;
      case TensorRole::kLayerNormWeight:
        x = 1.0 + 0.05 * z;
        break;
      case TensorRole::kConvWeight:
        // Depthwise kernel of 4 taps (t-2, t-1, t, t+1): PyTorch's default init scale
        // (uniform +-1/sqrt(4)), with the current-token tap strengthened as training does.
        x = (rng.Uniform() - 0.5) + (i % 4 == 2 ? 0.6 : 0.0);
        break;
      case TensorRole::kConvBias:
        x = 0.1 * z;
        break;
      case TensorRole::kFastDecayBias:
        x = std::log(0.3) + 0.1 * z;
        break;
      case TensorRole::kSlowDecayBias:
        x = std::log(0.85) + 0.1 * z;
        break;
      case TensorRole::kTemperature:
        // A raw divisor in the model: keep it well away from zero.
        x = std::clamp(1.0 + 0.1 * z, 0.7, 1.3);
        break;
      case TensorRole::kBilinear:
        x = z / std::sqrt(32.0);
        break;
    }
    v[i] = static_cast<float>(x);
  }
  return v;
}

json ConfigJson(const SynthOptions& o) {
  json c = {{"hidden_size", 384},       {"num_hidden_layers", o.layers},
            {"num_attention_heads", 12}, {"intermediate_size", 1536},
            {"vocab_size", o.vocab_size}, {"layer_norm_eps", 1e-12}};
  if (o.variant == "bert") {
    c["model_type"] = "bert";
    c["architectures"] = {"BertModel"};
    c["max_position_embeddings"] = 512;
    c["type_vocab_size"] = 2;
    c["hidden_act"] = "gelu";
    c["position_embedding_type"] = "absolute";
    c["pad_token_id"] = 0;
  } else {
    c["model_type"] = "lam";
    c["lam_variant"] = o.variant;
    c["max_position_embeddings"] = 512;
    c["max_seq_length"] = 8192;
  }
  c["lam_mkmodel"] = {{"seed", o.seed}, {"synthetic", true}};
  return c;
}

json TokenizerConfig(const SynthOptions& o) {
  return {{"tokenizer_class", "BertTokenizer"}, {"do_lower_case", true},
          {"model_max_length", o.variant == "bert" ? 512 : 8192},
          {"unk_token", "[UNK]"}, {"sep_token", "[SEP]"}, {"pad_token", "[PAD]"},
          {"cls_token", "[CLS]"}, {"mask_token", "[MASK]"}, {"tokenize_chinese_chars", true},
          {"strip_accents", nullptr}};
}

Status WriteText(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Status(LAM_STATUS_IO_ERROR, "write " + p.string() + " failed");
  return Status::Ok();
}

Status Populate(const SynthOptions& o, const fs::path& dir) {
  engine::ModelConfig cfg;
  cfg.layers = o.layers;
  cfg.vocab_size = o.vocab_size;
  engine::ModelWeights scratch;
  std::vector<TensorSpec> specs;
  if (o.variant == "bert") {
    cfg.family = engine::Family::kBert;
    cfg.variant = engine::Variant::kNone;
    specs = engine::BertTensorSpecs(cfg, "", 2, &scratch);
  } else {
    cfg.variant = o.variant == "r32"    ? engine::Variant::kR32
                  : o.variant == "r64t" ? engine::Variant::kR64T
                                        : engine::Variant::kF128;
    specs = engine::LamTensorSpecs(
        cfg, o.variant == "r32" ? engine::LamLayout::kR32 : engine::LamLayout::kV1, &scratch);
  }
  engine::SafetensorsWriter w;
  for (const TensorSpec& s : specs) {
    if (o.minimal && !s.dst) continue;
    LAM_RETURN_IF_ERROR(w.AddF32(s.name, s.shape, Init(s, o.seed)));
  }
  w.SetMetadata("format", "pt");
  w.SetMetadata("generator", "lam-mkmodel");
  w.SetMetadata("variant", o.variant);
  w.SetMetadata("seed", std::to_string(o.seed));
  LAM_RETURN_IF_ERROR(w.WriteFile((dir / "model.safetensors").string()));
  LAM_RETURN_IF_ERROR(WriteText(dir / "config.json", ConfigJson(o).dump(2) + "\n"));
  LAM_RETURN_IF_ERROR(WriteText(dir / "tokenizer_config.json", TokenizerConfig(o).dump(2) + "\n"));
  return WriteText(dir / "vocab.txt", GenerateVocab(o.vocab_size));
}

}  // namespace

Status WriteSyntheticModel(const SynthOptions& o, const std::string& out_dir, bool force) {
  if (o.variant != "f128" && o.variant != "r64t" && o.variant != "r32" && o.variant != "bert") {
    return Status(LAM_STATUS_INVALID_ARG, "unknown variant '" + o.variant + "' (f128, r64t, r32, bert)");
  }
  if (o.layers < 1 || o.layers > 64) return Status(LAM_STATUS_INVALID_ARG, "--layers must be in [1, 64]");
  if (o.vocab_size < 104 || o.vocab_size > (1 << 22)) {
    return Status(LAM_STATUS_INVALID_ARG, "--vocab-size must be in [104, 4194304] (BERT specials end at 103)");
  }
  std::error_code ec;
  fs::path out = fs::absolute(fs::path(out_dir), ec).lexically_normal();
  if (!out.has_filename()) out = out.parent_path();
  if (fs::exists(out, ec) && !force) {
    return Status(LAM_STATUS_INVALID_ARG, out.string() + " exists (use --force to replace it)");
  }
  fs::create_directories(out.parent_path(), ec);
  const std::string tag = ".lam-mkmodel-" + std::to_string(::getpid());
  const fs::path tmp = out.parent_path() / (out.filename().string() + tag + ".tmp");
  const fs::path old = out.parent_path() / (out.filename().string() + tag + ".old");
  fs::remove_all(tmp, ec);
  if (!fs::create_directory(tmp, ec)) {
    return Status(LAM_STATUS_IO_ERROR, "create " + tmp.string() + ": " + ec.message());
  }
  Status st = Populate(o, tmp);
  if (!st.ok()) {
    fs::remove_all(tmp, ec);
    return st;
  }
  // Swap in: the old directory (if any) is moved aside first, so `out` is always either the
  // complete old model or the complete new one.
  const bool had_old = fs::exists(out, ec);
  if (had_old) {
    fs::rename(out, old, ec);
    if (ec) {
      fs::remove_all(tmp, ec);
      return Status(LAM_STATUS_IO_ERROR, "move " + out.string() + " aside: " + ec.message());
    }
  }
  fs::rename(tmp, out, ec);
  if (ec) {
    const std::string why = ec.message();
    if (had_old) fs::rename(old, out, ec);
    fs::remove_all(tmp, ec);
    return Status(LAM_STATUS_IO_ERROR, "rename " + tmp.string() + " to " + out.string() + ": " + why);
  }
  if (had_old) fs::remove_all(old, ec);
  return Status::Ok();
}

}  // namespace lam::mkmodel
