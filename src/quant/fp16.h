// IEEE half (binary16) and bfloat16 <-> float conversions, exact and portable (no F16C needed).
//  * fp32 -> fp16: round to nearest, ties to even, with subnormals; overflow -> inf (like IEEE and
//    ggml's GGML_FP32_TO_FP16). NaN -> sign | 0x7E00, the quiet NaN ggml's software path writes.
//  * fp16 -> fp32: exact (every half is a float).
//  * fp32 -> bf16: round to nearest even on the bit pattern (PyTorch, numpy/ml_dtypes, current
//    ggml_fp32_to_bf16); NaN keeps its top bits and is forced quiet. Subnormals are kept.
//  * bf16 -> fp32: the bits shifted left by 16.
#pragma once

#include <cstdint>
#include <cstring>

#include "quant/fp8.h"  // FP8 e4m3fn lives beside the 16-bit formats (kept reachable from here)

namespace qs {

inline uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float BitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float F16ToF32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F;
  const uint32_t man = h & 0x3FF;
  if (exp == 0x1F) return BitsFloat(sign | 0x7F800000 | (man << 13));  // inf / NaN (payload kept)
  if (exp != 0) return BitsFloat(sign | ((exp + 112) << 23) | (man << 13));  // rebias 15 -> 127
  // Zero or subnormal: man * 2^-24, exact in float.
  const float v = static_cast<float>(man) * 5.9604644775390625e-8f;
  return sign ? -v : v;
}

inline uint16_t F32ToF16(float f) {
  const uint32_t x = FloatBits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t a = x & 0x7FFFFFFF;
  if (a > 0x7F800000) return sign | 0x7E00;               // NaN
  if (a >= 0x477FF000) return sign | 0x7C00;              // >= 65520 (incl. inf) rounds to inf
  if (a >= 0x38800000) {                                  // >= 2^-14: normal half
    uint32_t h = (a >> 13) - (112u << 10);                // rebias 127 -> 15, keep 10 mantissa bits
    const uint32_t rem = a & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;  // RNE; a carry moves into the exponent
    return static_cast<uint16_t>(sign | h);
  }
  if (a <= 0x33000000) return sign;                       // <= 2^-25: rounds (ties to even) to 0
  // Subnormal half: value = m * 2^(e-150) with m the 24-bit significand; in units of 2^-24
  // that is m >> (126 - e), shift in [14, 24].
  const uint32_t e = a >> 23;
  const uint32_t m = (a & 0x7FFFFF) | 0x800000;
  const uint32_t shift = 126 - e;
  uint32_t h = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (h & 1))) ++h;        // may carry into the smallest normal
  return static_cast<uint16_t>(sign | h);
}

inline float Bf16ToF32(uint16_t b) { return BitsFloat(static_cast<uint32_t>(b) << 16); }

inline uint16_t F32ToBf16(float f) {
  const uint32_t u = FloatBits(f);
  if ((u & 0x7FFFFFFF) > 0x7F800000) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  return static_cast<uint16_t>((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}

}  // namespace qs
