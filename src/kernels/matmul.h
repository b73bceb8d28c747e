// One MatMul for every weight format. A WeightMatrix is a view of a [rows, cols] row-major
// weight as stored in the file (F32/F16/BF16, FP8-e4m3 with 128x128 block scales, and the ggml
// block formats); activations are given in fp32 (the end of this file says which paths round
// them). Rows are converted on the fly (or a cache-sized block at a time), so the weights stay in
// their stored dtype in memory (mmapped) and no converted copy is ever kept.
#pragma once

#include <cstdint>
#include <string>

#include "tensor/dtype.h"
#include "tensor/ggml_type.h"

namespace qs {

class ThreadPool;

struct WeightMatrix {
  std::string name;
  DType dtype = DType::kUnknown;
  int64_t rows = 0, cols = 0;
  const uint8_t* data = nullptr;
  size_t row_stride = 0;  // bytes between consecutive rows
  // FP8 only: F32 scale_inv[ceil(rows/br), ceil(cols/bc)] that multiplies each block
  // (DeepSeek-V3 release: weight = fp8 * weight_scale_inv, 128x128 blocks).
  const float* scale_inv = nullptr;
  int64_t block_rows = 128, block_cols = 128, scale_cols = 0;
  // kGgmlBlock only: the ggml block format of every row (rows are whole blocks, GGUF layout).
  GgmlType qtype = GgmlType::F32;
  // A resident copy in the kernels' interleaved layout (kernels/pack.h), groups of packed_lanes
  // rows, or null. `data` stays valid (the bytes may have to be re-read from the file).
  const uint8_t* packed = nullptr;
  int packed_lanes = 0;

  bool valid() const { return data != nullptr; }
  // A view of rows [r0, r0+n). FP8 blocks must stay aligned, so r0 % block_rows == 0 unless
  // the caller only decodes rows through DecodeRow (which handles any row). A packed view keeps
  // its packed rows when r0 is a multiple of packed_lanes.
  WeightMatrix RowSlice(int64_t r0, int64_t n) const;
};

// out[0..cols) = W[row, :] as fp32 (exact widening; FP8 times its block scale in fp32).
void DecodeRow(const WeightMatrix& w, int64_t row, float* out);
// out[c] = W[row, c0 + c] for c < n.
void DecodeRowRange(const WeightMatrix& w, int64_t row, int64_t c0, int64_t n, float* out);

// Y[t, r] = sum_c W[r, c] * X[t, c] for t < T.  X: [T, cols], Y: [T, rows] (row strides given).
void MatMul(const WeightMatrix& w, const float* x, int64_t x_stride, int64_t T, float* y,
            int64_t y_stride, ThreadPool* pool);
inline void MatMul(const WeightMatrix& w, const float* x, int64_t T, float* y, ThreadPool* pool) {
  MatMul(w, x, w.cols, T, y, w.rows, pool);
}

// Several independent products in one parallel region: the results of MatMul on each job, with
// one synchronisation for all (a token's experts, gate + up, q + k + v) and activations shared
// by several jobs (the same x, stride, T and cols) quantized once.
struct MatMulJob {
  const WeightMatrix* w;
  const float* x;
  int64_t x_stride, T;
  float* y;
  int64_t y_stride;
};
void MatMulMany(const MatMulJob* jobs, int64_t n_jobs, ThreadPool* pool);

// Attention over cached rows (the SIMD paths read each key / value row once for all nq queries):
//   AttnScores:      out[i * os + s] = scale * (q_i . k_s),  q_i = q + i * qs, k_s = k + s * ks
//   AttnWeightedSum: out[i * os + c] = sum_s p[i * ps + s] * v_s[c],  v_s = v + s * vs
// for i < nq, s < S and d columns. The scalar twins sum in index order.
void AttnScores(const float* q, int64_t nq, int64_t qs, const float* k, int64_t ks, int64_t S, int64_t d, float scale,
                float* out, int64_t os);
void AttnWeightedSum(const float* p, int64_t ps, int64_t nq, const float* v, int64_t vs, int64_t S, int64_t d,
                     float* out, int64_t os);

// fp32 dot product (SIMD per the active ISA; the scalar twin keeps 8 partial sums).
float Dot(const float* a, const float* b, int64_t n);
// out = silu(g) * u (kernels/ops.h SwiGlu): SIMD with a Cephes-style vector exp (~1 ulp) per the
// active ISA; the scalar path uses std::exp.
void SwiGluKernel(const float* g, const float* u, int64_t n, float* out);
// x[i] = e^(x[i] - m) in place (the same vector exp); returns the sum.
float ExpShiftKernel(float* x, int64_t n, float m);
// y += a * x (SIMD per the active ISA).
void AxpyKernel(float a, const float* x, float* y, int64_t n);

// The kernel set MatMul/Dot use now: "scalar", "avx2", "avx512" or "avx512-vnni", with "-bf16"
// appended where F16 prefill runs on bf16 (from CPUID, capped by SetIsaCap in
// base/cpu.h, and F16PrefillBf16 below).
const char* KernelName();

// Whether F16-weight prefill (T >= 4) may use AVX512-BF16 (where the CPU has it and the ISA level
// is avx512): weights and activations rounded to bf16, products accumulated in fp32, ~2x the
// multiply-add rate of the fp32 path (kernels/gemm_bf16.h). The CLI sets it at start-up
// (--f16-prefill bf16|fp32 or QIUSUO_F16_PREFILL; runtime/runtime_config.h); the default is in
// matmul.cc.
bool F16PrefillBf16();
// Sets it for this process (tests run both paths); returns the previous setting.
bool SetF16PrefillBf16(bool on);

// Activations: F32/BF16/FP8 weights (and the ggml formats without a direct kernel, which are
// widened to fp32 a block of rows at a time) always multiply fp32 activations, and so do F16
// weights in decode (T < 4) and on CPUs without AVX512-BF16. F16 prefill on AVX512-BF16 rounds
// activations and weights to bf16 (see F16PrefillBf16, kernels/gemm_bf16.h). Q8_0, Q4_0, Q3_K, Q4_K,
// Q5_K, Q6_K and i-quant weights on the SIMD paths multiply activations quantized to int8 per 32 values
// (fp32 scale), as llama.cpp does; the scalar path (QIUSUO_ISA=scalar) stays fp32. Q4_0, Q8_0 (VNNI),
// Q4_K, Q5_K and Q6_K are repacked at load (kernels/pack.h) and then run one kernel for decode
// and prefill.

}  // namespace qs
