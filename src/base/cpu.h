// CPU feature detection (CPUID + XGETBV) and the instruction-set level the kernels dispatch on.
// SetIsaCap (the CLI's --isa / QIUSUO_ISA=scalar|avx2|avx512) caps the level (never raises it
// above what the CPU has), so the tests and benchmarks can run every path on one machine.
#pragma once

#include <string>

namespace qs {

enum class Isa : int { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512vnni = false, avx512bf16 = false, avx_vnni = false;
  // The highest level whose every required feature (and OS register-state support) is present:
  // kAvx2 needs AVX2+FMA+F16C; kAvx512 needs F+BW+VL+DQ (VNNI / BF16 are used when present).
  Isa max_isa = Isa::kScalar;
};

// Detected once, cached.
const CpuFeatures& Cpu();

// The level the kernels use: min(Cpu().max_isa, SetIsaCap). Cheap (an atomic load).
Isa ActiveIsa();
// Caps the level for this process (tests use it to run each path); returns the previous cap.
// Requests above the CPU's level are clamped.
Isa SetIsaCap(Isa cap);

const char* IsaName(Isa isa);
// Parses "scalar" / "avx2" / "avx512" (case-insensitive); false on anything else.
bool ParseIsa(const std::string& s, Isa* out);
// One line for logs and `qiusuo bench`: e.g. "avx512 (vnni bf16)".
std::string IsaDescription();

}  // namespace qs
