#include "quant/fp8.h"

#include <cstring>

namespace qs {

const float* Fp8E4M3Table() {
  static const struct Table {
    float v[256];
    Table() {
      for (int c = 0; c < 256; ++c) v[c] = Fp8E4M3ToF32(static_cast<uint8_t>(c));
    }
  } table;
  return table.v;
}

uint8_t F32ToFp8E4M3(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint8_t sign = static_cast<uint8_t>((x >> 24) & 0x80);
  const uint32_t a = x & 0x7FFFFFFF;
  if (a > 0x7F800000) return sign | 0x7F;  // NaN
  if (a >= 0x43E00000) return sign | 0x7E;  // >= 448, inf included: saturate
  if (a >= 0x3C800000) {                    // >= 2^-6: normal e4m3
    // Keep 3 mantissa bits, rebias 127 -> 7 (120 << 3 = 960); RNE on the 20 dropped bits. The
    // largest input here (just below 448) rounds to 0x7E at most, never into the NaN code.
    uint32_t v = (a >> 20) - 960;
    const uint32_t rem = a & 0xFFFFF;
    if (rem > 0x80000 || (rem == 0x80000 && (v & 1))) ++v;
    return static_cast<uint8_t>(sign | v);
  }
  if (a <= 0x3A800000) return sign;  // <= 2^-10, half the smallest subnormal: ties to even -> 0
  // Subnormal e4m3 in units of 2^-9: significand m (24 bits) * 2^(e-150) / 2^-9 = m >> (141 - e).
  const uint32_t e = a >> 23;
  const uint32_t m = (a & 0x7FFFFF) | 0x800000;
  const uint32_t shift = 141 - e;  // 21..24
  uint32_t v = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
  if (rem > half || (rem == half && (v & 1))) ++v;  // v == 8 is the smallest normal, as it should be
  return static_cast<uint8_t>(sign | v);
}

}  // namespace qs
