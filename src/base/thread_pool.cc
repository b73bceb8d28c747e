#include "base/thread_pool.h"

#include <algorithm>

namespace qs {
namespace {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// How long an idle worker spins before sleeping. Decode runs ~10 parallel ops per layer with
// short serial gaps (norms, routing) in between; a futex wake costs tens of microseconds, so
// spin a little longer than the longest such gap. A pause is ~10-140 cycles depending on the
// core, so this is roughly 0.1-1 ms.
constexpr int kSpinIters = 1 << 14;

}  // namespace

// Set once by the CLI at start-up (RuntimeConfig); 0: not set.
std::atomic<int> g_default_threads{0};

int DefaultThreadCount() {
  if (int v = g_default_threads.load(std::memory_order_relaxed); v > 0) return v;
  unsigned hc = std::thread::hardware_concurrency();
  return hc ? static_cast<int>(hc) : 1;
}

void SetDefaultThreadCount(int n) { g_default_threads.store(n > 0 ? n : 0); }

ThreadPool::ThreadPool(int n_threads) {
  n_threads_ = n_threads > 0 ? n_threads : DefaultThreadCount();
  workers_.reserve(static_cast<size_t>(n_threads_));
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  wake_.fetch_add(1);
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::Work(int index) {
  for (;;) {
    uint64_t s = state_.load(std::memory_order_acquire);
    const uint64_t n_chunks = (s >> 16) & 0xFFFF, next = s & 0xFFFF;
    if (next >= n_chunks) return;
    if (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_relaxed)) continue;
    const int64_t b = static_cast<int64_t>(next) * chunk_, e = std::min(n_, b + chunk_);
    thunk_(ctx_, b, e, index);
    done_.fetch_add(1, std::memory_order_release);
  }
}

void ThreadPool::WorkerLoop(int index) {
  uint32_t seen = 0;
  for (;;) {
    uint32_t w;
    int spins = 0;
    while ((w = wake_.load(std::memory_order_acquire)) == seen) {
      if (++spins < kSpinIters) {
        // Yield now and then: if the cores are oversubscribed, a spinning worker must not keep
        // the thread that will publish the next job off the CPU for a whole time slice.
        if ((spins & 255) == 0) std::this_thread::yield();
        else CpuRelax();
        continue;
      }
      // Dekker-style handshake with Run(): publish "sleeping" before wait() re-checks wake_;
      // Run() bumps wake_ before reading sleepers_ (both seq_cst), so one side sees the other.
      sleepers_.fetch_add(1);
      wake_.wait(seen);
      sleepers_.fetch_sub(1);
      spins = 0;
    }
    seen = w;
    if (stop_.load(std::memory_order_acquire)) return;
    Work(index);
  }
}

void ThreadPool::Run(int64_t n, int64_t grain, Thunk thunk, const void* ctx) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  if (n_threads_ == 1 || n <= grain) {
    thunk(ctx, 0, n, 0);
    return;
  }
  // A few chunks per thread balance a core that is busy with something else without paying
  // much in atomics; chunks are whole grains.
  const int64_t grains = (n + grain - 1) / grain;
  const int64_t want = std::min<int64_t>({grains, static_cast<int64_t>(n_threads_) * 4, 0xFFFF});
  const int64_t per = (grains + want - 1) / want;
  thunk_ = thunk;
  ctx_ = ctx;
  n_ = n;
  chunk_ = per * grain;
  const int64_t n_chunks = (n + chunk_ - 1) / chunk_;
  done_.store(0, std::memory_order_relaxed);
  ++generation_;
  state_.store((static_cast<uint64_t>(generation_) << 32) | (static_cast<uint64_t>(n_chunks) << 16),
               std::memory_order_release);
  wake_.fetch_add(1);  // seq_cst, see WorkerLoop
  if (sleepers_.load() > 0) wake_.notify_all();
  Work(0);
  // Only chunks already claimed (and running on a worker) are waited for. If that worker was
  // preempted, yield after a short spin so it can run on this core.
  for (int spins = 0; done_.load(std::memory_order_acquire) != n_chunks; ++spins) {
    if (spins < 2048) CpuRelax();
    else std::this_thread::yield();
  }
}

}  // namespace qs
