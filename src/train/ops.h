// The trainer's primitives, forward and backward, templated on the scalar (float for training,
// double for the finite-difference tests). llm.c style: plain loops over row-major buffers whose
// shapes are written beside each argument; backward functions *accumulate* into their gradient
// outputs (a buffer read by two consumers gets both contributions).
//
// Parallelism: the matrix products split over output rows (forward, dX) or weight rows (dW) with
// the engine's ThreadPool, so each output element is summed by one thread in a fixed order and
// a run is bit-for-bit deterministic whatever the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/matmul.h"

namespace qs::train {

template <class T>
inline T DotT(const T* a, const T* b, int64_t n) {
  T s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}
// fp32: the engine's SIMD dot (kernels/matmul.h).
template <>
inline float DotT<float>(const float* a, const float* b, int64_t n) {
  return Dot(a, b, n);
}

// Runs fn(begin, end) over [0, n) on the pool when the work is worth it.
template <class F>
inline void Par(ThreadPool* pool, int64_t n, int64_t work_per_item, F&& fn) {
  if (!pool || pool->size() <= 1 || n * work_per_item < 32768) {
    fn(int64_t{0}, n);
    return;
  }
  pool->ParallelFor(n, [&](int64_t b, int64_t e, int) { fn(b, e); });
}

// Y[N, out] = X[N, in] · W[out, in]^T  (torch nn.Linear without bias).
template <class T>
void Linear(const T* X, const T* W, int64_t N, int64_t in, int64_t out, T* Y, ThreadPool* pool) {
  Par(pool, N, in * out, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t o = 0; o < out; ++o) Y[r * out + o] = DotT(X + r * in, W + o * in, in);
  });
}

// dX[N, in] += dY[N, out] · W[out, in];  dW[out, in] += dY^T · X.  (dX or dW may be null.)
template <class T>
void LinearBack(const T* X, const T* W, const T* dY, int64_t N, int64_t in, int64_t out, T* dX, T* dW,
                ThreadPool* pool) {
  if (dX)
    Par(pool, N, in * out, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        T* dx = dX + r * in;
        for (int64_t o = 0; o < out; ++o) {
          const T g = dY[r * out + o];
          if (g == T(0)) continue;
          const T* w = W + o * in;
          for (int64_t i = 0; i < in; ++i) dx[i] += g * w[i];
        }
      }
    });
  if (dW)
    Par(pool, out, N * in, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        T* dw = dW + o * in;
        for (int64_t r = 0; r < N; ++r) {
          const T g = dY[r * out + o];
          if (g == T(0)) continue;
          const T* x = X + r * in;
          for (int64_t i = 0; i < in; ++i) dw[i] += g * x[i];
        }
      }
    });
}

// fp32: the engine's MatMul (kernels/matmul.h: AVX2 / AVX-512 GEMM tiles, split over output
// rows, so still deterministic in the thread count). The backward products are MatMuls too, on
// transposed operands: dX = dY · W is MatMul(W^T, dY) and dW = dY^T · X is MatMul(X^T, dY^T)
// (train/ops.cc).
template <>
void Linear<float>(const float* X, const float* W, int64_t N, int64_t in, int64_t out, float* Y, ThreadPool* pool);
template <>
void LinearBack<float>(const float* X, const float* W, const float* dY, int64_t N, int64_t in, int64_t out, float* dX,
                       float* dW, ThreadPool* pool);

// y[n] = x[n] / rms(x) * w[n], rms = sqrt(mean(x^2) + eps); returns 1/rms (kept for backward).
template <class T>
T RmsNormFwd(const T* x, const T* w, int64_t n, double eps, T* y) {
  T ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const T inv = T(1) / std::sqrt(ss / T(n) + T(eps));
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * inv * w[i];
  return inv;
}
// dx += inv * (w*dy - xhat * mean(xhat * w*dy)),  dw += dy * xhat, with xhat = x * inv.
template <class T>
void RmsNormBack(const T* x, const T* w, T inv, const T* dy, int64_t n, T* dx, T* dw) {
  T m = 0;
  for (int64_t i = 0; i < n; ++i) m += x[i] * inv * w[i] * dy[i];
  m /= T(n);
  for (int64_t i = 0; i < n; ++i) {
    const T xh = x[i] * inv;
    dx[i] += inv * (w[i] * dy[i] - xh * m);
    if (dw) dw[i] += dy[i] * xh;
  }
}

// Rows of an [N, n] buffer normalised with one weight; inv[N] saved.
template <class T>
void RmsNormRows(const T* x, int64_t xs, const T* w, int64_t N, int64_t n, double eps, T* y, int64_t ys, T* inv) {
  for (int64_t r = 0; r < N; ++r) inv[r] = RmsNormFwd(x + r * xs, w, n, eps, y + r * ys);
}
template <class T>
void RmsNormRowsBack(const T* x, int64_t xs, const T* w, const T* inv, const T* dy, int64_t dys, int64_t N, int64_t n,
                     T* dx, int64_t dxs, T* dw) {
  for (int64_t r = 0; r < N; ++r) RmsNormBack(x + r * xs, w, inv[r], dy + r * dys, n, dx + r * dxs, dw);
}

// RoPE tables for positions 0..T-1 on interleaved pairs (x[2i], x[2i+1]), the MLA layout of
// model/rope.h: angle = float(pos) * inv_freq[i] in fp32 as the engine computes it, then
// cos/sin (times YaRN's cos/sin scale). cs[(pos * half + i) * 2 + {0, 1}].
template <class T>
struct RopeTable {
  int64_t dim = 0;
  std::vector<T> cs;
};
template <class T>
void RopeRotate(const RopeTable<T>& tab, int64_t pos, T* x, bool inverse) {
  const int64_t half = tab.dim / 2;
  const T* c = &tab.cs[static_cast<size_t>(pos * half * 2)];
  for (int64_t i = 0; i < half; ++i) {
    const T co = c[2 * i], si = inverse ? -c[2 * i + 1] : c[2 * i + 1];
    const T x0 = x[2 * i], x1 = x[2 * i + 1];
    // The backward of a rotation scaled by s is the transpose: rotation by -angle, same scale.
    x[2 * i] = x0 * co - x1 * si;
    x[2 * i + 1] = x0 * si + x1 * co;
  }
}

// SwiGLU: h = silu(g) * u.
template <class T>
inline T SiluT(T g) {
  return g / (T(1) + std::exp(-g));
}
template <class T>
void SwiGluFwd(const T* g, const T* u, int64_t n, T* h) {
  for (int64_t i = 0; i < n; ++i) h[i] = SiluT(g[i]) * u[i];
}
template <class T>
void SwiGluBack(const T* g, const T* u, const T* dh, int64_t n, T* dg, T* du) {
  for (int64_t i = 0; i < n; ++i) {
    const T s = T(1) / (T(1) + std::exp(-g[i]));
    const T silu = g[i] * s;
    du[i] += dh[i] * silu;
    dg[i] += dh[i] * u[i] * s * (T(1) + g[i] * (T(1) - s));
  }
}

// Mean cross-entropy over rows with target >= 0 (rows with -1 are ignored), times `weight`.
// logits[N, V] are overwritten with d(weight * loss)/d(logits) when grad is true. Returns the
// summed (unweighted) loss and the number of counted rows in *count.
template <class T>
double CrossEntropy(T* logits, const int32_t* target, int64_t N, int64_t V, double weight, int64_t denom, bool grad,
                    ThreadPool* pool, int64_t* count) {
  std::vector<double> row_loss(static_cast<size_t>(N), 0.0);
  Par(pool, N, V * 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      T* z = logits + r * V;
      if (target[r] < 0) {
        if (grad)
          for (int64_t v = 0; v < V; ++v) z[v] = 0;
        continue;
      }
      T mx = z[0];
      for (int64_t v = 1; v < V; ++v) mx = z[v] > mx ? z[v] : mx;
      double se = 0;
      for (int64_t v = 0; v < V; ++v) se += std::exp(static_cast<double>(z[v] - mx));
      const double lse = std::log(se) + static_cast<double>(mx);
      row_loss[static_cast<size_t>(r)] = lse - static_cast<double>(z[target[r]]);
      if (grad) {
        const double sc = weight / static_cast<double>(denom);
        for (int64_t v = 0; v < V; ++v) z[v] = static_cast<T>(std::exp(static_cast<double>(z[v]) - lse) * sc);
        z[target[r]] -= static_cast<T>(sc);
      }
    }
  });
  double s = 0;
  int64_t c = 0;
  for (int64_t r = 0; r < N; ++r)
    if (target[r] >= 0) {
      s += row_loss[static_cast<size_t>(r)];
      ++c;
    }
  if (count) *count = c;
  return s;
}

}  // namespace qs::train
