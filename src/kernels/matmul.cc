#include "kernels/matmul.h"

#include <cstring>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "quant/fp16.h"
#include "quant/quant.h"

namespace qs {

WeightMatrix WeightMatrix::RowSlice(int64_t r0, int64_t n) const {
  QS_CHECK(r0 >= 0 && n >= 0 && r0 + n <= rows);
  WeightMatrix s = *this;
  s.rows = n;
  s.data = data + static_cast<size_t>(r0) * row_stride;
  if (dtype == DType::kF8E4M3) {
    QS_CHECK_MSG(r0 % block_rows == 0, "fp8 row slice must start on a scale block");
    s.scale_inv = scale_inv + (r0 / block_rows) * scale_cols;
  }
  return s;
}

void DecodeRowRange(const WeightMatrix& w, int64_t row, int64_t c0, int64_t n, float* out) {
  const uint8_t* p = w.data + static_cast<size_t>(row) * w.row_stride;
  switch (w.dtype) {
    case DType::kF32:
      std::memcpy(out, p + c0 * 4, static_cast<size_t>(n) * 4);
      return;
    case DType::kBF16: {
      const uint16_t* s = reinterpret_cast<const uint16_t*>(p) + c0;
      for (int64_t i = 0; i < n; ++i) out[i] = Bf16ToF32(s[i]);
      return;
    }
    case DType::kF16: {
      const uint16_t* s = reinterpret_cast<const uint16_t*>(p) + c0;
      for (int64_t i = 0; i < n; ++i) out[i] = F16ToF32(s[i]);
      return;
    }
    case DType::kF8E4M3: {
      // weight = e4m3(code) * scale_inv[row / br][col / bc], in fp32 (DeepSeek's weight_dequant).
      const float* srow = w.scale_inv + (row / w.block_rows) * w.scale_cols;
      const float* table = Fp8E4M3Table();
      for (int64_t i = 0; i < n; ++i) {
        int64_t c = c0 + i;
        out[i] = table[p[c]] * srow[c / w.block_cols];
      }
      return;
    }
    case DType::kGgmlBlock: {
      // Blocks span the row, so decode it whole (bit-exact with ggml's dequantize_row_*).
      if (c0 == 0 && n == w.cols) {
        QS_CHECK(DequantizeRow(w.qtype, p, out, w.cols).ok());
        return;
      }
      thread_local std::vector<float> row;
      if (static_cast<int64_t>(row.size()) < w.cols) row.resize(static_cast<size_t>(w.cols));
      QS_CHECK(DequantizeRow(w.qtype, p, row.data(), w.cols).ok());
      std::memcpy(out, row.data() + c0, static_cast<size_t>(n) * 4);
      return;
    }
    default:
      QS_CHECK_MSG(false, "DecodeRow: unsupported dtype for " + w.name);
  }
}

void DecodeRow(const WeightMatrix& w, int64_t row, float* out) { DecodeRowRange(w, row, 0, w.cols, out); }

float Dot(const float* a, const float* b, int64_t n) {
  // Eight independent partial sums: enough ILP for the scalar path, fixed summation order.
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) s[k] += a[i + k] * b[i + k];
  float r = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
  for (; i < n; ++i) r += a[i] * b[i];
  return r;
}

void MatMul(const WeightMatrix& w, const float* x, int64_t x_stride, int64_t T, float* y,
            int64_t y_stride, ThreadPool* pool) {
  const int64_t rows = w.rows, cols = w.cols;
  auto body = [&](int64_t r0, int64_t r1, int) {
    thread_local std::vector<float> buf;
    if (static_cast<int64_t>(buf.size()) < cols) buf.resize(static_cast<size_t>(cols));
    for (int64_t r = r0; r < r1; ++r) {
      const float* row;
      if (w.dtype == DType::kF32) {
        row = reinterpret_cast<const float*>(w.data + static_cast<size_t>(r) * w.row_stride);
      } else {
        DecodeRow(w, r, buf.data());
        row = buf.data();
      }
      for (int64_t t = 0; t < T; ++t) y[t * y_stride + r] = Dot(row, x + t * x_stride, cols);
    }
  };
  // Small matrices are not worth waking the other threads for.
  if (pool == nullptr || rows * cols * T < (1 << 15)) {
    body(0, rows, 0);
  } else {
    pool->ParallelFor(rows, body, 16);
  }
}

void MatTVecAccumulate(const WeightMatrix& w, int64_t r0, int64_t n, const float* a, float* y) {
  thread_local std::vector<float> buf;
  if (static_cast<int64_t>(buf.size()) < w.cols) buf.resize(static_cast<size_t>(w.cols));
  for (int64_t r = 0; r < n; ++r) {
    DecodeRow(w, r0 + r, buf.data());
    const float ar = a[r];
    for (int64_t c = 0; c < w.cols; ++c) y[c] += ar * buf[c];
  }
}

}  // namespace qs
