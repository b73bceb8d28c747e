// ThreadPool: every index exactly once, chunk alignment, many back-to-back calls, sleep/wake.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "base/cpu.h"
#include "base/thread_pool.h"

namespace qs {
namespace {

TEST(ThreadPool, CoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 2, 7, 16, 100, 1000, 4097}) {
      for (int64_t grain : {1, 4, 16, 64}) {
        std::vector<std::atomic<int>> hit(static_cast<size_t>(n));
        pool.ParallelFor(n, [&](int64_t b, int64_t e, int ti) {
          ASSERT_LT(ti, pool.size());
          ASSERT_EQ(b % grain, 0) << "chunk start not grain-aligned";
          for (int64_t i = b; i < e; ++i) hit[static_cast<size_t>(i)].fetch_add(1);
        }, grain);
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hit[static_cast<size_t>(i)].load(), 1) << n << " " << grain;
      }
    }
  }
}

TEST(ThreadPool, StdFunctionAndManyCalls) {
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  const std::function<void(int64_t, int64_t, int)> fn = [&](int64_t b, int64_t e, int) {
    int64_t s = 0;
    for (int64_t i = b; i < e; ++i) s += i;
    sum.fetch_add(s);
  };
  for (int k = 0; k < 20000; ++k) pool.ParallelFor(64, fn, 8);
  EXPECT_EQ(sum.load(), 20000LL * (63 * 64 / 2));
}

TEST(ThreadPool, WakesAfterSleeping) {
  ThreadPool pool(3);
  for (int k = 0; k < 3; ++k) {
    // Long enough for the workers to stop spinning and sleep on the futex.
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    std::atomic<int> n{0};
    pool.ParallelFor(300, [&](int64_t b, int64_t e, int) { n.fetch_add(static_cast<int>(e - b)); });
    EXPECT_EQ(n.load(), 300);
  }
}

TEST(Cpu, CapAndParse) {
  Isa v;
  EXPECT_TRUE(ParseIsa("AVX2", &v));
  EXPECT_EQ(v, Isa::kAvx2);
  EXPECT_TRUE(ParseIsa("scalar", &v));
  EXPECT_EQ(v, Isa::kScalar);
  EXPECT_FALSE(ParseIsa("sse9", &v));
  const Isa prev = SetIsaCap(Isa::kScalar);
  EXPECT_EQ(ActiveIsa(), Isa::kScalar);
  SetIsaCap(Isa::kAvx512);  // clamped to the CPU
  EXPECT_EQ(ActiveIsa(), Cpu().max_isa);
  SetIsaCap(prev);
  std::printf("cpu: max %s, active %s\n", IsaName(Cpu().max_isa), IsaDescription().c_str());
}

}  // namespace
}  // namespace qs
