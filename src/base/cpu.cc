#include "base/cpu.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define QS_X86 1
#endif

namespace qs {
namespace {

#ifdef QS_X86
uint64_t XGetBv() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}
#endif

CpuFeatures Detect() {
  CpuFeatures f;
#ifdef QS_X86
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
  f.fma = (c >> 12) & 1;
  f.f16c = (c >> 29) & 1;
  // The OS must save the YMM (bits 1-2) and, for AVX-512, opmask/ZMM (bits 5-7) state
  // (Intel SDM vol. 1, 13.3 "Enabling the XSAVE feature set").
  const uint64_t xcr0 = osxsave ? XGetBv() : 0;
  const bool os_ymm = (xcr0 & 0x6) == 0x6, os_zmm = (xcr0 & 0xE6) == 0xE6;
  if (!avx || !os_ymm) return f;
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  f.avx2 = (b >> 5) & 1;
  if (os_zmm) {
    f.avx512f = (b >> 16) & 1;
    f.avx512dq = (b >> 17) & 1;
    f.avx512bw = (b >> 30) & 1;
    f.avx512vl = (b >> 31) & 1;
    f.avx512vnni = (c >> 11) & 1;
  }
  unsigned a1, b1, c1, d1;
  __cpuid_count(7, 1, a1, b1, c1, d1);
  f.avx_vnni = (a1 >> 4) & 1;
  if (os_zmm) f.avx512bf16 = (a1 >> 5) & 1;
  if (f.avx2 && f.fma && f.f16c) f.max_isa = Isa::kAvx2;
  if (f.max_isa == Isa::kAvx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq) f.max_isa = Isa::kAvx512;
#endif
  return f;
}

std::atomic<int>& ActiveSlot() {
  // Starts at what the CPU has; the CLI caps it at start-up (--isa / QIUSUO_ISA), tests per case.
  static std::atomic<int> slot{static_cast<int>(Cpu().max_isa)};
  return slot;
}

}  // namespace

const CpuFeatures& Cpu() {
  static const CpuFeatures f = Detect();
  return f;
}

Isa ActiveIsa() { return static_cast<Isa>(ActiveSlot().load(std::memory_order_relaxed)); }

Isa SetIsaCap(Isa cap) {
  const Isa v = std::min(cap, Cpu().max_isa);
  return static_cast<Isa>(ActiveSlot().exchange(static_cast<int>(v)));
}

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    default: return "scalar";
  }
}

bool ParseIsa(const std::string& s, Isa* out) {
  std::string l;
  for (char ch : s) l += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (l == "scalar") *out = Isa::kScalar;
  else if (l == "avx2") *out = Isa::kAvx2;
  else if (l == "avx512") *out = Isa::kAvx512;
  else return false;
  return true;
}

std::string IsaDescription() {
  const Isa isa = ActiveIsa();
  std::string s = IsaName(isa);
  const auto& f = Cpu();
  if (isa == Isa::kAvx512) {
    std::string extra;
    if (f.avx512vnni) extra += " vnni";
    if (f.avx512bf16) extra += " bf16";
    if (!extra.empty()) s += " (" + extra.substr(1) + ")";
  }
  return s;
}

}  // namespace qs
