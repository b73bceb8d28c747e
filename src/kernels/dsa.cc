#include "kernels/dsa.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/matmul.h"
#include "quant/fp4.h"
#include "quant/fp8.h"

namespace qs {

void HadamardRotate(float* x, int64_t n) {
  for (int64_t h = 1; h < n; h *= 2)
    for (int64_t i = 0; i < n; i += 2 * h)
      for (int64_t j = i; j < i + h; ++j) {
        const float a = x[j], b = x[j + h];
        x[j] = a + b;
        x[j + h] = a - b;
      }
  const float scale = static_cast<float>(std::pow(static_cast<double>(n), -0.5));
  for (int64_t i = 0; i < n; ++i) x[i] *= scale;
}

float QuantizeE4M3Ue8m0(const float* x, int64_t n, float* q) {
  float amax = 1e-4f;
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  float s = amax * (1.0f / 448.0f);
  uint32_t bits;
  std::memcpy(&bits, &s, 4);
  const int e = static_cast<int>((bits >> 23) & 0xFF) - 127 + ((bits & 0x7FFFFF) != 0);
  s = std::ldexp(1.0f, e);
  for (int64_t i = 0; i < n; ++i) {
    const float v = std::clamp(x[i] / s, -448.0f, 448.0f);
    q[i] = Fp8E4M3ToF32(F32ToFp8E4M3(v));
  }
  return s;
}

void LayerNorm(const float* x, const float* w, const float* b, int64_t n, double eps, float* y) {
  double mean = 0;
  for (int64_t i = 0; i < n; ++i) mean += x[i];
  mean /= static_cast<double>(n);
  double var = 0;
  for (int64_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= static_cast<double>(n);
  const double inv = 1.0 / std::sqrt(var + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>((x[i] - mean) * inv) * w[i] + b[i];
}

void IndexScores(const float* q, int64_t H, int64_t d, const float* w, const float* keys, int64_t ks, int64_t S,
                 float* out, std::vector<float>* scratch) {
  constexpr int64_t B = 64;
  scratch->resize(static_cast<size_t>(H * B));
  float* sc = scratch->data();
  for (int64_t j0 = 0; j0 < S; j0 += B) {
    const int64_t n = std::min(B, S - j0);
    // sc[h][j] = q_h . k_j: the SIMD attention-score kernel, each key row read once for all heads.
    AttnScores(q, H, d, keys + j0 * ks + 1, ks, n, d, 1.0f, sc, B);
    for (int64_t j = 0; j < n; ++j) {
      float acc = 0.f;
      for (int64_t h = 0; h < H; ++h) acc += w[h] * std::max(sc[h * B + j], 0.0f);
      out[j0 + j] = keys[(j0 + j) * ks] * acc;
    }
  }
}

}  // namespace qs

namespace qs {

namespace {
// 2^ceil(log2 s) from the fp32 bits (exponent - 127 + (mantissa != 0)), as kernel.py's ue8m0 rounding.
float Ue8m0Ceil(float s) {
  uint32_t bits;
  std::memcpy(&bits, &s, 4);
  const int e = static_cast<int>((bits >> 23) & 0xFF) - 127 + ((bits & 0x7FFFFF) != 0);
  return std::ldexp(1.0f, e);
}
}  // namespace

void Fp8RoundTrip(float* x, int64_t n, int64_t block) {
  std::vector<float> q(static_cast<size_t>(block));
  for (int64_t b = 0; b < n; b += block) {
    const int64_t m = std::min(block, n - b);
    const float s = QuantizeE4M3Ue8m0(x + b, m, q.data());
    for (int64_t i = 0; i < m; ++i) x[b + i] = q[i] * s;
  }
}

void Fp4RoundTrip(float* x, int64_t n) {
  for (int64_t b = 0; b < n; b += 32) {
    const int64_t m = std::min<int64_t>(32, n - b);
    float amax = 6.0f * 1.1754943508222875e-38f;  // 6 * 2^-126
    for (int64_t i = 0; i < m; ++i) amax = std::max(amax, std::fabs(x[b + i]));
    const float s = Ue8m0Ceil(amax * (1.0f / 6.0f));
    for (int64_t i = 0; i < m; ++i) {
      const float v = std::clamp(x[b + i] / s, -6.0f, 6.0f);
      x[b + i] = E2M1ToF32(F32ToE2M1(v)) * s;
    }
  }
}

}  // namespace qs
