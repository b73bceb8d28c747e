#include "train/ops.h"

namespace qs::train {

namespace {

WeightMatrix F32Matrix(const float* data, int64_t rows, int64_t cols) {
  WeightMatrix w;
  w.name = "train";
  w.dtype = DType::kF32;
  w.rows = rows;
  w.cols = cols;
  w.data = reinterpret_cast<const uint8_t*>(data);
  w.row_stride = static_cast<size_t>(cols) * sizeof(float);
  return w;
}

// out[c, r] = in[r, c] for in [R, C], in cache-sized tiles, bands of rows over the pool.
void Transpose(const float* in, int64_t R, int64_t C, float* out, ThreadPool* pool) {
  constexpr int64_t kT = 32;
  Par(pool, (R + kT - 1) / kT, kT * C, [&](int64_t b0, int64_t b1) {
    for (int64_t r0 = b0 * kT; r0 < std::min(R, b1 * kT); r0 += kT)
      for (int64_t c0 = 0; c0 < C; c0 += kT)
        for (int64_t r = r0; r < std::min(R, r0 + kT); ++r)
          for (int64_t c = c0; c < std::min(C, c0 + kT); ++c) out[c * R + r] = in[r * C + c];
  });
}

void AddInto(const float* src, int64_t n, float* dst, ThreadPool* pool) {
  Par(pool, n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dst[i] += src[i];
  });
}

}  // namespace

template <>
void Linear<float>(const float* X, const float* W, int64_t N, int64_t in, int64_t out, float* Y, ThreadPool* pool) {
  MatMul(F32Matrix(W, out, in), X, N, Y, pool);
}

template <>
void LinearBack<float>(const float* X, const float* W, const float* dY, int64_t N, int64_t in, int64_t out, float* dX,
                       float* dW, ThreadPool* pool) {
  thread_local std::vector<float> a, b, tmp;
  if (dX) {
    a.resize(static_cast<size_t>(in * out));
    Transpose(W, out, in, a.data(), pool);  // W^T [in, out]
    tmp.resize(static_cast<size_t>(N * in));
    MatMul(F32Matrix(a.data(), in, out), dY, N, tmp.data(), pool);  // [N, in]
    AddInto(tmp.data(), N * in, dX, pool);
  }
  if (dW) {
    a.resize(static_cast<size_t>(in * N));
    Transpose(X, N, in, a.data(), pool);  // X^T [in, N]
    b.resize(static_cast<size_t>(out * N));
    Transpose(dY, N, out, b.data(), pool);  // dY^T [out, N]
    tmp.resize(static_cast<size_t>(out * in));
    MatMul(F32Matrix(a.data(), in, N), b.data(), out, tmp.data(), pool);  // [out, in]
    AddInto(tmp.data(), out * in, dW, pool);
  }
}

}  // namespace qs::train
