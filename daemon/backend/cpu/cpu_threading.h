// SPDX-License-Identifier: MIT
// Thread placement for the CPU backend. Our parallelism runs on a oneTBB arena; oneDNN (Debian's
// build uses the OpenMP runtime) is called from inside those tasks and must not start its own
// OpenMP team there, or 2 cores would run 2 x N threads. Every thread that enters the arena gets
// OpenMP's team size set to 1 (observer for workers, a scoped guard for the calling thread).
#pragma once

#include <tbb/task_arena.h>
#include <tbb/task_scheduler_observer.h>

#include <utility>

namespace lam::cpu {

// Sets omp_set_num_threads(1) for the current thread, restores the previous value on exit.
class ScopedOmpSingleThread {
 public:
  ScopedOmpSingleThread();
  ~ScopedOmpSingleThread();
  ScopedOmpSingleThread(const ScopedOmpSingleThread&) = delete;
  ScopedOmpSingleThread& operator=(const ScopedOmpSingleThread&) = delete;

 private:
  int saved_;
};

class CpuThreads {
 public:
  // threads <= 0: all cores.
  explicit CpuThreads(int threads);
  ~CpuThreads();
  CpuThreads(const CpuThreads&) = delete;
  CpuThreads& operator=(const CpuThreads&) = delete;

  int concurrency() const { return concurrency_; }

  // Runs f inside the arena with OpenMP pinned to one thread on every participating thread.
  template <typename F>
  void Execute(F&& f) {
    arena_.execute([&] {
      ScopedOmpSingleThread guard;
      std::forward<F>(f)();
    });
  }

  // Index of the calling thread inside the arena, in [0, concurrency()).
  static int SlotIndex();

  // OpenMP's max team size as seen by the calling thread (for tests and diagnostics).
  static int OmpMaxThreads();

 private:
  class Observer : public tbb::task_scheduler_observer {
   public:
    explicit Observer(tbb::task_arena& arena);
    ~Observer() override;
    void on_scheduler_entry(bool is_worker) override;
  };

  int concurrency_;
  tbb::task_arena arena_;
  Observer observer_;
};

}  // namespace lam::cpu
