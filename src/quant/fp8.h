// FP8 e4m3fn (OCP / NVIDIA "fn": finite-only, no infinities) as used by DeepSeek-V3's released
// weights. Code = s eeee mmm, bias 7:
//   value = (-1)^s * (e == 0 ? m * 2^-9 : (1 + m/8) * 2^(e-7)); 0x7F / 0xFF are NaN; max 448.
#pragma once

#include <cstdint>

namespace qs {

// Exact decode (every e4m3 value is a float).
inline float Fp8E4M3ToF32(uint8_t c) {
  const uint32_t s = static_cast<uint32_t>(c & 0x80) << 24;
  const uint32_t e = (c >> 3) & 0xF, m = c & 7;
  uint32_t bits;
  if (e == 15 && m == 7) {
    bits = s | 0x7FC00000;  // NaN
  } else if (e == 0) {
    // m * 2^-9 is exact; as a float: a subnormal e4m3 has m < 8 so it is normal in fp32.
    float v = static_cast<float>(m) * 0.001953125f;
    return s ? -v : v;
  } else {
    bits = s | ((e + 120) << 23) | (m << 20);  // rebias 7 -> 127
  }
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f;
}

// The 256 decoded values (index = code), built once.
const float* Fp8E4M3Table();

// fp32 -> e4m3fn: round to nearest, ties to even; |x| >= 448 (inf included) saturates to +-448
// (DeepSeek's quantiser clamps before casting, so NaN never appears for finite weights);
// NaN -> 0x7F (sign kept).
uint8_t F32ToFp8E4M3(float f);

}  // namespace qs
