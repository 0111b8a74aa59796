// SPDX-License-Identifier: MIT
#include "backend/cpu/cpu_threading.h"

#include <omp.h>
#include <tbb/info.h>

#include <algorithm>

namespace lam::cpu {

ScopedOmpSingleThread::ScopedOmpSingleThread() : saved_(omp_get_max_threads()) {
  omp_set_num_threads(1);
}

ScopedOmpSingleThread::~ScopedOmpSingleThread() { omp_set_num_threads(saved_); }

CpuThreads::Observer::Observer(tbb::task_arena& arena) : tbb::task_scheduler_observer(arena) {
  observe(true);
}

CpuThreads::Observer::~Observer() { observe(false); }

void CpuThreads::Observer::on_scheduler_entry(bool is_worker) {
  // Workers belong to us for their lifetime; the calling thread is handled by the scoped guard.
  if (is_worker) omp_set_num_threads(1);
}

namespace {
int ResolveConcurrency(int threads) {
  const int cores = std::max(1, tbb::info::default_concurrency());
  return threads > 0 ? threads : cores;
}
}  // namespace

CpuThreads::CpuThreads(int threads)
    : concurrency_(ResolveConcurrency(threads)), arena_(concurrency_), observer_(arena_) {}

CpuThreads::~CpuThreads() = default;

int CpuThreads::SlotIndex() { return tbb::this_task_arena::current_thread_index(); }

int CpuThreads::OmpMaxThreads() { return omp_get_max_threads(); }

}  // namespace lam::cpu
