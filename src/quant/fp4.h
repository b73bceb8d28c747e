// The number formats of DeepSeek-V4's release and its in-model quantisation simulation
// (fixtures/deepseek-v4-golden/README.md "Number formats"; number_formats.json):
//   ue8m0 (F8_E8M0): byte b -> 2^(b - 127), 0xFF NaN. Every scale of the V4 release.
//   e2m1 (FP4): a nibble s eem, values [0, .5, 1, 1.5, 2, 3, 4, 6], bit 3 = sign (0x8 = -0).
#pragma once

#include <cstdint>

namespace qs {

// 2^(b - 127) exactly (b = 0 is the fp32 subnormal 2^-127); 0xFF is NaN.
inline float Ue8m0ToF32(uint8_t b) {
  if (b == 0xFF) return __builtin_nanf("");
  if (b == 0) return 5.877471754111438e-39f;  // 2^-127
  const uint32_t bits = static_cast<uint32_t>(b) << 23;
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f;
}

// The 16 e2m1 values by nibble (index = code, 0x8 = -0.0f).
const float* E2M1Table();
inline float E2M1ToF32(uint8_t nibble) { return E2M1Table()[nibble & 0xF]; }

// fp32 -> e2m1 code, round to nearest with ties to the even code (CUDA's __nv_fp4 cast);
// |x| > 6 saturates to +-6 (the simulation clamps first). NaN -> +0.
uint8_t F32ToE2M1(float x);

}  // namespace qs
