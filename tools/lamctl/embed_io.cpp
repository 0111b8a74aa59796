// SPDX-License-Identifier: MIT
#include "embed_io.h"

#include <cstdio>
#include <iostream>
#include <limits>

#include <nlohmann/json.hpp>

namespace lam::ctl {
namespace {

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

Status Flush(Embedder& e, std::vector<std::vector<int32_t>>& pending, std::vector<float>& buf) {
  if (pending.empty()) return Status::Ok();
  buf.resize(pending.size() * static_cast<size_t>(e.dim()));
  LAM_RETURN_IF_ERROR(e.EmbedTokens(pending, buf.data()));
  WriteRows(buf.data(), pending.size(), e.dim());
  pending.clear();
  return Status::Ok();
}

// Embeds and prints the pending text lines (the first is line `first_line`). If the batch
// fails, retries line by line so that every line before the bad one is printed and the error
// names the bad line (`*bad_line`).
Status FlushText(Embedder& e, std::vector<std::string>& pending, size_t first_line, std::vector<float>& buf,
                 size_t* bad_line) {
  if (pending.empty()) return Status::Ok();
  const int dim = e.dim();
  buf.resize(pending.size() * static_cast<size_t>(dim));
  Status st = e.EmbedTexts(pending, buf.data());
  if (st.ok()) {
    WriteRows(buf.data(), pending.size(), dim);
    pending.clear();
    return Status::Ok();
  }
  for (size_t i = 0; i < pending.size(); ++i) {
    st = e.EmbedTexts(std::span<const std::string>(&pending[i], 1), buf.data());
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

int Fail(size_t line, const Status& st) {
  std::fprintf(stderr, "lamctl embed: line %zu: %s: %s\n", line, status_code_name(st.code()), st.message().c_str());
  return 1;
}

int RunText(Embedder& e, size_t batch_lines) {
  std::vector<std::string> pending;
  std::vector<float> buf;
  std::string line;
  size_t line_no = 0;
  size_t bad_line = 0;
  while (std::getline(std::cin, line)) {
    ++line_no;
    pending.push_back(line);
    if (pending.size() >= batch_lines) {
      if (Status st = FlushText(e, pending, line_no + 1 - pending.size(), buf, &bad_line); !st.ok()) {
        return Fail(bad_line, st);
      }
    }
  }
  if (Status st = FlushText(e, pending, line_no + 1 - pending.size(), buf, &bad_line); !st.ok()) {
    return Fail(bad_line, st);
  }
  return 0;
}

}  // namespace

int RunEmbedLoop(Embedder& e, bool text, size_t batch_lines) {
  if (text) return RunText(e, batch_lines);
  std::vector<std::vector<int32_t>> pending;
  std::vector<float> buf;
  std::vector<int32_t> ids;
  std::string line;
  size_t line_no = 0;
  while (std::getline(std::cin, line)) {
    ++line_no;
    Status st = ParseLine(line, &ids);
    // Validate alone so that an error names this line, not a position in a batch.
    if (st.ok()) st = e.Validate(ids);
    if (!st.ok()) {
      Status flushed = Flush(e, pending, buf);
      if (!flushed.ok()) return Fail(line_no - pending.size(), flushed);
      return Fail(line_no, st);
    }
    pending.push_back(ids);
    if (pending.size() >= batch_lines) {
      Status flushed = Flush(e, pending, buf);
      if (!flushed.ok()) return Fail(line_no, flushed);
    }
  }
  Status flushed = Flush(e, pending, buf);
  if (!flushed.ok()) return Fail(line_no, flushed);
  return 0;
}

}  // namespace lam::ctl
