#include "kernels/ref/q8_ref.h"

#include <cmath>
#include <cstring>

#include <vector>

#include "quant/fp16.h"
#include "quant/quant.h"

namespace qs::kern::ref {

void QuantizeActsQ8(const float* x, int64_t n, int8_t* q, float* d, float* sx) {
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* xb = x + b * 32;
    float amax = 0.f;
    for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
    // As ggml's x86 quantize_row_q8_0: id = 127 / amax, q = round-to-nearest-even(x * id), and
    // the scale stored as fp16 (amax / 127 rounded to half). Matching the peer's activation
    // rounding keeps our logits statistically indistinguishable from llama.cpp's on the same file.
    const float id = amax != 0.f ? 127.f / amax : 0.f;
    const float db = F16ToF32(F32ToF16(amax / 127.f));
    d[b] = db;
    int32_t sum = 0;
    for (int j = 0; j < 32; ++j) {
      q[b * 32 + j] = static_cast<int8_t>(std::nearbyint(xb[j] * id));
      sum += q[b * 32 + j];
    }
    if (sx) sx[b] = db * static_cast<float>(sum);
  }
}

float DotQ8Row(WFmt fmt, const uint8_t* row, const int8_t* qx, const float* dx, int64_t nb) {
  if (fmt != WFmt::kQ8_0 && fmt != WFmt::kQ4_0) {
    // K-quants and i-quants: the reference dequantizer's weights times the int8 activations, in double.
    static const GgmlType kTypes[] = {GgmlType::Q4_K,    GgmlType::Q5_K,   GgmlType::Q6_K,  GgmlType::IQ4_NL,
                                      GgmlType::IQ4_XS,  GgmlType::IQ2_XXS, GgmlType::IQ2_XS, GgmlType::IQ2_S,
                                      GgmlType::IQ3_XXS, GgmlType::IQ3_S,  GgmlType::IQ1_S, GgmlType::IQ1_M,
                                      GgmlType::Q3_K};
    const GgmlType t = kTypes[static_cast<int>(fmt) - static_cast<int>(WFmt::kQ4_K)];
    std::vector<float> w(static_cast<size_t>(nb * 32));
    (void)DequantizeRow(t, row, w.data(), nb * 32);
    double s = 0;
    for (int64_t b = 0; b < nb; ++b) {
      double blk = 0;
      for (int j = 0; j < 32; ++j) blk += static_cast<double>(w[b * 32 + j]) * qx[b * 32 + j];
      s += blk * dx[b];
    }
    return static_cast<float>(s);
  }
  float s = 0.f;
  for (int64_t b = 0; b < nb; ++b) {
    int8_t w[32];
    uint16_t h;
    if (fmt == WFmt::kQ8_0) {
      const uint8_t* p = row + b * 34;
      std::memcpy(&h, p, 2);
      std::memcpy(w, p + 2, 32);
    } else {
      const uint8_t* p = row + b * 18;
      std::memcpy(&h, p, 2);
      for (int j = 0; j < 16; ++j) {
        w[j] = static_cast<int8_t>((p[2 + j] & 0x0F) - 8);
        w[j + 16] = static_cast<int8_t>((p[2 + j] >> 4) - 8);
      }
    }
    int32_t acc = 0;
    for (int j = 0; j < 32; ++j) acc += static_cast<int32_t>(w[j]) * qx[b * 32 + j];
    s += (F16ToF32(h) * dx[b]) * static_cast<float>(acc);
  }
  return s;
}

}  // namespace qs::kern::ref
