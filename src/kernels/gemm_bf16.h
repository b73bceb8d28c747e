// F16-weight prefill with AVX512-BF16 (vdpbf16ps), included by gemm_avx512.cc only (the one
// translation unit compiled with -mavx512bf16; the AVX2 build has no bf16 instructions). Like
// gemm_impl.h, everything here has internal linkage.
//
// Why: vdpbf16ps does 32 multiply-adds per zmm instruction (pairs of bf16 products summed into
// fp32 lanes) at the issue rate of a 16-lane fp32 FMA, so on a Zen 5 class core it has twice the
// MAC rate of the fp32 tile that F16 weights otherwise use (vcvtph2ps + vfmadd231ps).
//
// Precision (the policy is in matmul.cc: F16 weights only, T >= kDequantMinT only, opt-in with
// QIUSUO_F16_PREFILL=bf16): weights and activations are rounded to bf16 (nearest even, 8
// significant bits: relative error <= 2^-8 each); the products of two bf16 are exact in fp32 and
// accumulate in fp32. Real F16 GGUFs of DeepSeek/Qwen models are converted from bf16-trained
// checkpoints, and bf16 -> f16 -> bf16 is exact for normal-range values, so rounding their F16
// weights to bf16 usually loses nothing; the activation rounding is the kind llama.cpp applies
// (it rounds activations to f16 for F16 weights), 8x coarser. Decode (T < kDequantMinT) keeps
// fp32 activations. (docs/PERFORMANCE.md has the golden-test figures.)
//
// Layout (built transiently, as TileI8's, see gemm_impl.h): an L2-sized block of rows is repacked
// once per MatMul call into groups of 16 rows; per group and pair of columns p one zmm holds the
// 16 rows' weights, 32-bit lane k = row k with bf16(w[k][2p]) in the low and bf16(w[k][2p+1]) in
// the high half. One broadcast of the activation pair (x[2p], x[2p+1], 4 bytes) times that vector
// gives the 16 rows' pair dots in one vdpbf16ps, so the result needs no horizontal sum: lane k of
// the accumulator is y[t][row k]. The tile is R groups x NT tokens of such accumulators and walks
// the packed block once per NT tokens.
#pragma once

#if !defined(__AVX512BF16__)
#error "gemm_bf16.h needs -mavx512bf16 (include it from gemm_avx512.cc only)"
#endif

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/gemm_impl.h"

namespace qs::kern {
namespace {

// Bytes of packed rows kept hot while all token groups pass (as kI8BlockBytes).
#ifndef QS_BF16_BLOCK_KIB
#define QS_BF16_BLOCK_KIB 256
#endif
constexpr int64_t kBf16BlockBytes = QS_BF16_BLOCK_KIB * 1024;
// Tile: R groups of 16 rows x NT tokens = R * NT zmm accumulators, plus R weight vectors and the
// activation broadcast (of 32 zmm).
#ifndef QS_BF16_GROUPS
#define QS_BF16_GROUPS 2
#endif
#ifndef QS_BF16_TOKENS
#define QS_BF16_TOKENS 8
#endif
constexpr int kBf16Groups = QS_BF16_GROUPS, kBf16Tokens = QS_BF16_TOKENS;

// uint16 per packed group: 16 rows x columns padded to 32 (whole 16-pair transposes).
inline int64_t Bf16GroupElems(int64_t cols) { return (cols + 31) / 32 * 32 * 16; }

// x[0..n) to bf16 with vcvtne2ps2bf16: round to nearest even, subnormal inputs to signed zero,
// NaN kept (quiet). out gets n + n % 2 values (an odd n padded with +0, so pairs are whole).
inline void RoundBf16(const float* x, int64_t n, uint16_t* out) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
    _mm512_storeu_si512(out + i, (__m512i)v);
  }
  if (i < n) {
    const int64_t m = n - i, m2 = m + (m & 1);
    // The tail (m < 32 floats) through two 16-lane masks; masked-off lanes load as zero.
    const __mmask16 lo = static_cast<__mmask16>(m >= 16 ? 0xFFFF : (1u << m) - 1);
    const __mmask16 hi = static_cast<__mmask16>(m > 16 ? (1u << (m - 16)) - 1 : 0);
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, x + i + 16), _mm512_maskz_loadu_ps(lo, x + i));
    _mm512_mask_storeu_epi16(out + i, static_cast<__mmask32>((1ull << m2) - 1), (__m512i)v);
  }
}

// In-register transpose of a 16 x 16 matrix of 32-bit elements: v[i] lane j -> v[j] lane i.
inline void Transpose16x16(__m512i v[16]) {
  __m512i t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(v[i], v[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(v[i], v[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    v[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    v[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    v[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    v[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  // Now v[4q + j] holds, per 128-bit lane l, the elements (row 4q..4q+3, column 4l + j).
  for (int i = 0; i < 16; i += 8) {
    for (int j = 0; j < 4; ++j) {
      t[i + j] = _mm512_shuffle_i32x4(v[i + j], v[i + 4 + j], 0x88);
      t[i + 4 + j] = _mm512_shuffle_i32x4(v[i + j], v[i + 4 + j], 0xDD);
    }
  }
  for (int j = 0; j < 8; ++j) {
    v[j] = _mm512_shuffle_i32x4(t[j], t[8 + j], 0x88);
    v[8 + j] = _mm512_shuffle_i32x4(t[j], t[8 + j], 0xDD);
  }
}

// Packs rows [r, r + nvalid) (nvalid <= 16; the others are zero padding, never stored) of an F16
// weight into one group (layout above): per 32 columns, the 16 rows are loaded and rounded to
// bf16 (exact f16 -> fp32, then nearest-even to bf16) as 16 vectors of 16 column pairs, and one
// transpose turns them into 16 vectors of 16 rows, written as whole cache lines. Columns past
// cols are zero (masked loads), so the odd last pair is (w, 0).
inline void PackGroupBf16(const WDesc& w, int64_t r, int64_t nvalid, uint16_t* out) {
  const int64_t cols = w.cols, nchunks = (cols + 31) / 32;
  const uint16_t* rows[16];
  for (int k = 0; k < 16; ++k)
    rows[k] = k < nvalid ? reinterpret_cast<const uint16_t*>(w.data + static_cast<size_t>(r + k) * w.row_stride) : nullptr;
  for (int64_t ch = 0; ch < nchunks; ++ch) {
    const int64_t c = ch * 32, m = cols - c < 32 ? cols - c : 32;
    __m512i v[16];
    for (int k = 0; k < 16; ++k) {
      if (rows[k] == nullptr) {
        v[k] = _mm512_setzero_si512();
        continue;
      }
      __m256i lo, hi;
      if (m == 32) {
        lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[k] + c));
        hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[k] + c + 16));
      } else {
        const __m512i h = _mm512_maskz_loadu_epi16(static_cast<__mmask32>((1ull << m) - 1), rows[k] + c);
        lo = _mm512_castsi512_si256(h);
        hi = _mm512_extracti64x4_epi64(h, 1);
      }
      v[k] = (__m512i)_mm512_cvtne2ps_pbh(_mm512_cvtph_ps(hi), _mm512_cvtph_ps(lo));
    }
    Transpose16x16(v);
    for (int j = 0; j < 16; ++j) _mm512_storeu_si512(out + (ch * 16 + j) * 32, v[j]);
  }
}

// R groups (R * 16 rows) x NT tokens over all column pairs; nvalid rows of the R * 16 are stored.
template <int R, int NT>
inline void TileBf16(const uint16_t* pack, int64_t gelems, int64_t npairs, const XDesc& x, int64_t r, int64_t nvalid,
                     int64_t t0, float* y, int64_t ys) {
  __m512 acc[R][NT];
  for (int g = 0; g < R; ++g)
    for (int t = 0; t < NT; ++t) acc[g][t] = _mm512_setzero_ps();
  const uint16_t* xb[NT];
  for (int t = 0; t < NT; ++t) xb[t] = x.xbf + (t0 + t) * x.xbf_stride;
  for (int64_t p = 0; p < npairs; ++p) {
    __m512bh wv[R];
    for (int g = 0; g < R; ++g) wv[g] = (__m512bh)_mm512_loadu_si512(pack + g * gelems + p * 32);
    for (int t = 0; t < NT; ++t) {
      int32_t pair;
      std::memcpy(&pair, xb[t] + 2 * p, 4);
      const __m512bh xv = (__m512bh)_mm512_set1_epi32(pair);
      for (int g = 0; g < R; ++g) acc[g][t] = _mm512_dpbf16_ps(acc[g][t], wv[g], xv);
    }
  }
  for (int g = 0; g < R; ++g)
    for (int t = 0; t < NT; ++t) {
      float* yt = y + (t0 + t) * ys + r + g * 16;
      const int64_t n = nvalid - g * 16;
      if (n >= 16) _mm512_storeu_ps(yt, acc[g][t]);
      else if (n > 0) _mm512_mask_storeu_ps(yt, static_cast<__mmask16>((1u << n) - 1), acc[g][t]);
    }
}

template <int R, int NT>
inline void RunNtBf16(int64_t nt, const uint16_t* pack, int64_t gelems, int64_t npairs, const XDesc& x, int64_t r,
                      int64_t nvalid, int64_t t0, float* y, int64_t ys) {
  if constexpr (NT <= 1) {
    TileBf16<R, 1>(pack, gelems, npairs, x, r, nvalid, t0, y, ys);
  } else {
    if (nt >= NT) TileBf16<R, NT>(pack, gelems, npairs, x, r, nvalid, t0, y, ys);
    else RunNtBf16<R, NT - 1>(nt, pack, gelems, npairs, x, r, nvalid, t0, y, ys);
  }
}

inline bool CanRunBf16(const WDesc& w, const XDesc& x, int64_t scratch_n) {
  return w.fmt == WFmt::kF16 && x.T >= kDequantMinT && x.xbf != nullptr &&
         scratch_n * 4 >= kBf16Groups * Bf16GroupElems(w.cols) * 2;
}

void RunBf16(const WDesc& w, const XDesc& x, float* y, int64_t ys, int64_t r0, int64_t r1, float* scratch,
             int64_t scratch_n) {
  constexpr int R = kBf16Groups, NT = kBf16Tokens;
  const int64_t npairs = (w.cols + 1) / 2, gelems = Bf16GroupElems(w.cols), gbytes = gelems * 2;
  int64_t gpb = kBf16BlockBytes / gbytes;
  const int64_t cap = scratch_n * 4 / gbytes;
  if (gpb > cap) gpb = cap;
  gpb = gpb < R ? R : gpb / R * R;
  uint16_t* pack = reinterpret_cast<uint16_t*>(scratch);
  for (int64_t b0 = r0; b0 < r1; b0 += gpb * 16) {
    const int64_t nrows = r1 - b0 < gpb * 16 ? r1 - b0 : gpb * 16;
    const int64_t ng = (nrows + 15) / 16;
    for (int64_t g = 0; g < ng; ++g) {
      const int64_t nv = nrows - g * 16 < 16 ? nrows - g * 16 : 16;
      PackGroupBf16(w, b0 + g * 16, nv, pack + g * gelems);
    }
    // The next block's F16 rows, prefetched into L2 a slice per token group while this block's
    // tiles run, so the next pack reads them from L2, not memory (T = 64, 8960 x 1536: -10%).
    const int64_t n0 = b0 + gpb * 16 < r1 ? b0 + gpb * 16 : r1;
    const int64_t n1 = n0 + gpb * 16 < r1 ? n0 + gpb * 16 : r1;
    const char* pf = reinterpret_cast<const char*>(w.data + static_cast<size_t>(n0) * w.row_stride);
    const int64_t pf_lines = (n1 - n0) * static_cast<int64_t>(w.row_stride) / 64;
    const int64_t ntg = (x.T + NT - 1) / NT;
    const int64_t per = (pf_lines + ntg - 1) / ntg;
    int64_t pf_done = 0;
    for (int64_t t0 = 0; t0 < x.T; t0 += NT) {
      const int64_t nt = x.T - t0 < NT ? x.T - t0 : NT;
      const int64_t pf_end = pf_done + per < pf_lines ? pf_done + per : pf_lines;
      for (; pf_done < pf_end; ++pf_done) _mm_prefetch(pf + pf_done * 64, _MM_HINT_T1);
      int64_t g = 0;
      for (; g + R <= ng; g += R)
        RunNtBf16<R, NT>(nt, pack + g * gelems, gelems, npairs, x, b0 + g * 16, nrows - g * 16, t0, y, ys);
      for (; g < ng; ++g)
        RunNtBf16<1, NT>(nt, pack + g * gelems, gelems, npairs, x, b0 + g * 16, nrows - g * 16, t0, y, ys);
    }
  }
}

// matmul_rows of the bf16 tables: F16 prefill with bf16 activations here, everything else as
// MatMulRows<V>.
template <class V>
void MatMulRowsBf16(const WDesc& w, const XDesc& x, float* y, int64_t ys, int64_t r0, int64_t r1, float* scratch,
                    int64_t scratch_n) {
  if (CanRunBf16(w, x, scratch_n)) {
    RunBf16(w, x, y, ys, r0, r1, scratch, scratch_n);
    return;
  }
  MatMulRows<V>(w, x, y, ys, r0, r1, scratch, scratch_n);
}

}  // namespace
}  // namespace qs::kern
