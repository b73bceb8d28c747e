// Helpers shared by the kernel tests: random activations, the SIMD levels this CPU has, u.
#pragma once

#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "base/cpu.h"

namespace qs::kernel_test {

inline constexpr double kU = 5.9604644775390625e-8;  // 2^-24, fp32 unit roundoff

inline std::vector<float> RandomX(int64_t T, int64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> x(static_cast<size_t>(T * cols));
  for (auto& f : x) f = nd(rng);
  return x;
}

inline std::vector<Isa> SimdIsas() {
  std::vector<Isa> v;
  if (Cpu().max_isa >= Isa::kAvx2) v.push_back(Isa::kAvx2);
  if (Cpu().max_isa >= Isa::kAvx512) v.push_back(Isa::kAvx512);
  if (v.empty()) std::printf("note: no SIMD level on this CPU; only the scalar path exists\n");
  return v;
}

}  // namespace qs::kernel_test
