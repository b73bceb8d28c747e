// Element-wise and normalisation ops on fp32 activations.
#pragma once

#include <cstdint>

namespace qs {

// y = x * rsqrt(mean(x^2) + eps) * w   (RMSNorm, Zhang & Sennrich 2019; fp32 as model.py).
void RmsNorm(const float* x, const float* w, int64_t n, double eps, float* y);
// In place softmax over n values (max-subtracted, fp32), SIMD with a vector exp (~1 ulp).
void Softmax(float* x, int64_t n);
// The same with libm's expf in index order: for routing, where near-ties between experts are
// decided by exact comparisons as in the reference.
void SoftmaxPrecise(float* x, int64_t n);
float Sigmoid(float x);
// out[i] = silu(g[i]) * u[i]  (SwiGLU: down(silu(gate(x)) * up(x))).
void SwiGlu(const float* g, const float* u, int64_t n, float* out);
// y += a * x
void Axpy(float a, const float* x, float* y, int64_t n);

}  // namespace qs
