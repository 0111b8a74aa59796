// SPDX-License-Identifier: MIT
// lam-bench-http's socket-free parts: arguments, the OpenAI response parser and cosine check that
// gate the peer comparison, and the summary (medians, rotated order, per-repetition ratios).
#include "../../tools/lam-bench/bench_http_stats.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace lam::bench_http {
namespace {

bool Parse(std::vector<const char*> args, Options* o, std::string* error) {
  args.insert(args.begin(), "lam-bench-http");
  return ParseArgs(static_cast<int>(args.size()), args.data(), o, error);
}

TEST(BenchHttpArgs, ParsesEveryOption) {
  Options o;
  std::string error;
  ASSERT_TRUE(Parse({"--socket", "/tmp/s", "--http", "127.0.0.1:1", "--peer", "127.0.0.1:2", "--peer-name", "infinity",
                     "--peer-model", "m", "--texts", "1,32", "--conns", "1,16,64", "--seconds", "8", "--warmup", "2",
                     "--max-seconds", "40", "--reps", "3", "--check-texts", "4", "--min-cosine", "0.999"},
                    &o, &error))
      << error;
  EXPECT_EQ(o.socket_path, "/tmp/s");
  EXPECT_EQ(o.http, "127.0.0.1:1");
  EXPECT_EQ(o.peer, "127.0.0.1:2");
  EXPECT_EQ(o.peer_name, "infinity");
  EXPECT_EQ(o.peer_model, "m");
  EXPECT_EQ(o.texts, (std::vector<int>{1, 32}));
  EXPECT_EQ(o.conns, (std::vector<int>{1, 16, 64}));
  EXPECT_DOUBLE_EQ(o.seconds, 8);
  EXPECT_DOUBLE_EQ(o.warmup, 2);
  EXPECT_DOUBLE_EQ(o.max_seconds, 40);
  EXPECT_EQ(o.reps, 3);
  EXPECT_EQ(o.check_texts, 4);
  EXPECT_DOUBLE_EQ(o.min_cosine, 0.999);
}

TEST(BenchHttpArgs, RejectsBadValues) {
  const std::vector<std::vector<const char*>> bad = {
      {"--http", "127.0.0.1:1"},                                         // no --socket
      {"--socket", "s", "--http", "h", "--conns", "1,x"},                 // not a number
      {"--socket", "s", "--http", "h", "--conns", "0"},                   // not positive
      {"--socket", "s", "--http", "h", "--texts", ""},                    // empty list
      {"--socket", "s", "--http", "h", "--texts", "1,,2"},                // empty item
      {"--socket", "s", "--http", "h", "--reps", "1.5"},                  // not whole
      {"--socket", "s", "--http", "h", "--reps", "0"},                    // below 1
      {"--socket", "s", "--http", "h", "--seconds", "5s"},                // trailing junk
      {"--socket", "s", "--http", "h", "--min-cosine", "2"},              // out of range
      {"--socket", "s", "--http", "h", "--seconds", "60", "--max-seconds", "30"},
      {"--socket", "s", "--http", "h", "--frobnicate", "1"},              // unknown
      {"--socket", "s", "--http"},                                        // value missing
  };
  for (const auto& args : bad) {
    Options o;
    std::string error;
    EXPECT_FALSE(Parse(args, &o, &error)) << args.back();
    EXPECT_FALSE(error.empty());
  }
}

TEST(BenchHttpEmbeddings, ParsesInIndexOrder) {
  std::vector<std::vector<float>> v;
  std::string error;
  ASSERT_TRUE(ParseOpenAIEmbeddings(
      R"({"object":"list","model":"m","data":[{"object":"embedding","index":1,"embedding":[0,1]},)"
      R"({"object":"embedding","index":0,"embedding":[1.5,-2e-3]}],"usage":{"prompt_tokens":3,"total_tokens":3}})",
      &v, &error))
      << error;
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0], (std::vector<float>{1.5f, -2e-3f}));
  EXPECT_EQ(v[1], (std::vector<float>{0, 1}));
}

TEST(BenchHttpEmbeddings, RejectsWhatIsNotAnAnswer) {
  const std::vector<std::string> bad = {
      "not json",
      R"({"detail":"Not Found"})",
      R"({"data":[{"embedding":[1]}]})",                                     // no index
      R"({"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]})",  // index twice
      R"({"data":[{"index":2,"embedding":[1]}]})",                           // index out of range
      R"({"data":[{"index":0,"embedding":"AAAAAA=="}]})",                    // base64, not floats
      R"({"data":[{"index":0,"embedding":[1,"x"]}]})",
  };
  for (const std::string& body : bad) {
    std::vector<std::vector<float>> v;
    std::string error;
    EXPECT_FALSE(ParseOpenAIEmbeddings(body, &v, &error)) << body;
    EXPECT_FALSE(error.empty());
  }
}

TEST(BenchHttpEmbeddings, CosineComparesDirectionOnly) {
  EXPECT_DOUBLE_EQ(Cosine({1, 2, 3}, {2, 4, 6}), 1.0);
  EXPECT_NEAR(Cosine({1, 0}, {0, 1}), 0.0, 1e-12);
  EXPECT_NEAR(Cosine({1, 0}, {-1, 0}), -1.0, 1e-12);
  EXPECT_EQ(Cosine({1, 2}, {1, 2, 3}), 0.0);  // sizes differ
  EXPECT_EQ(Cosine({0, 0}, {1, 2}), 0.0);     // zero vector
  // The lowest over the texts decides, and a different count never passes.
  EXPECT_NEAR(MinCosine({{1, 0}, {1, 1}}, {{1, 0}, {1, 0}}), 0.70710678, 1e-8);
  EXPECT_EQ(MinCosine({{1, 0}}, {{1, 0}, {1, 0}}), -2.0);
  EXPECT_EQ(MinCosine({}, {}), -2.0);
}

TEST(BenchHttpSummary, PercentileMedianAndOrder) {
  EXPECT_EQ(Percentile({}, 0.5), 0.0);
  EXPECT_EQ(Percentile({3, 1, 2}, 0.5), 2.0);
  EXPECT_EQ(Percentile({5, 1, 4, 2, 3}, 0.99), 5.0);
  EXPECT_EQ(Median({}), 0.0);
  EXPECT_EQ(Median({3, 1, 2}), 2.0);
  EXPECT_EQ(Median({4, 1, 2, 3}), 2.5);
  EXPECT_EQ(RotatedOrder(3, 0), (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(RotatedOrder(3, 1), (std::vector<size_t>{1, 2, 0}));
  EXPECT_EQ(RotatedOrder(3, 5), (std::vector<size_t>{2, 0, 1}));
}

Measurement M(const std::string& target, int texts, int conns, int rep, uint64_t requests, double p50) {
  Measurement m;
  m.target = target;
  m.texts = texts;
  m.conns = conns;
  m.rep = rep;
  m.seconds = 10;
  m.requests = requests;
  m.p50_ms = p50;
  return m;
}

TEST(BenchHttpSummary, RatiosPairMeasurementsOfTheSameRepetition) {
  const std::vector<Measurement> all = {
      M("lamd http", 1, 64, 0, 400, 10), M("peer", 1, 64, 0, 100, 50),   // 4x, 5x
      M("peer", 1, 64, 1, 200, 20), M("lamd http", 1, 64, 1, 300, 10),   // 1.5x, 2x
      M("lamd http", 1, 64, 2, 300, 10),                                 // no peer: left out
      M("lamd http", 1, 64, 3, 300, 10), M("peer", 1, 64, 3, 0, 0),      // peer did nothing
      M("lamd http", 32, 64, 0, 1, 1), M("peer", 32, 64, 0, 1, 1),       // another cell
  };
  const Ratios r = CellRatios(all, "lamd http", "peer", 1, 64);
  EXPECT_EQ(r.throughput, (std::vector<double>{4.0, 1.5}));
  EXPECT_EQ(r.p50, (std::vector<double>{5.0, 2.0}));
  EXPECT_TRUE(CellRatios(all, "lamd http", "peer", 1, 16).throughput.empty());
  EXPECT_DOUBLE_EQ(all[0].rps(), 40.0);
}

}  // namespace
}  // namespace lam::bench_http
