// SPDX-License-Identifier: MIT
#include "engine/model_loader.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <xxhash.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/model_names.h"
#include "engine/safetensors.h"

namespace lam::engine {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A small model directory built from the same tensor tables the loader reads, with knobs to
// break it in one specific way.
struct TestModel {
  std::string model_type = "lam";
  std::string variant = "f128";  // "" leaves lam_variant out of config.json
  LamLayout layout = LamLayout::kV1;
  int layers = 1;
  int vocab = 120;
  int vocab_lines = 120;
  std::string bert_prefix;
  bool with_unused = false;                     // also write never-read tensors
  std::set<std::string> drop;                   // tensors to leave out
  std::map<std::string, std::string> rename;    // written under another key
  std::map<std::string, std::vector<int64_t>> reshape;
  std::set<std::string> as_bf16;
  std::map<std::string, int> extra;             // unknown tensors to add, name -> length
  std::function<void(json&)> edit_config;
  size_t truncate_bytes = 0;
  bool write_config = true, write_vocab = true, write_weights = true;
};

float Fill(size_t spec_index, size_t j) {
  return 0.01f * static_cast<float>((spec_index * 31 + j) % 101) - 0.5f;
}

ModelConfig ConfigOf(const TestModel& m) {
  ModelConfig c;
  c.family = m.model_type == "bert" ? Family::kBert : Family::kLam;
  c.variant = m.variant == "r64t" ? Variant::kR64T : m.variant == "r32" ? Variant::kR32 : Variant::kF128;
  c.layers = m.layers;
  c.vocab_size = m.vocab;
  c.position_table = c.family == Family::kBert ? 64 : 512;
  return c;
}

std::vector<TensorSpec> SpecsOf(const TestModel& m, ModelWeights* scratch) {
  const ModelConfig c = ConfigOf(m);
  return c.family == Family::kBert ? BertTensorSpecs(c, m.bert_prefix, 2, scratch)
                                   : LamTensorSpecs(c, m.layout, scratch);
}

void WriteText(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
}

fs::path Write(const fs::path& dir, const TestModel& m) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  if (m.write_config) {
    json cfg = {{"model_type", m.model_type},
                {"hidden_size", 384},
                {"num_hidden_layers", m.layers},
                {"num_attention_heads", 12},
                {"intermediate_size", 1536},
                {"vocab_size", m.vocab},
                {"layer_norm_eps", 1e-12}};
    if (m.model_type == "bert") {
      cfg["max_position_embeddings"] = 64;
      cfg["hidden_act"] = "gelu";
    } else {
      cfg["max_position_embeddings"] = 512;
      cfg["max_seq_length"] = 8192;
      if (!m.variant.empty()) cfg["lam_variant"] = m.variant;
    }
    if (m.edit_config) m.edit_config(cfg);
    WriteText(dir / "config.json", cfg.dump(2));
  }
  if (m.write_vocab) {
    std::string v;
    for (int i = 0; i < m.vocab_lines; ++i) v += "tok" + std::to_string(i) + "\n";
    WriteText(dir / "vocab.txt", v);
  }
  if (!m.write_weights) return dir;
  ModelWeights scratch;
  const auto specs = SpecsOf(m, &scratch);
  SafetensorsWriter w;
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorSpec& s = specs[i];
    if (m.drop.count(s.name) || (!s.dst && !m.with_unused)) continue;
    std::vector<int64_t> shape = m.reshape.count(s.name) ? m.reshape.at(s.name) : s.shape;
    size_t n = 1;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    std::vector<float> vals(n);
    for (size_t j = 0; j < n; ++j) vals[j] = Fill(i, j);
    const std::string name = m.rename.count(s.name) ? m.rename.at(s.name) : s.name;
    if (m.as_bf16.count(s.name)) {
      std::vector<uint16_t> half(n, 0x3f80);
      EXPECT_TRUE(w.Add(name, DType::kBF16, shape, std::as_bytes(std::span<const uint16_t>(half))).ok());
    } else {
      EXPECT_TRUE(w.AddF32(name, shape, vals).ok()) << name;
    }
  }
  for (const auto& [name, len] : m.extra) {
    std::vector<float> vals(static_cast<size_t>(len), 1.0f);
    EXPECT_TRUE(w.AddF32(name, {len}, vals).ok());
  }
  auto bytes = w.Serialize();
  bytes.resize(bytes.size() - m.truncate_bytes);
  std::ofstream out(dir / "model.safetensors", std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return dir;
}

class ModelLoaderTest : public ::testing::Test {
 protected:
  fs::path root_ = fs::path(LAM_TEST_DATA_DIR) / ("model_loader_test_" + std::to_string(::getpid()));
  void TearDown() override { fs::remove_all(root_); }

  Result<std::unique_ptr<LoadedModel>> Load(const TestModel& m, const std::string& name = "m") {
    return LoadModel(Write(root_ / name, m).string());
  }
  // Expects MODEL_INVALID (or `code`) with every needle in the message.
  void ExpectError(const TestModel& m, std::vector<std::string> needles,
                   lam_status code = LAM_STATUS_MODEL_INVALID) {
    auto r = Load(m);
    ASSERT_FALSE(r.ok()) << "loaded although it should fail with: " << needles[0];
    EXPECT_EQ(r.status().code(), code) << r.status().ToString();
    for (const auto& n : needles) {
      EXPECT_NE(r.status().message().find(n), std::string::npos)
          << "'" << n << "' not in: " << r.status().message();
    }
  }
};

// Index of the spec with this name in the table the model was written from.
size_t SpecIndex(const TestModel& m, const std::string& name) {
  ModelWeights scratch;
  const auto specs = SpecsOf(m, &scratch);
  for (size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].name == name) return i;
  }
  ADD_FAILURE() << "no spec " << name;
  return 0;
}

TEST_F(ModelLoaderTest, LoadsEachLamVariantWithPointersIntoTheMapping) {
  for (const char* v : {"f128", "r64t", "r32"}) {
    SCOPED_TRACE(v);
    TestModel m;
    m.variant = v;
    m.layers = 2;
    m.layout = std::string(v) == "r32" ? LamLayout::kR32 : LamLayout::kV1;
    auto r = Load(m, std::string("lam_") + v);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const LoadedModel& lm = *r.value();
    const ModelConfig& c = lm.weights().config;
    EXPECT_EQ(c.family, Family::kLam);
    EXPECT_STREQ(variant_name(c.variant), v);
    EXPECT_EQ(c.layers, 2);
    EXPECT_EQ(c.vocab_size, 120);
    EXPECT_EQ(c.max_tokens, 8192);
    EXPECT_EQ(c.position_table, 512);
    EXPECT_EQ(lm.name(), std::string("lam_") + v);
    EXPECT_EQ(lm.fingerprint().size(), 32u);
    ASSERT_EQ(lm.weights().lam_layers.size(), 2u);
    const LamLayerWeights& l1 = lm.weights().lam_layers[1];
    EXPECT_EQ(l1.q[7], Fill(SpecIndex(m, "deltanet_layers.1.q_proj.weight"), 7));
    EXPECT_EQ(l1.conv_v_w[3], Fill(SpecIndex(m, "deltanet_layers.1.v_conv1d.conv.weight"), 3));
    EXPECT_EQ(l1.ffn2_b[383],
              Fill(SpecIndex(m, "teacher_model.encoder.layer.1.output.dense.bias"), 383));
    EXPECT_EQ(lm.weights().word[384 * 5],
              Fill(SpecIndex(m, "teacher_model.embeddings.word_embeddings.weight"), 384 * 5));
    EXPECT_NE(l1.flux_w, nullptr);
    EXPECT_EQ(l1.flux_w_per_head, std::string(v) != "r32");
    EXPECT_EQ(l1.tflux_net1_w != nullptr, std::string(v) != "r32");
    EXPECT_NE(l1.onorm_w, nullptr);
    EXPECT_NE(l1.ln2_b, nullptr);
    EXPECT_TRUE(lm.weights().bert_layers.empty());
  }
}

TEST_F(ModelLoaderTest, MovingTheModelKeepsWeightPointersValid) {
  auto r = Load(TestModel{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const float* q = r.value()->weights().lam_layers[0].q;
  const float first = q[0];
  LoadedModel moved = std::move(*r.value());
  r.value().reset();
  EXPECT_EQ(moved.weights().lam_layers[0].q, q);
  EXPECT_EQ(moved.weights().lam_layers[0].q[0], first);
}

TEST_F(ModelLoaderTest, VariantIsInferredFromBilinearShapeWhenAbsent) {
  TestModel v1;
  v1.variant = "";
  auto a = Load(v1, "v1");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a.value()->weights().config.variant, Variant::kF128);
  TestModel r32;
  r32.variant = "";
  r32.layout = LamLayout::kR32;
  auto b = Load(r32, "r32");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b.value()->weights().config.variant, Variant::kR32);
  EXPECT_FALSE(b.value()->weights().lam_layers[0].flux_w_per_head);
}

TEST_F(ModelLoaderTest, VariantAndTensorsMustAgree) {
  TestModel r32_on_v1;
  r32_on_v1.variant = "r32";
  ExpectError(r32_on_v1, {"lam_variant r32 needs", "W_bilinear", "[12, 32, 32]"});

  TestModel r64t_on_r32;
  r64t_on_r32.variant = "r64t";
  r64t_on_r32.layout = LamLayout::kR32;
  ExpectError(r64t_on_r32, {"lam_variant r64t needs"});

  TestModel r64t_no_token_flux;
  r64t_no_token_flux.variant = "r64t";
  r64t_no_token_flux.drop = {"deltanet_layers.0.resonance_flux.token_flux_proj.0.weight"};
  ExpectError(r64t_no_token_flux, {"missing tensor 'deltanet_layers.0.resonance_flux.token_flux_proj.0.weight'"});

  TestModel odd_bilinear;
  odd_bilinear.reshape = {{"deltanet_layers.0.resonance_flux.W_bilinear", {12, 32, 16}}};
  ExpectError(odd_bilinear, {"W_bilinear has shape [12, 32, 16]"});
}

TEST_F(ModelLoaderTest, F128NeedsNoFluxTensorsButValidatesThoseItHas) {
  TestModel bare;
  for (const char* t : {"resonance_flux.W_bilinear", "resonance_flux.temp", "fast_decay_bias",
                        "resonance_flux.token_flux_proj.0.weight", "fast_decay_proj.weight"}) {
    bare.drop.insert(std::string("deltanet_layers.0.") + t);
  }
  auto r = Load(bare);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value()->weights().lam_layers[0].flux_w, nullptr);

  TestModel bad_temp;
  bad_temp.reshape = {{"deltanet_layers.0.resonance_flux.temp", {11}}};
  ExpectError(bad_temp, {"deltanet_layers.0.resonance_flux.temp has shape [11], expected [12]"});
}

TEST_F(ModelLoaderTest, RecurrentVariantsRequireDecayAndFluxTensors) {
  TestModel m;
  m.variant = "r32";
  m.layout = LamLayout::kR32;
  m.drop = {"deltanet_layers.0.slow_decay_bias"};
  ExpectError(m, {"missing tensor 'deltanet_layers.0.slow_decay_bias'"});
}

TEST_F(ModelLoaderTest, DuplicateKeysAreAcceptedWhenTeacherKeysAreAbsent) {
  TestModel m;
  m.rename = {
      {"teacher_model.encoder.layer.0.attention.output.LayerNorm.weight", "deltanet_norms.0.weight"},
      {"teacher_model.encoder.layer.0.intermediate.dense.weight", "deltanet_ffns.0.dense.weight"},
      {"teacher_model.encoder.layer.0.output.LayerNorm.bias", "ffn_norms.0.bias"},
      {"teacher_model.embeddings.word_embeddings.weight", "embeddings.word_embeddings.weight"},
  };
  auto r = Load(m);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& l = r.value()->weights().lam_layers[0];
  EXPECT_EQ(l.ln1_w[2], Fill(SpecIndex(m, "teacher_model.encoder.layer.0.attention.output.LayerNorm.weight"), 2));
  EXPECT_EQ(l.ffn1_w[9], Fill(SpecIndex(m, "teacher_model.encoder.layer.0.intermediate.dense.weight"), 9));
  EXPECT_EQ(l.ln2_b[1], Fill(SpecIndex(m, "teacher_model.encoder.layer.0.output.LayerNorm.bias"), 1));
}

TEST_F(ModelLoaderTest, MissingTensorNamesTheKeyAndItsAlternative) {
  TestModel m;
  m.drop = {"teacher_model.encoder.layer.0.output.LayerNorm.weight"};
  ExpectError(m, {"missing tensor 'teacher_model.encoder.layer.0.output.LayerNorm.weight'",
                  "'ffn_norms.0.weight'", "model.safetensors"});
}

TEST_F(ModelLoaderTest, WrongShapeAndDtypeAreNamed) {
  TestModel shape;
  shape.reshape = {{"deltanet_layers.0.q_conv1d.conv.weight", {384, 4}}};
  ExpectError(shape, {"deltanet_layers.0.q_conv1d.conv.weight has shape [384, 4], expected [384, 1, 4]"});
  TestModel bf16;
  bf16.as_bf16 = {"deltanet_layers.0.k_proj.weight"};
  ExpectError(bf16, {"tensor deltanet_layers.0.k_proj.weight has dtype BF16", "lam-convert"});
}

TEST_F(ModelLoaderTest, TruncatedOrCorruptSafetensorsIsRefused) {
  TestModel m;
  m.truncate_bytes = 1000;
  ExpectError(m, {"past the data region", "(file truncated?)"});
}

TEST_F(ModelLoaderTest, UnknownExtraTensorsAndUnusedTeacherTensorsAreIgnored) {
  TestModel m;
  m.with_unused = true;
  m.extra = {{"some.training.head.weight", 10}, {"deltanet_layers.0.rope.freqs", 16}};
  auto r = Load(m);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
}

TEST_F(ModelLoaderTest, BertLoadsWithBareOrPrefixedKeys) {
  for (const char* prefix : {"", "bert."}) {
    SCOPED_TRACE(prefix);
    TestModel m;
    m.model_type = "bert";
    m.variant = "";
    m.bert_prefix = prefix;
    m.layers = 2;
    auto r = Load(m);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const ModelWeights& w = r.value()->weights();
    EXPECT_EQ(w.config.family, Family::kBert);
    EXPECT_EQ(w.config.variant, Variant::kNone);
    EXPECT_EQ(w.config.max_tokens, 64);
    EXPECT_EQ(w.config.position_table, 64);
    ASSERT_EQ(w.bert_layers.size(), 2u);
    EXPECT_TRUE(w.lam_layers.empty());
    const std::string key = std::string(prefix) + "encoder.layer.1.attention.self.value.bias";
    EXPECT_EQ(w.bert_layers[1].v_b[5], Fill(SpecIndex(m, key), 5));
    EXPECT_NE(w.bert_layers[1].ln2_w, nullptr);
  }
}

TEST_F(ModelLoaderTest, BertRejectsTanhGelu) {
  TestModel m;
  m.model_type = "bert";
  m.edit_config = [](json& c) { c["hidden_act"] = "gelu_new"; };
  ExpectError(m, {"config.json", "hidden_act"});
}

TEST_F(ModelLoaderTest, ConfigErrorsNameTheField) {
  struct Case {
    std::function<void(json&)> edit;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {[](json& c) { c.erase("model_type"); }, "model_type"},
      {[](json& c) { c["model_type"] = "roberta"; }, "model_type 'roberta' is not supported"},
      {[](json& c) { c["hidden_size"] = 768; }, "field 'hidden_size' is 768"},
      {[](json& c) { c["num_attention_heads"] = 6; }, "num_attention_heads"},
      {[](json& c) { c["intermediate_size"] = 3072; }, "intermediate_size"},
      {[](json& c) { c["num_hidden_layers"] = 0; }, "num_hidden_layers' is 0"},
      {[](json& c) { c["num_hidden_layers"] = "six"; }, "num_hidden_layers' must be an integer"},
      {[](json& c) { c.erase("vocab_size"); }, "missing required field 'vocab_size'"},
      {[](json& c) { c["lam_variant"] = "f256"; }, "unknown lam_variant 'f256'"},
      {[](json& c) { c["lam_variant"] = 3; }, "lam_variant' must be a string"},
      {[](json& c) { c["layer_norm_eps"] = -1; }, "layer_norm_eps"},
      // Positive as a double, 0 in float32 (found by model_config_fuzz).
      {[](json& c) { c["layer_norm_eps"] = 1e-300; }, "field 'layer_norm_eps' is 1e-300"},
      {[](json& c) { c["max_seq_length"] = 100000; }, "max_seq_length"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.needle);
    TestModel m;
    m.edit_config = c.edit;
    ExpectError(m, {"config.json", c.needle});
  }
}

TEST_F(ModelLoaderTest, ParseModelConfigRejectsNonJson) {
  auto r = ParseModelConfig("{not json");
  EXPECT_EQ(r.status().code(), LAM_STATUS_MODEL_INVALID);
  EXPECT_NE(r.status().message().find("not valid JSON"), std::string::npos);
  EXPECT_EQ(ParseModelConfig("[]").status().code(), LAM_STATUS_MODEL_INVALID);
}

// Error messages used to quote a bad value with nlohmann's dump(), which recurses once per
// nesting level: a config.json value nested 300000 levels deep (600 KB, under the 1 MiB cap)
// overflowed the stack instead of being refused.
TEST_F(ModelLoaderTest, DeeplyNestedConfigValueIsRefusedWithoutRecursing) {
  const std::string deep = std::string(300000, '[') + std::string(300000, ']');
  const std::string arch =
      R"({"model_type":"lam","hidden_size":384,"num_attention_heads":12,"intermediate_size":1536,)";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"model_type":"lam","hidden_size":)" + deep + "}", "field 'hidden_size' is an array"},
      {arch + R"("num_hidden_layers":)" + deep + "}", "num_hidden_layers' must be an integer, got an array"},
      {arch + R"("num_hidden_layers":6,"vocab_size":10,"layer_norm_eps":)" + deep + "}", "layer_norm_eps"},
      {arch + R"("num_hidden_layers":6,"vocab_size":10,"lam_variant":)" + deep + "}", "lam_variant' must be a string"},
  };
  for (const auto& [text, needle] : cases) {
    SCOPED_TRACE(needle);
    auto r = ParseModelConfig(text);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), LAM_STATUS_MODEL_INVALID);
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
    EXPECT_LT(r.status().message().size(), 512u);
  }
}

TEST_F(ModelLoaderTest, MissingFilesAreReportedByName) {
  auto none = LoadModel((root_ / "does_not_exist").string());
  EXPECT_EQ(none.status().code(), LAM_STATUS_NOT_FOUND);
  EXPECT_NE(none.status().message().find("does_not_exist"), std::string::npos);
  TestModel no_cfg;
  no_cfg.write_config = false;
  ExpectError(no_cfg, {"has no config.json"});
  TestModel no_vocab;
  no_vocab.write_vocab = false;
  ExpectError(no_vocab, {"has no vocab.txt"});
  TestModel no_weights;
  no_weights.write_weights = false;
  ExpectError(no_weights, {"has no model.safetensors"});
}

TEST_F(ModelLoaderTest, VocabLargerThanTheEmbeddingTableIsRefused) {
  TestModel m;
  m.vocab_lines = 121;
  ExpectError(m, {"vocab.txt has 121 tokens", "vocab_size is 120"});
}

TEST_F(ModelLoaderTest, FingerprintIsXxh3OfConfigThenWeightsAndTracksContent) {
  TestModel m;
  const fs::path dir = Write(root_ / "fp", m);
  auto a = LoadModel(dir.string());
  ASSERT_TRUE(a.ok());
  auto b = LoadModel(dir.string() + "/");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a.value()->fingerprint(), b.value()->fingerprint());
  EXPECT_EQ(b.value()->name(), "fp");

  // Independent computation over the concatenated bytes.
  auto slurp = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string all = slurp(dir / "config.json") + slurp(dir / "model.safetensors");
  const XXH128_hash_t h = XXH3_128bits(all.data(), all.size());
  char hex[33];
  std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  EXPECT_EQ(a.value()->fingerprint(), hex);

  TestModel m2 = m;
  m2.edit_config = [](json& c) { c["layer_norm_eps"] = 1e-6; };
  auto c = Load(m2, "fp2");
  ASSERT_TRUE(c.ok());
  EXPECT_NE(c.value()->fingerprint(), a.value()->fingerprint());
}

}  // namespace
}  // namespace lam::engine
