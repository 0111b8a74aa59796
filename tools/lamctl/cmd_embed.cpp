// SPDX-License-Identifier: MIT
// lamctl embed --model DIR: JSON lines of token ids on stdin ("[101, 2023, 102]"), one JSON
// array of 384 floats per line on stdout, computed in-process. Lines are batched for speed;
// output order is input order. The first bad line stops the run: everything before it has been
// written and flushed, the error (line number + status name) goes to stderr, exit status 1.
// With --text each line is UTF-8 text instead: tokenised in-process (--model, the model's
// vocab.txt) or by lamd (--socket, lam_client_embed_text); both print the same bytes.
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "daemon_engine.h"
#include "engine/engine.h"
#include "tokenizer/sentence_config.h"

namespace lam::ctl {
namespace {

void EmbedUsage(FILE* f) {
  std::fprintf(f,
               "usage: lamctl embed --model DIR [--text] [--threads N] [--batch N] [--backend cpu|auto|cuda]\n"
               "       lamctl embed --socket PATH [--text] [--batch N]   (computed by a running lamd)\n"
               "  reads one JSON array of token ids per line on stdin (ids include [CLS] and [SEP]),\n"
               "  writes one JSON array of floats (the L2-normalised embedding) per line on stdout.\n"
               "  --text      each input line is UTF-8 text instead, tokenised with the model's\n"
               "              vocab.txt and truncated to the model maximum (in-process or by lamd)\n"
               "  --batch N   lines computed together (default 64); does not change any result\n");
}

// Parses one input line into ids, or returns a status describing why it is not a token list.
Status ParseLine(const std::string& line, std::vector<int32_t>* ids) {
  const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status(LAM_STATUS_INVALID_ARG, "not valid JSON");
  if (!j.is_array()) return Status(LAM_STATUS_INVALID_ARG, "expected a JSON array of token ids");
  ids->clear();
  ids->reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& v = j[i];
    if (!v.is_number_integer()) {
      return Status(LAM_STATUS_INVALID_ARG, "element " + std::to_string(i) + " is not an integer token id");
    }
    if (v.is_number_unsigned() ? v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())
                               : (v.get<int64_t>() < std::numeric_limits<int32_t>::min() ||
                                  v.get<int64_t>() > std::numeric_limits<int32_t>::max())) {
      return Status(LAM_STATUS_TOKEN_OUT_OF_RANGE,
                    "token id " + v.dump() + " at position " + std::to_string(i) + " is out of range");
    }
    ids->push_back(static_cast<int32_t>(v.get<int64_t>()));
  }
  return Status::Ok();
}

// Prints n rows of dim floats as JSON arrays, one per line, and flushes stdout.
void WriteRows(const float* rows, size_t n, int dim) {
  std::string out;
  char num[32];
  for (size_t i = 0; i < n; ++i) {
    out.push_back('[');
    for (int d = 0; d < dim; ++d) {
      const int len = std::snprintf(num, sizeof(num), "%.9g", static_cast<double>(rows[i * dim + d]));
      if (d > 0) out.push_back(',');
      out.append(num, static_cast<size_t>(len));
    }
    out.append("]\n");
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
}

Status Flush(engine::Engine& eng, std::vector<std::vector<int32_t>>& pending, std::vector<float>& buf) {
  if (pending.empty()) return Status::Ok();
  std::vector<engine::TokenSpan> batch;
  batch.reserve(pending.size());
  for (const auto& p : pending) batch.push_back({p.data(), p.size()});
  buf.resize(pending.size() * static_cast<size_t>(eng.info().embedding_dim));
  LAM_RETURN_IF_ERROR(eng.Embed(batch, buf.data()));
  WriteRows(buf.data(), pending.size(), eng.info().embedding_dim);
  pending.clear();
  return Status::Ok();
}

// Embeds texts.size() texts into `out` (rows of embedding_dim floats).
using TextEmbedFn = std::function<Status(std::span<const std::string> texts, float* out)>;

// Embeds and prints the pending text lines (the first is line `first_line`). If the batch
// fails, retries line by line so that every line before the bad one is printed and the error
// names the bad line (`*bad_line`).
Status FlushText(const TextEmbedFn& embed, int dim, std::vector<std::string>& pending, size_t first_line,
                 std::vector<float>& buf, size_t* bad_line) {
  if (pending.empty()) return Status::Ok();
  buf.resize(pending.size() * static_cast<size_t>(dim));
  Status st = embed(pending, buf.data());
  if (st.ok()) {
    WriteRows(buf.data(), pending.size(), dim);
    pending.clear();
    return Status::Ok();
  }
  for (size_t i = 0; i < pending.size(); ++i) {
    st = embed(std::span<const std::string>(&pending[i], 1), buf.data());
    if (!st.ok()) {
      *bad_line = first_line + i;
      return st;
    }
    WriteRows(buf.data(), 1, dim);
  }
  // The batch failed but every line alone succeeded (e.g. OVERLOADED): report the batch.
  *bad_line = first_line;
  return st;
}

int RunText(engine::Engine& eng, const std::string& model_dir, size_t batch_lines) {
  const int dim = eng.info().embedding_dim;
  TextEmbedFn embed;
  std::optional<tokenizer::TextFrontEnd> tok;
  if (model_dir.empty()) {
    embed = [&eng](std::span<const std::string> texts, float* out) { return DaemonEmbedTexts(eng, texts, out); };
  } else {
    // The tokenizer and truncation lamd applies (sentence-transformers' max_seq_length and
    // lower-casing when the directory has them), [SEP] kept last.
    auto loaded = tokenizer::LoadTextFrontEnd(model_dir, static_cast<size_t>(eng.info().config.max_tokens));
    if (!loaded.ok()) {
      std::fprintf(stderr, "lamctl embed: --text needs the model's vocab.txt: %s\n",
                   loaded.status().ToString().c_str());
      return 1;
    }
    tok.emplace(std::move(loaded).value());
    embed = [&eng, &tok](std::span<const std::string> texts, float* out) -> Status {
      std::vector<std::vector<int32_t>> ids(texts.size());
      std::vector<engine::TokenSpan> spans(texts.size());
      for (size_t i = 0; i < texts.size(); ++i) {
        LAM_ASSIGN_OR_RETURN(ids[i], tok->tokenizer.Encode(texts[i], tok->max_tokens));
        spans[i] = {ids[i].data(), ids[i].size()};
      }
      return eng.Embed(spans, out);
    };
  }
  std::vector<std::string> pending;
  std::vector<float> buf;
  std::string line;
  size_t line_no = 0;
  size_t bad_line = 0;
  auto fail = [&](const Status& st) {
    std::fprintf(stderr, "lamctl embed: line %zu: %s: %s\n", bad_line, status_code_name(st.code()),
                 st.message().c_str());
    return 1;
  };
  while (std::getline(std::cin, line)) {
    ++line_no;
    pending.push_back(line);
    if (pending.size() >= batch_lines) {
      if (Status st = FlushText(embed, dim, pending, line_no + 1 - pending.size(), buf, &bad_line); !st.ok()) {
        return fail(st);
      }
    }
  }
  if (Status st = FlushText(embed, dim, pending, line_no + 1 - pending.size(), buf, &bad_line); !st.ok()) {
    return fail(st);
  }
  return 0;
}

}  // namespace


int CmdEmbed(int argc, char** argv) {
  std::string model_dir, socket;
  engine::EngineOptions opt;
  size_t batch_lines = 64;
  bool text = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      EmbedUsage(stdout);
      return 0;
    }
    if (a == "--text") {
      text = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "lamctl embed: unknown or incomplete option '%s'\n", a.c_str());
      EmbedUsage(stderr);
      return 2;
    }
    const std::string v = argv[++i];
    if (a == "--model") {
      model_dir = v;
    } else if (a == "--socket") {
      socket = v;
    } else if (a == "--backend") {
      opt.backend = v;
    } else if (a == "--threads" || a == "--batch") {
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (end == v.c_str() || *end != '\0' || n < (a == "--batch" ? 1 : 0) || n > 4096) {
        std::fprintf(stderr, "lamctl embed: %s expects a small non-negative integer, got '%s'\n", a.c_str(), v.c_str());
        return 2;
      }
      if (a == "--threads") opt.threads = static_cast<int>(n);
      else batch_lines = static_cast<size_t>(n);
    } else {
      std::fprintf(stderr, "lamctl embed: unknown option '%s'\n", a.c_str());
      EmbedUsage(stderr);
      return 2;
    }
  }
  if (model_dir.empty() == socket.empty()) {
    std::fprintf(stderr, "lamctl embed: exactly one of --model DIR and --socket PATH is required\n");
    EmbedUsage(stderr);
    return 2;
  }
  auto opened = socket.empty() ? engine::Engine::Open(model_dir, opt) : OpenDaemonEngine(socket);
  if (!opened.ok()) {
    std::fprintf(stderr, "lamctl embed: cannot open model '%s': %s\n", socket.empty() ? model_dir.c_str() : socket.c_str(),
                 opened.status().ToString().c_str());
    return 1;
  }
  engine::Engine& eng = **opened;
  if (text) return RunText(eng, model_dir, batch_lines);

  std::vector<std::vector<int32_t>> pending;
  std::vector<float> buf;
  std::vector<int32_t> ids;
  std::string line;
  size_t line_no = 0;
  auto fail = [&](size_t at, const Status& st) {
    std::fprintf(stderr, "lamctl embed: line %zu: %s: %s\n", at, status_code_name(st.code()), st.message().c_str());
    return 1;
  };
  while (std::getline(std::cin, line)) {
    ++line_no;
    Status st = ParseLine(line, &ids);
    if (st.ok()) {
      // Validate alone so that an error names this line, not a position in a batch.
      engine::TokenSpan sp{ids.data(), ids.size()};
      st = eng.Validate({&sp, 1});
    }
    if (!st.ok()) {
      Status flushed = Flush(eng, pending, buf);
      if (!flushed.ok()) return fail(line_no - pending.size(), flushed);
      return fail(line_no, st);
    }
    pending.push_back(ids);
    if (pending.size() >= batch_lines) {
      Status flushed = Flush(eng, pending, buf);
      if (!flushed.ok()) return fail(line_no, flushed);
    }
  }
  Status flushed = Flush(eng, pending, buf);
  if (!flushed.ok()) return fail(line_no, flushed);
  return 0;
}

}  // namespace lam::ctl
