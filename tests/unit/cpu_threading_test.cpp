// SPDX-License-Identifier: MIT
// Thread placement: oneDNN's OpenMP runtime never starts its own team inside our TBB workers, so
// the process's thread count during a big run stays at TBB's concurrency plus a small constant.
#include <gtest/gtest.h>

#include <dirent.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "backend/cpu/cpu_backend.h"
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

}  // namespace
}  // namespace lam::cpu
