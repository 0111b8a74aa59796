// SPDX-License-Identifier: MIT
// Thread placement: oneDNN's OpenMP runtime never starts its own team inside our TBB workers, so
// the process's thread count during a big run stays at TBB's concurrency plus a small constant.
#include <gtest/gtest.h>

#include <dirent.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <memory>
#include <thread>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_exec_common.h"
#include "engine/synthetic_model.h"

namespace lam::cpu {
namespace {

int ProcessThreads() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    closedir(d);
  }
  return n;
}

TEST(CpuThreadingTest, OpenMpIsSingleThreadedInsideWorkersAndNoExtraTeamsAppear) {
  const int before = ProcessThreads();
  engine::SyntheticModel model(engine::Variant::kR32, 21, /*layers=*/2, 1000);
  CpuBackendOptions opt;
  opt.threads = 4;  // more than the cores here: an OpenMP team per worker would show at once
  auto backend = CpuBackend::Create(model.weights(), opt);
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  EXPECT_EQ((*backend)->ProbeWorkerOmpThreads(), 1);

  auto exe = (*backend)->Compile({16, 4096});
  ASSERT_TRUE(exe.ok());
  std::vector<std::vector<int32_t>> ids(16, std::vector<int32_t>(250));
  std::vector<engine::TokenSpan> batch;
  for (size_t i = 0; i < ids.size(); ++i) {
    for (size_t t = 0; t < ids[i].size(); ++t) ids[i][t] = static_cast<int32_t>((i * 131 + t * 17) % 1000);
    batch.push_back({ids[i].data(), ids[i].size()});
  }
  std::vector<float> out(batch.size() * 384);
  std::atomic<bool> running{true};
  std::atomic<int> peak{0};
  std::thread sampler([&] {
    while (running.load()) {
      peak = std::max(peak.load(), ProcessThreads());
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  for (int rep = 0; rep < 2; ++rep) ASSERT_TRUE((*backend)->Run(**exe, batch, out.data()).ok());
  running = false;
  sampler.join();
  // TBB workers (concurrency - 1) + this thread + the sampler + a small allowance for runtime
  // helpers; an OpenMP team per worker would add concurrency x (cores - 1) threads.
  EXPECT_LE(peak.load(), before + (*backend)->concurrency() + 3) << "before " << before;
  EXPECT_EQ((*backend)->ProbeWorkerOmpThreads(), 1);
}

// The two-thread team of small batches: every item of every phase runs exactly once, its
// writes are visible when ForEach returns, phases of any size (0, 1, 2, many) follow each other
// without mixing, and with no worker to join (a one-thread arena) the caller does it all.
TEST(CpuThreadingTest, PairTeamRunsEveryItemOnceAndNeverWaitsForAnAbsentWorker) {
  for (int threads : {2, 1}) {
    CpuThreads arena(threads);
    constexpr int kPhases = 2000;
    std::vector<int> hits(64);
    std::atomic<int> other_thread_items{0};
    long long checksum = 0, expected = 0;
    arena.Execute([&] {
      PairTeam team;
      const auto caller = std::this_thread::get_id();
      team.Run([&] {
        for (int phase = 0; phase < kPhases; ++phase) {
          const int n = phase % 7 == 0 ? 0 : (phase % 5 == 0 ? 1 : (phase % 3 == 0 ? 2 : 1 + phase % 64));
          std::fill(hits.begin(), hits.end(), 0);
          team.ForEach(n, [&](int i) {
            ++hits[static_cast<size_t>(i)];  // each index belongs to one item: no race
            if (std::this_thread::get_id() != caller) other_thread_items.fetch_add(1, std::memory_order_relaxed);
          });
          for (int i = 0; i < 64; ++i) {
            ASSERT_EQ(hits[static_cast<size_t>(i)], i < n ? 1 : 0) << "phase " << phase << " item " << i << " of " << n;
            checksum += hits[static_cast<size_t>(i)] * (i + 1);
          }
          expected += static_cast<long long>(n) * (n + 1) / 2;
        }
      });
    });
    EXPECT_EQ(checksum, expected) << threads << " threads";
    if (threads == 1) {
      EXPECT_EQ(other_thread_items.load(), 0);
    }
  }
}


// CPU time of the whole process so far.
double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Waiting team members sleep once a short spin is over, and are woken without loss: the helper
// between phases published far apart (the caller sleeps between them), and the caller while
// the helper runs a long item. The run uses a fraction of a core over its wall time (a thread
// that spun or yielded through the gaps would use about one), and every item still runs once.
TEST(CpuThreadingTest, PairTeamSleepsThroughLongWaitsAndWakesForTheNextPhase) {
  CpuThreads arena(2);
  constexpr int kPhases = 40;
  std::atomic<int> ran{0}, other_thread_items{0};
  const double cpu0 = ProcessCpuSeconds();
  const auto wall0 = std::chrono::steady_clock::now();
  arena.Execute([&] {
    PairTeam team;
    const auto caller = std::this_thread::get_id();
    team.Run([&] {
      for (int phase = 0; phase < kPhases; ++phase) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the helper falls asleep
        team.ForEach(2, [&](int) {
          if (std::this_thread::get_id() != caller) {
            other_thread_items.fetch_add(1);
            std::this_thread::sleep_for(std::chrono::milliseconds(3));  // the caller falls asleep
          } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));  // the helper wakes meanwhile
          }
          ran.fetch_add(1);
        });
        ASSERT_EQ(ran.load(), 2 * (phase + 1)) << "phase " << phase;
      }
    });
  });
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const double cpu = ProcessCpuSeconds() - cpu0;
  EXPECT_EQ(ran.load(), 2 * kPhases);
  EXPECT_GT(other_thread_items.load(), 0) << "the helper never took an item: nothing was tested";
  EXPECT_LT(cpu, 0.5 * wall) << "cpu " << cpu << " s over " << wall << " s of wall time";
}

}  // namespace
}  // namespace lam::cpu
