// A small fork-join pool: the calling thread plus (n-1) workers. ParallelFor splits a range into
// one contiguous chunk per thread (work split by output rows, so no two threads write the same
// row) and returns when every chunk is done. No allocation per call.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace qs {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);  // n_threads <= 0: number of hardware threads
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // fn(begin, end, thread_index) over [0, n). Chunks are aligned to `grain` items.
  void ParallelFor(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn,
                   int64_t grain = 1);

 private:
  void WorkerLoop(int index);
  void RunChunk(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  bool stop_ = false;
  // Current job (valid while pending_ > 0).
  const std::function<void(int64_t, int64_t, int)>* fn_ = nullptr;
  int64_t n_ = 0, grain_ = 1;
};

// Threads to use by default: QIUSUO_THREADS from the environment, else hardware concurrency.
int DefaultThreadCount();

}  // namespace qs
