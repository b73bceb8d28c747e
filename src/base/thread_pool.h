// A small fork-join pool: the calling thread plus (n-1) workers. ParallelFor splits [0, n) into
// chunks of whole grains that the threads take from a shared counter (work split by output rows,
// so no two threads write the same row; a thread that was preempted by another process simply
// takes fewer chunks) and returns when every chunk is done.
//
// Cost per call is what decode pays dozens of times per layer, so: no allocation and no
// std::function (the callable is passed as a pointer plus a trampoline), no mutex on the hot
// path; workers spin on an atomic generation counter for a while (ops come back to back) and
// only then sleep on it with C++20 atomic wait (a futex on Linux).
// One ParallelFor at a time per pool (the caller owns the pool); fn must not call back into it.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <vector>

namespace qs {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);  // n_threads <= 0: DefaultThreadCount()
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // fn(begin, end, thread_index) over [0, n); chunk bounds are multiples of `grain` (but the last).
  // thread_index < size(). Any callable (lambda, std::function) works; nothing is copied.
  template <class F>
  void ParallelFor(int64_t n, F&& fn, int64_t grain = 1) {
    using Fn = std::remove_reference_t<F>;
    Run(n, grain,
        [](const void* ctx, int64_t b, int64_t e, int i) { (*static_cast<Fn*>(const_cast<void*>(ctx)))(b, e, i); },
        &fn);
  }

 private:
  using Thunk = void (*)(const void*, int64_t, int64_t, int);
  void Run(int64_t n, int64_t grain, Thunk thunk, const void* ctx);
  void WorkerLoop(int index);
  void Work(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  // state_ = job generation (32 bits) | chunk count (16) | next unclaimed chunk (16). A thread
  // claims a chunk with one CAS on it, so a worker that wakes late (preempted by another
  // process) can never claim a chunk of a job that has finished: the caller never waits for
  // workers to check in, only for claimed chunks to be done (done_).
  alignas(64) std::atomic<uint64_t> state_{0};
  alignas(64) std::atomic<int64_t> done_{0};
  alignas(64) std::atomic<uint32_t> wake_{0};  // bumped per job; idle workers spin, then wait on it
  alignas(64) std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  uint32_t generation_ = 0;
  // The current job: written before state_ publishes it, read only after claiming a chunk of it
  // (the job cannot finish, and so cannot be overwritten, while a claimed chunk is running).
  Thunk thunk_ = nullptr;
  const void* ctx_ = nullptr;
  int64_t n_ = 0, chunk_ = 1;
};

// Threads to use by default: what SetDefaultThreadCount installed (the CLI does, from --threads or
// QIUSUO_THREADS: see runtime/runtime_config.h), else hardware concurrency.
int DefaultThreadCount();
// n <= 0: back to hardware concurrency.
void SetDefaultThreadCount(int n);

}  // namespace qs
