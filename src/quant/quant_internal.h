// Helpers shared by the reference quantizers (private to src/quant).
#pragma once

#include <cstdint>
#include <cstring>

#include "quant/blocks.h"
#include "quant/fp16.h"

namespace qs::quant_internal {

// Blocks are copied in and out with memcpy so that src / dst need no alignment.
template <typename B>
inline B LoadBlock(const void* src, int64_t i) {
  B b;
  std::memcpy(&b, static_cast<const uint8_t*>(src) + i * static_cast<int64_t>(sizeof(B)), sizeof(B));
  return b;
}
template <typename B>
inline void StoreBlock(void* dst, int64_t i, const B& b) {
  std::memcpy(static_cast<uint8_t*>(dst) + i * static_cast<int64_t>(sizeof(B)), &b, sizeof(B));
}

// What C's float -> integer conversion does on x86-64 (cvttss2si), where ggml's reference code
// runs: truncate toward zero; NaN or out of range gives INT32_MIN. Narrower integer targets
// take the low bits. Spelled out so that odd inputs (inf, NaN) are defined behaviour here.
inline int32_t TruncToInt32(float f) {
  if (!(f >= -2147483648.0f && f < 2147483648.0f)) return INT32_MIN;
  return static_cast<int32_t>(f);
}

// ggml's nearest_int: round to nearest, ties to even, by adding 1.5 * 2^23 (valid for
// |f| <= 2^22, which the callers guarantee for finite input; elsewhere the same bits as ggml).
inline int NearestInt(float f) {
  const float v = f + 12582912.f;
  int32_t i;
  std::memcpy(&i, &v, 4);
  return (i & 0x007fffff) - 0x00400000;
}

// ggml's MAX / MIN macros (NaN behaviour included: the second operand wins a failed compare).
template <typename T>
inline T GMax(T a, T b) { return a > b ? a : b; }
template <typename T>
inline T GMin(T a, T b) { return a < b ? a : b; }

}  // namespace qs::quant_internal
