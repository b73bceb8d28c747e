// MatMul throughput per weight format and ISA on an in-memory random matrix: decode (T = 1)
// reports weight GB/s (memory-bound), prefill (T > 1) reports GFLOP/s (2 flops per weight per
// token). Compare with the machine's triad bandwidth to see how close decode gets.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "base/cpu.h"
#include "base/thread_pool.h"
#include "base/timer.h"
#include "kernels/matmul.h"
#include "quant/fp16.h"
#include "quant/quant.h"

using namespace qs;

int main(int argc, char** argv) {
  int threads = 2;
  int64_t rows = 16384, cols = 2048, T = 1;
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--rows") rows = std::atoll(argv[i + 1]);
    else if (a == "--cols") cols = std::atoll(argv[i + 1]);
    else if (a == "--T") T = std::atoll(argv[i + 1]);
    else if (a == "--format") only = argv[i + 1];
  }
  ThreadPool pool(threads);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> src(static_cast<size_t>(cols) * 64);
  for (auto& v : src) v = nd(rng);
  std::vector<float> x(static_cast<size_t>(T * cols)), y(static_cast<size_t>(T * rows));
  for (auto& v : x) v = nd(rng);
  std::printf("%lld x %lld, T=%lld, %d threads\n", (long long)rows, (long long)cols, (long long)T, threads);
  for (std::string fmt : {"f32", "f16", "bf16", "fp8", "fp4", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k"}) {
    if (!only.empty() && fmt != only) continue;
    WeightMatrix w;
    w.rows = rows;
    w.cols = cols;
    std::vector<uint8_t> bytes;
    std::vector<float> scales;
    size_t rs = 0;
    GgmlType qt = GgmlType::F32;
    if (fmt == "f32") w.dtype = DType::kF32, rs = cols * 4;
    else if (fmt == "f16") w.dtype = DType::kF16, rs = cols * 2;
    else if (fmt == "bf16") w.dtype = DType::kBF16, rs = cols * 2;
    else if (fmt == "fp8") w.dtype = DType::kF8E4M3, rs = cols;
    else if (fmt == "fp4") w.dtype = DType::kF4E2M1, rs = cols / 2;  // + 1 ue8m0 scale per 32 (as F32 here)
    else {
      w.dtype = DType::kGgmlBlock;
      qt = fmt == "q8_0" ? GgmlType::Q8_0 : fmt == "q4_0" ? GgmlType::Q4_0 : fmt == "q4_k" ? GgmlType::Q4_K : fmt == "q5_k" ? GgmlType::Q5_K : GgmlType::Q6_K;
      w.qtype = qt;
      rs = GgmlRowSize(qt, cols).value();
    }
    bytes.resize(rs * rows);
    // Fill 64 distinct rows and repeat them (random content; speed does not depend on values).
    std::vector<uint8_t> proto(rs * 64);
    for (int r = 0; r < 64; ++r) {
      const float* s = &src[r * cols];
      uint8_t* d = &proto[r * rs];
      for (int64_t c = 0; c < cols; ++c) {
        if (fmt == "f32") std::memcpy(d + c * 4, &s[c], 4);
        else if (fmt == "f16") { uint16_t h = F32ToF16(s[c]); std::memcpy(d + c * 2, &h, 2); }
        else if (fmt == "bf16") { uint16_t h = F32ToBf16(s[c]); std::memcpy(d + c * 2, &h, 2); }
        else if (fmt == "fp8") d[c] = F32ToFp8E4M3(s[c]);
        else if (fmt == "fp4") d[c / 2] = static_cast<uint8_t>((c % 2 ? d[c / 2] : 0) | ((c * 7 + r) % 16) << (c % 2 * 4));
      }
      if (w.dtype == DType::kGgmlBlock) (void)QuantizeRow(qt, s, d, cols);
    }
    for (int64_t r = 0; r < rows; ++r) std::memcpy(&bytes[r * rs], &proto[(r % 64) * rs], rs);
    if (fmt == "fp8") {
      w.scale_cols = (cols + 127) / 128;
      scales.assign(static_cast<size_t>((rows + 127) / 128 * w.scale_cols), 0.01f);
      w.scale_inv = scales.data();
    }
    if (fmt == "fp4") {
      w.block_rows = 1;
      w.block_cols = 32;
      w.scale_cols = cols / 32;
      scales.assign(static_cast<size_t>(rows * w.scale_cols), 0.5f);
      w.scale_inv = scales.data();
    }
    w.data = bytes.data();
    w.row_stride = rs;
    for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
      if (isa > Cpu().max_isa) continue;
      SetIsaCap(isa);
      MatMul(w, x.data(), T, y.data(), &pool);  // warm-up
      const int iters = std::max(1, static_cast<int>(2e9 / (static_cast<double>(bytes.size()) * T)));
      timespec c0, c1;
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
      Timer t;
      for (int i = 0; i < iters; ++i) MatMul(w, x.data(), T, y.data(), &pool);
      const double s = t.Seconds() / iters;
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
      // CPU time of all threads: on a shared machine, wall time includes time the scheduler gave
      // to other processes; CPU-time throughput per thread is what the kernel itself achieves.
      const double cpu = ((c1.tv_sec - c0.tv_sec) + (c1.tv_nsec - c0.tv_nsec) * 1e-9) / iters / threads;
      std::printf("%-5s %-12s %8.2f ms  %7.2f GB/s  %8.1f GFLOP/s | per thread-CPU-second: %7.2f GB/s\n", fmt.c_str(),
                  KernelName(), s * 1e3, bytes.size() / s / 1e9, 2.0 * rows * cols * T / s / 1e9,
                  bytes.size() / cpu / 1e9 / threads);
    }
  }
  return 0;
}
