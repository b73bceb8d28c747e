// The 32-element block formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1.
// Each function follows ggml-quants.c's quantize_row_*_ref / dequantize_row_* statement by
// statement: the float operations and their order decide the bytes, so do not "simplify" them.
#include <cfloat>
#include <cmath>

#include "quant/quant.h"
#include "quant/quant_internal.h"

namespace qs::ref {

using namespace quant_internal;  // NOLINT

namespace {
// x0 + bias truncated to int8 then clamped to hi, as ggml's MIN(hi, (int8_t)(x0 + bias)).
inline uint8_t ClampTrunc8(float v, int hi) {
  return static_cast<uint8_t>(GMin(hi, static_cast<int>(static_cast<int8_t>(TruncToInt32(v)))));
}
}  // namespace

// ---- Q4_0: d = max / -8 where max is the signed value of largest magnitude ----------------
void QuantizeQ4_0(const float* x, void* dst, int64_t k) {
  const int qk = kQK4_0;
  for (int64_t i = 0; i < k / qk; ++i) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < qk; ++j) {
      const float v = x[i * qk + j];
      if (amax < std::fabs(v)) {
        amax = std::fabs(v);
        max = v;
      }
    }
    const float d = max / -8;
    const float id = d ? 1.0f / d : 0.0f;
    BlockQ4_0 b;
    b.d = F32ToF16(d);
    for (int j = 0; j < qk / 2; ++j) {
      const float x0 = x[i * qk + 0 + j] * id;
      const float x1 = x[i * qk + qk / 2 + j] * id;
      const uint8_t xi0 = ClampTrunc8(x0 + 8.5f, 15);
      const uint8_t xi1 = ClampTrunc8(x1 + 8.5f, 15);
      b.qs[j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
    }
    StoreBlock(dst, i, b);
  }
}

void DequantizeQ4_0(const void* src, float* y, int64_t k) {
  const int qk = kQK4_0;
  for (int64_t i = 0; i < k / qk; ++i) {
    const auto b = LoadBlock<BlockQ4_0>(src, i);
    const float d = F16ToF32(b.d);
    for (int j = 0; j < qk / 2; ++j) {
      const int x0 = (b.qs[j] & 0x0F) - 8;
      const int x1 = (b.qs[j] >> 4) - 8;
      y[i * qk + j + 0] = x0 * d;
      y[i * qk + j + qk / 2] = x1 * d;
    }
  }
}

// ---- Q4_1: d = (max - min) / 15, m = min --------------------------------------------------
void QuantizeQ4_1(const float* x, void* dst, int64_t k) {
  const int qk = kQK4_1;
  for (int64_t i = 0; i < k / qk; ++i) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < qk; ++j) {
      const float v = x[i * qk + j];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const float d = (max - min) / ((1 << 4) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    BlockQ4_1 b;
    b.d = F32ToF16(d);
    b.m = F32ToF16(min);
    for (int j = 0; j < qk / 2; ++j) {
      const float x0 = (x[i * qk + 0 + j] - min) * id;
      const float x1 = (x[i * qk + qk / 2 + j] - min) * id;
      const uint8_t xi0 = ClampTrunc8(x0 + 0.5f, 15);
      const uint8_t xi1 = ClampTrunc8(x1 + 0.5f, 15);
      b.qs[j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
    }
    StoreBlock(dst, i, b);
  }
}

void DequantizeQ4_1(const void* src, float* y, int64_t k) {
  const int qk = kQK4_1;
  for (int64_t i = 0; i < k / qk; ++i) {
    const auto b = LoadBlock<BlockQ4_1>(src, i);
    const float d = F16ToF32(b.d);
    const float m = F16ToF32(b.m);
    for (int j = 0; j < qk / 2; ++j) {
      const int x0 = b.qs[j] & 0x0F;
      const int x1 = b.qs[j] >> 4;
      y[i * qk + j + 0] = x0 * d + m;
      y[i * qk + j + qk / 2] = x1 * d + m;
    }
  }
}

// ---- Q5_0: as Q4_0 with d = max / -16 and the fifth bits in qh -----------------------------
void QuantizeQ5_0(const float* x, void* dst, int64_t k) {
  const int qk = kQK5_0;
  for (int64_t i = 0; i < k / qk; ++i) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < qk; ++j) {
      const float v = x[i * qk + j];
      if (amax < std::fabs(v)) {
        amax = std::fabs(v);
        max = v;
      }
    }
    const float d = max / -16;
    const float id = d ? 1.0f / d : 0.0f;
    BlockQ5_0 b;
    b.d = F32ToF16(d);
    uint32_t qh = 0;
    for (int j = 0; j < qk / 2; ++j) {
      const float x0 = x[i * qk + 0 + j] * id;
      const float x1 = x[i * qk + qk / 2 + j] * id;
      const uint8_t xi0 = ClampTrunc8(x0 + 16.5f, 31);
      const uint8_t xi1 = ClampTrunc8(x1 + 16.5f, 31);
      b.qs[j] = static_cast<uint8_t>((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
      qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
      qh |= ((xi1 & 0x10u) >> 4) << (j + qk / 2);
    }
    std::memcpy(b.qh, &qh, sizeof qh);
    StoreBlock(dst, i, b);
  }
}

void DequantizeQ5_0(const void* src, float* y, int64_t k) {
  const int qk = kQK5_0;
  for (int64_t i = 0; i < k / qk; ++i) {
    const auto b = LoadBlock<BlockQ5_0>(src, i);
    const float d = F16ToF32(b.d);
    uint32_t qh;
    std::memcpy(&qh, b.qh, sizeof qh);
    for (int j = 0; j < qk / 2; ++j) {
      const uint8_t xh_0 = static_cast<uint8_t>(((qh >> (j + 0)) << 4) & 0x10);
      const uint8_t xh_1 = static_cast<uint8_t>((qh >> (j + 12)) & 0x10);
      const int32_t x0 = ((b.qs[j] & 0x0F) | xh_0) - 16;
      const int32_t x1 = ((b.qs[j] >> 4) | xh_1) - 16;
      y[i * qk + j + 0] = x0 * d;
      y[i * qk + j + qk / 2] = x1 * d;
    }
  }
}

// ---- Q5_1: as Q4_1 with 31 steps ------------------------------------------------------------
void QuantizeQ5_1(const float* x, void* dst, int64_t k) {
  const int qk = kQK5_1;
  for (int64_t i = 0; i < k / qk; ++i) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < qk; ++j) {
      const float v = x[i * qk + j];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const float d = (max - min) / ((1 << 5) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    BlockQ5_1 b;
    b.d = F32ToF16(d);
    b.m = F32ToF16(min);
    uint32_t qh = 0;
    for (int j = 0; j < qk / 2; ++j) {
      const float x0 = (x[i * qk + 0 + j] - min) * id;
      const float x1 = (x[i * qk + qk / 2 + j] - min) * id;
      // ggml: (uint8_t)(x0 + 0.5f), no clamp.
      const uint8_t xi0 = static_cast<uint8_t>(TruncToInt32(x0 + 0.5f));
      const uint8_t xi1 = static_cast<uint8_t>(TruncToInt32(x1 + 0.5f));
      b.qs[j] = static_cast<uint8_t>((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
      qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
      qh |= ((xi1 & 0x10u) >> 4) << (j + qk / 2);
    }
    std::memcpy(b.qh, &qh, sizeof qh);
    StoreBlock(dst, i, b);
  }
}

void DequantizeQ5_1(const void* src, float* y, int64_t k) {
  const int qk = kQK5_1;
  for (int64_t i = 0; i < k / qk; ++i) {
    const auto b = LoadBlock<BlockQ5_1>(src, i);
    const float d = F16ToF32(b.d);
    const float m = F16ToF32(b.m);
    uint32_t qh;
    std::memcpy(&qh, b.qh, sizeof qh);
    for (int j = 0; j < qk / 2; ++j) {
      const uint8_t xh_0 = static_cast<uint8_t>(((qh >> (j + 0)) << 4) & 0x10);
      const uint8_t xh_1 = static_cast<uint8_t>((qh >> (j + 12)) & 0x10);
      const int x0 = (b.qs[j] & 0x0F) | xh_0;
      const int x1 = (b.qs[j] >> 4) | xh_1;
      y[i * qk + j + 0] = x0 * d + m;
      y[i * qk + j + qk / 2] = x1 * d + m;
    }
  }
}

// ---- Q8_0: d = amax / 127, q = roundf(x / d) (half away from zero) ---------------------------
void QuantizeQ8_0(const float* x, void* dst, int64_t k) {
  const int qk = kQK8_0;
  for (int64_t i = 0; i < k / qk; ++i) {
    float amax = 0.0f;
    for (int j = 0; j < qk; ++j) amax = GMax(amax, std::fabs(x[i * qk + j]));
    const float d = amax / ((1 << 7) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    BlockQ8_0 b;
    b.d = F32ToF16(d);
    for (int j = 0; j < qk; ++j) {
      const float x0 = x[i * qk + j] * id;
      b.qs[j] = static_cast<int8_t>(TruncToInt32(std::round(x0)));
    }
    StoreBlock(dst, i, b);
  }
}

void DequantizeQ8_0(const void* src, float* y, int64_t k) {
  const int qk = kQK8_0;
  for (int64_t i = 0; i < k / qk; ++i) {
    const auto b = LoadBlock<BlockQ8_0>(src, i);
    const float d = F16ToF32(b.d);
    for (int j = 0; j < qk; ++j) y[i * qk + j] = b.qs[j] * d;
  }
}

// ---- Q8_1: Q8_0 plus s = d * sum(q), both fp16 -----------------------------------------------
void QuantizeQ8_1(const float* x, void* dst, int64_t k) {
  const int qk = kQK8_1;
  for (int64_t i = 0; i < k / qk; ++i) {
    float amax = 0.0f;
    for (int j = 0; j < qk; ++j) amax = GMax(amax, std::fabs(x[i * qk + j]));
    const float d = amax / ((1 << 7) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    BlockQ8_1 b;
    b.d = F32ToF16(d);
    int sum = 0;
    for (int j = 0; j < qk / 2; ++j) {
      const float v0 = x[i * qk + j] * id;
      const float v1 = x[i * qk + qk / 2 + j] * id;
      b.qs[j] = static_cast<int8_t>(TruncToInt32(std::round(v0)));
      b.qs[qk / 2 + j] = static_cast<int8_t>(TruncToInt32(std::round(v1)));
      sum += b.qs[j];
      sum += b.qs[qk / 2 + j];
    }
    b.s = F32ToF16(sum * d);
    StoreBlock(dst, i, b);
  }
}

// ggml has no dequantize_row_q8_1 (Q8_1 only feeds dot products); this is the obvious d * q.
void DequantizeQ8_1(const void* src, float* y, int64_t k) {
  const int qk = kQK8_1;
  for (int64_t i = 0; i < k / qk; ++i) {
    const auto b = LoadBlock<BlockQ8_1>(src, i);
    const float d = F16ToF32(b.d);
    for (int j = 0; j < qk; ++j) y[i * qk + j] = b.qs[j] * d;
  }
}

}  // namespace qs::ref
