// SPDX-License-Identifier: MIT
// lam-bench-text: the lamd side of tools/lam-bench/onnx/compare.py. Tokenises a text file (one
// sentence per line) with lamd's WordPiece tokenizer, then serves timing commands on stdin so
// that the Python driver can interleave it with ONNX Runtime in one run; only the embedding
// calls are timed (process start, model load and warm-up are not).
//
//   lam-bench-text --texts FILE --model DIR [--threads N]   in-process engine (CPU backend)
//   lam-bench-text --texts FILE --model DIR --socket PATH   through a running lamd (liblamclient;
//                                                           --model only for the tokenizer)
// Commands (one per line; each answer ends with a line "end"):
//   ids            the token ids of every text, one text per line, space-separated
//   bench B        one pass over all texts in consecutive batches of B: "ns <t>" per call
//   embed B PATH   all embeddings (batches of B) as raw little-endian float32 [n, dim] to PATH
//   quit
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "lam/lam.h"
#include "tokenizer/wordpiece.h"

namespace {

using Clock = std::chrono::steady_clock;

// One way of embedding a batch of ragged sequences: the in-process engine or lamd.
class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual int dim() const = 0;
  // Embeds seqs[begin, end) into out; false (after printing why) on error.
  virtual bool Embed(const std::vector<std::vector<int32_t>>& seqs, size_t begin, size_t end,
                     float* out) = 0;
};

class EngineEmbedder final : public Embedder {
 public:
  explicit EngineEmbedder(std::unique_ptr<lam::engine::Engine> e) : engine_(std::move(e)) {}
  int dim() const override { return engine_->info().embedding_dim; }
  bool Embed(const std::vector<std::vector<int32_t>>& seqs, size_t begin, size_t end,
             float* out) override {
    spans_.clear();
    for (size_t i = begin; i < end; ++i) spans_.push_back({seqs[i].data(), seqs[i].size()});
    const lam::Status s = engine_->Embed(spans_, out);
    if (!s.ok()) std::fprintf(stderr, "lam-bench-text: engine: %s\n", s.ToString().c_str());
    return s.ok();
  }

 private:
  std::unique_ptr<lam::engine::Engine> engine_;
  std::vector<lam::engine::TokenSpan> spans_;
};

class LamdEmbedder final : public Embedder {
 public:
  LamdEmbedder(lam_client* c, int dim) : client_(c), dim_(dim) {}
  ~LamdEmbedder() override { lam_client_close(client_); }
  int dim() const override { return dim_; }
  bool Embed(const std::vector<std::vector<int32_t>>& seqs, size_t begin, size_t end,
             float* out) override {
    ids_.clear();
    lengths_.clear();
    for (size_t i = begin; i < end; ++i) {
      ids_.insert(ids_.end(), seqs[i].begin(), seqs[i].end());
      lengths_.push_back(static_cast<uint32_t>(seqs[i].size()));
    }
    lam_embed_tokens_request req = LAM_EMBED_TOKENS_REQUEST_INIT;
    req.token_ids = ids_.data();
    req.lengths = lengths_.data();
    req.n_sequences = lengths_.size();
    size_t n = 0;
    const lam_status rc =
        lam_client_embed_tokens(client_, &req, out, lengths_.size() * static_cast<size_t>(dim_), &n);
    if (rc != LAM_STATUS_OK || n != lengths_.size() * static_cast<size_t>(dim_)) {  // n counts floats
      std::fprintf(stderr, "lam-bench-text: lamd: status %d: %s\n", static_cast<int>(rc),
                   lam_client_last_error(client_));
      return false;
    }
    return true;
  }

 private:
  lam_client* client_;
  int dim_;
  std::vector<int32_t> ids_;
  std::vector<uint32_t> lengths_;
};

int Usage() {
  std::fprintf(stderr,
               "usage: lam-bench-text --texts FILE --model DIR [--threads N] [--socket PATH]\n"
               "  then commands on stdin: ids | bench B | embed B PATH | quit\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string texts_path, model_dir, socket_path;
  int threads = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return Usage();
    if (a == "--texts") {
      texts_path = argv[++i];
    } else if (a == "--model") {
      model_dir = argv[++i];
    } else if (a == "--socket") {
      socket_path = argv[++i];
    } else if (a == "--threads") {
      threads = std::atoi(argv[++i]);
    } else {
      return Usage();
    }
  }
  if (texts_path.empty() || model_dir.empty()) return Usage();

  auto tok = lam::tokenizer::WordPieceTokenizer::LoadFromModelDir(model_dir);
  if (!tok.ok()) {
    std::fprintf(stderr, "lam-bench-text: tokenizer: %s\n", tok.status().ToString().c_str());
    return 1;
  }
  std::ifstream in(texts_path);
  if (!in) {
    std::fprintf(stderr, "lam-bench-text: cannot read %s\n", texts_path.c_str());
    return 1;
  }
  std::vector<std::vector<int32_t>> seqs;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto ids = tok->Encode(line);
    if (!ids.ok()) {
      std::fprintf(stderr, "lam-bench-text: line %zu: %s\n", seqs.size() + 1,
                   ids.status().ToString().c_str());
      return 1;
    }
    seqs.push_back(std::move(ids.value()));
  }
  if (seqs.empty()) {
    std::fprintf(stderr, "lam-bench-text: %s has no texts\n", texts_path.c_str());
    return 1;
  }

  std::unique_ptr<Embedder> embedder;
  if (socket_path.empty()) {
    lam::engine::EngineOptions eo;
    eo.threads = threads;
    auto engine = lam::engine::Engine::Open(model_dir, eo);
    if (!engine.ok()) {
      std::fprintf(stderr, "lam-bench-text: %s: %s\n", model_dir.c_str(),
                   engine.status().ToString().c_str());
      return 1;
    }
    const lam::Status warm = engine.value()->CompileAll();
    if (!warm.ok()) {
      std::fprintf(stderr, "lam-bench-text: warm-up: %s\n", warm.ToString().c_str());
      return 1;
    }
    embedder = std::make_unique<EngineEmbedder>(std::move(engine.value()));
  } else {
    lam_client_options o = LAM_CLIENT_OPTIONS_INIT;
    o.socket_path = socket_path.c_str();
    o.arena_bytes = 64u << 20;
    lam_client* c = nullptr;
    if (lam_client_open(&o, &c) != LAM_STATUS_OK) {
      std::fprintf(stderr, "lam-bench-text: connect %s: %s\n", socket_path.c_str(),
                   lam_client_last_error(c));
      lam_client_close(c);
      return 1;
    }
    lam_model_info info = LAM_MODEL_INFO_INIT;
    if (lam_client_get_model_info(c, &info) != LAM_STATUS_OK) {
      std::fprintf(stderr, "lam-bench-text: model info: %s\n", lam_client_last_error(c));
      lam_client_close(c);
      return 1;
    }
    embedder = std::make_unique<LamdEmbedder>(c, static_cast<int>(info.embedding_dim));
  }
  std::printf("ready %zu %d\n", seqs.size(), embedder->dim());
  std::fflush(stdout);

  std::vector<float> out;
  for (std::string line; std::getline(std::cin, line);) {
    std::istringstream cmd(line);
    std::string op;
    cmd >> op;
    size_t batch = 0;
    if (op == "quit") break;
    if (op == "ids") {
      for (const auto& s : seqs) {
        for (size_t j = 0; j < s.size(); ++j) std::printf(j ? " %d" : "%d", s[j]);
        std::printf("\n");
      }
    } else if ((op == "bench" || op == "embed") && (cmd >> batch) && batch > 0) {
      out.assign(seqs.size() * static_cast<size_t>(embedder->dim()), 0.0f);
      std::vector<long long> ns;
      for (size_t b = 0; b < seqs.size(); b += batch) {
        const size_t e = std::min(seqs.size(), b + batch);
        const auto t0 = Clock::now();
        if (!embedder->Embed(seqs, b, e, out.data() + b * static_cast<size_t>(embedder->dim()))) {
          return 1;
        }
        ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
      }
      if (op == "bench") {
        for (long long t : ns) std::printf("ns %lld\n", t);
      } else {
        std::string path;
        cmd >> path;
        std::ofstream f(path, std::ios::binary);
        f.write(reinterpret_cast<const char*>(out.data()),
                static_cast<std::streamsize>(out.size() * sizeof(float)));
        if (!f) {
          std::fprintf(stderr, "lam-bench-text: cannot write %s\n", path.c_str());
          return 1;
        }
      }
    } else {
      std::printf("error unknown command '%s'\n", line.c_str());
    }
    std::printf("end\n");
    std::fflush(stdout);
  }
  return 0;
}
