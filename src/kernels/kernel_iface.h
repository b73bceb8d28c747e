// The interface between the dispatcher (matmul.cc, baseline x86-64 code) and the per-ISA kernel
// translation units (gemm_avx2.cc, gemm_avx512.cc, compiled with -mavx2 / -mavx512* flags).
// Only plain structs and function pointers cross it: an ISA translation unit must not emit
// inline functions that baseline code could link to (the linker keeps one copy of each inline
// function, and an AVX-512 copy would crash on an AVX2-only CPU), so those files include no
// standard containers and live in their own namespaces.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qs::kern {

// Weight formats with a direct SIMD kernel. Every other ggml format is decoded to fp32 rows
// (scalar reference dequantizer, a cache-sized block at a time) and runs the kF32 kernel.
enum class WFmt : int {
  kF32, kF16, kBF16, kFp8, kFp4,
  kQ8_0, kQ4_0, kQ4_K, kQ5_K, kQ6_K,  // int formats from here on (IsIntFormat)
  kIQ4_NL, kIQ4_XS, kIQ2_XXS, kIQ2_XS, kIQ2_S, kIQ3_XXS, kIQ3_S, kIQ1_S, kIQ1_M, kQ3_K
};

inline bool IsIntFormat(WFmt f) { return f >= WFmt::kQ8_0; }

struct WDesc {
  WFmt fmt = WFmt::kF32;
  int64_t rows = 0, cols = 0;
  const uint8_t* data = nullptr;
  size_t row_stride = 0;
  // kFp8, kFp4: scale_inv[r / block_rows][c / block_cols] (block_cols a multiple of 16; kFp4:
  // 1 x 32 groups, two weights per byte, low nibble = even column).
  const float* scale_inv = nullptr;
  int64_t block_rows = 128, block_cols = 128, scale_cols = 0;
  // kQ4_0 repacked at load (kernels/pack.h): groups of packed_lanes rows, or null.
  const uint8_t* packed = nullptr;
  int packed_lanes = 0;
};

// Activations. Float formats read x (fp32, x_stride floats per token). The int formats read the
// activations quantized once per MatMul call (ref::QuantizeActsQ8): per token, cols/32 blocks of
// 32 int8 (qx, qx_stride bytes per token) with an fp32 scale each (dx, dx_stride per token).
struct XDesc {
  const float* x = nullptr;
  int64_t x_stride = 0, T = 0;
  const int8_t* qx = nullptr;
  const float* dx = nullptr;
  const float* sx = nullptr;  // d_x * sum of the block's 32 q_x (same layout as dx)
  const int32_t* isx = nullptr;  // sum of the block's 32 q_x (same layout as dx)
  // Sums of each 16-element half of a block's q_x (2 per block, 2 * dx_stride per token): Q6_K
  // repacked at load (gemm_packed.h TileKPacked) takes 32 * sum off per half. Null: not made.
  const int32_t* isx16 = nullptr;
  // Prefill (T >= kDequantMinT) with int-format weights: the same q_x as unsigned bytes q_x + 128
  // (same layout as qx), for vpdpbusd's u8 x s8 form (gemm_impl.h TileI8). Null: no int8 prefill.
  const uint8_t* qxu = nullptr;
  int64_t qx_stride = 0, dx_stride = 0;
  // Prefill (T >= kDequantMinT) with kF16 weights on a kernel table with round_bf16: the
  // activations rounded to bf16 once per MatMul call (round_bf16), xbf_stride uint16 per token,
  // the odd column count padded with one zero (gemm_bf16.h). Null: fp32 activations (x).
  const uint16_t* xbf = nullptr;
  int64_t xbf_stride = 0;
};

inline constexpr int64_t kDequantMinT = 4;
inline constexpr int64_t kScratchFloats = 32 * 1024;  // 128 KiB of widened rows: stays in L2
// Scratch for matmul_rows: the int8 repack needs 2 groups of 16 rows at up to 48 bytes per 32
// weights (12 cols floats) and wants ~256 KiB; the fp32 widening >= 8 rows (8 cols floats); the
// bf16 repack 2 groups of 16 rows at 2 bytes per weight, columns padded to 32 (gemm_bf16.h).
inline int64_t KernelScratchFloats(int64_t cols) {
  const int64_t need = 16 * ((cols + 31) / 32 * 32);
  return need > 64 * 1024 ? need : 64 * 1024;
}

struct KernelTable {
  const char* name;
  // y[t * y_stride + r] = W[r, :] . X[t, :] for r in [r0, r1), t < T. `scratch` (this thread's,
  // scratch_n floats, may be null; KernelScratchFloats(cols) is enough for every path) is where
  // int formats with T >= kDequantMinT prepare blocks of rows: with x.qxu (and x.sx) set they are
  // repacked for the int8 prefill tile, otherwise widened to fp32 to multiply the fp32
  // activations; without scratch they use the int8 activations (x.qx) with the decode tile.
  // kF16 with x.xbf (bf16 tables only) repacks blocks of rows to bf16 there likewise; without
  // x.xbf or scratch it multiplies the fp32 activations.
  void (*matmul_rows)(const WDesc& w, const XDesc& x, float* y, int64_t y_stride, int64_t r0, int64_t r1,
                      float* scratch, int64_t scratch_n);
  float (*dot)(const float* a, const float* b, int64_t n);
  // out[i] = W[row, c0 + i] for i < n, float formats only (kF32/kF16/kBF16/kFp8), exact.
  void (*decode_row)(const WDesc& w, int64_t row, int64_t c0, int64_t n, float* out);
  void (*axpy)(float a, const float* x, float* y, int64_t n);  // y += a * x
  // kern::ref::QuantizeActsQ8, bit-exact, plus optional q + 128 bytes (qu, may be null) and
  // integer block sums (isx, may be null).
  void (*quantize_q8)(const float* x, int64_t n, int8_t* q, uint8_t* qu, float* d, float* sx, int32_t* isx);
  // Attention (kernels/matmul.h AttnScores / AttnWeightedSum).
  void (*attn_scores)(const float* q, int64_t nq, int64_t qs, const float* k, int64_t ks, int64_t S, int64_t d,
                      float scale, float* out, int64_t os);
  void (*attn_wsum)(const float* p, int64_t ps, int64_t nq, const float* v, int64_t vs, int64_t S, int64_t d,
                    float* out, int64_t os);
  void (*swiglu)(const float* g, const float* u, int64_t n, float* out);  // kernels/ops.h SwiGlu
  float (*exp_shift)(float* x, int64_t n, float m);  // x = e^(x - m), returns the sum
  // Only on AVX512-BF16 tables (null elsewhere): x[0..n) rounded to bf16 as vcvtne2ps2bf16 does
  // (nearest even; subnormals to signed zero) into out[0..n + n % 2), an odd n padded with +0.
  // With it, matmul_rows runs kF16 prefill on XDesc::xbf (gemm_bf16.h).
  void (*round_bf16)(const float* x, int64_t n, uint16_t* out);
};

const KernelTable* Avx2Kernels();
// bf16: the table that also runs F16-weight prefill with vdpbf16ps (needs AVX512-BF16).
const KernelTable* Avx512Kernels(bool vnni, bool bf16);

}  // namespace qs::kern
