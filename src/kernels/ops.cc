#include "kernels/ops.h"

#include <cmath>

#include "kernels/matmul.h"

namespace qs {

void RmsNorm(const float* x, const float* w, int64_t n, double eps, float* y) {
  // Sum of squares in fp32 like torch's x.pow(2).mean(); 4 partial sums keep it accurate enough
  // and let the compiler pipeline the loop.
  float ss = Dot(x, x, n);
  float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + static_cast<float>(eps));
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * inv * w[i];
}

void Softmax(float* x, int64_t n) { SoftmaxKernel(x, n); }

void SoftmaxPrecise(float* x, int64_t n) {
  float m = -INFINITY;
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  float s = 0.f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    s += x[i];
  }
  float inv = 1.0f / s;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

float Sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

void SwiGlu(const float* g, const float* u, int64_t n, float* out) { SwiGluKernel(g, u, n, out); }

void Axpy(float a, const float* x, float* y, int64_t n) { AxpyKernel(a, x, y, n); }

}  // namespace qs
