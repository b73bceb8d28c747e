// The SIMD kernels, written once over the vector layer (simd.h) and the weight format, and
// instantiated per ISA by gemm_avx2.cc / gemm_avx512.cc. Everything here has internal linkage
// (anonymous namespace) so no ISA-specific code can leak into baseline code at link time.
//
// Float formats (F32/F16/BF16/FP8): fp32 activations; each weight vector is widened in registers
// and multiplied into NT token accumulators, so a weight row is read once per NT tokens. For
// T > 1 rows are processed in cache-sized blocks (kBlockBytes): the block stays in L2 while every
// group of kNT tokens passes over it, so the weights are read from memory once per MatMul call.
//
// Q8_0 / Q4_0 / Q4_K / Q5_K / Q6_K and the i-quants (gemm_iq.h): int8 activations (one scale per 32, like ggml's Q8_0
// activations) against the integer weights: integer dot product per 32-element block (VNNI where
// present), then one fp32 multiply-add with the block's scales, as llama.cpp's
// ggml_vec_dot_*_q8_* do. Prefill (T >= kDequantMinT): the int8 tile over rows repacked one
// int32 lane per row (TileI8).
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/kernel_iface.h"
#include "kernels/gemm_ops_impl.h"
#include "kernels/gemm_packed.h"
#include "kernels/simd.h"
#include "quant/iq_grids.h"

#ifndef QS_PREFETCH_BYTES
#define QS_PREFETCH_BYTES 8192
#endif

namespace qs::kern {
namespace {

constexpr int64_t kBlockBytes = 96 * 1024;  // weight rows kept hot while token groups pass over
constexpr int64_t kPrefetchBytes = QS_PREFETCH_BYTES;

inline float HalfToFloat(uint16_t h) { return _cvtsh_ss(h); }

// Scalar tail: the same value as LoadFp8 lanes (code value / 2^8, see simd.h).
inline float Fp8ToFloatDiv256(uint8_t v) {
  return _cvtsh_ss(static_cast<uint16_t>(((v & 0x80) << 8) | ((v & 0x7F) << 7)));
}

// ---- float formats: Load<V>(row, c) widens V::N weights at column c; At(row, c) one of them ----
struct FmtF32 {
  static constexpr int64_t kSize = 4;  // bytes per weight
  static constexpr bool kScaled = false;
  template <class V> static typename V::F Load(const uint8_t* r, int64_t c) { return V::Load(reinterpret_cast<const float*>(r) + c); }
  static float At(const uint8_t* r, int64_t c) { return reinterpret_cast<const float*>(r)[c]; }
};
struct FmtF16 {
  static constexpr int64_t kSize = 2;  // bytes per weight
  static constexpr bool kScaled = false;
  template <class V> static typename V::F Load(const uint8_t* r, int64_t c) { return V::LoadF16(reinterpret_cast<const uint16_t*>(r) + c); }
  static float At(const uint8_t* r, int64_t c) { return HalfToFloat(reinterpret_cast<const uint16_t*>(r)[c]); }
};
struct FmtBf16 {
  static constexpr int64_t kSize = 2;  // bytes per weight
  static constexpr bool kScaled = false;
  template <class V> static typename V::F Load(const uint8_t* r, int64_t c) { return V::LoadBf16(reinterpret_cast<const uint16_t*>(r) + c); }
  static float At(const uint8_t* r, int64_t c) {
    const uint32_t bits = static_cast<uint32_t>(reinterpret_cast<const uint16_t*>(r)[c]) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
};
// FP8: the block scale (times kFp8Rebias, see simd.h) multiplies each widened weight, giving
// exactly the fp32 weight the scalar twin's DecodeRow makes, so results match DecodeRow + Dot
// up to summation order.
struct FmtFp8 {
  static constexpr int64_t kSize = 1;  // bytes per weight
  static constexpr bool kScaled = true;
  static constexpr float kRebias = kFp8Rebias;
  template <class V> static typename V::F Load(const uint8_t* r, int64_t c) { return V::LoadFp8(r + c); }
  static float At(const uint8_t* r, int64_t c) { return Fp8ToFloatDiv256(r[c]); }
};
// FP4 e2m1, two per byte (low nibble = even column), one ue8m0 scale (as an F32) per 1x32 group
// (DeepSeek-V4's routed experts). LoadFp4 widens the codes to their exact values (a table
// lookup, -0 included), so the weight is value * scale rounded once, as in the scalar twin.
struct FmtFp4 {
  static constexpr int64_t kSize = 1;  // prefetch distance only (a weight is half a byte)
  static constexpr bool kScaled = true;
  static constexpr float kRebias = 1.0f;
  template <class V> static typename V::F Load(const uint8_t* r, int64_t c) { return V::LoadFp4(r + c / 2); }
  static float At(const uint8_t* r, int64_t c) { return kE2M1Values[(r[c >> 1] >> ((c & 1) * 4)) & 0xF]; }
};

// NR rows x NT tokens, all columns.
template <class V, class Fmt, int NR, int NT>
inline void TileF(const WDesc& w, const XDesc& x, int64_t r, int64_t t0, float* y, int64_t ys) {
  using F = typename V::F;
  F acc[NR][NT];
  for (int i = 0; i < NR; ++i)
    for (int t = 0; t < NT; ++t) acc[i][t] = V::Zero();
  const uint8_t* rows[NR];
  const float* srow[NR] = {};
  for (int i = 0; i < NR; ++i) {
    rows[i] = w.data + static_cast<size_t>(r + i) * w.row_stride;
    if constexpr (Fmt::kScaled) srow[i] = w.scale_inv + ((r + i) / w.block_rows) * w.scale_cols;
  }
  const float* xs[NT];
  for (int t = 0; t < NT; ++t) xs[t] = x.x + (t0 + t) * x.x_stride;
  const int64_t cols = w.cols, cv = cols / V::N * V::N;
  const int64_t seg = Fmt::kScaled ? w.block_cols : (cv > 0 ? cv : 1);
  for (int64_t c0 = 0, blk = 0; c0 < cv; c0 += seg, ++blk) {
    F sc[NR];
    if constexpr (Fmt::kScaled)
      for (int i = 0; i < NR; ++i) sc[i] = V::Set1(srow[i][blk] * Fmt::kRebias);
    const int64_t c1 = c0 + seg < cv ? c0 + seg : cv;
    for (int64_t c = c0; c < c1; c += V::N) {
      if constexpr (NT == 1) {
        // As in TileQ: explicit prefetch for the decode streams (see there).
        for (int i = 0; i < NR; ++i)
          _mm_prefetch(reinterpret_cast<const char*>(rows[i] + c * Fmt::kSize + kPrefetchBytes), _MM_HINT_T0);
      }
      F wv[NR];
      for (int i = 0; i < NR; ++i) {
        wv[i] = Fmt::template Load<V>(rows[i], c);
        if constexpr (Fmt::kScaled) wv[i] = V::Mul(wv[i], sc[i]);
      }
      for (int t = 0; t < NT; ++t) {
        const F xv = V::Load(xs[t] + c);
        for (int i = 0; i < NR; ++i) acc[i][t] = V::Fma(wv[i], xv, acc[i][t]);
      }
    }
  }
  for (int i = 0; i < NR; ++i)
    for (int t = 0; t < NT; ++t) {
      float s = V::Reduce(acc[i][t]);
      for (int64_t c = cv; c < cols; ++c) {
        float wc = Fmt::At(rows[i], c);
        if constexpr (Fmt::kScaled) wc *= srow[i][c / w.block_cols] * Fmt::kRebias;
        s += wc * xs[t][c];
      }
      y[(t0 + t) * ys + r + i] = s;
    }
}

// ---- ggml block formats with int8 activations ----------------------------------------------
// Unpack(row, b, &scale, &min) returns the 32 weights of 32-element block b of a row as bytes and
// their scale per int32 lane (lane k covers elements 4k..4k+3, so a format with 16-element
// sub-blocks gives lanes 0-3 and 4-7 different scales). Formats with kUnsigned return q >= 0
// (multiplied with the signed activations directly, no sign fix-up) and the weight is
// scale * q - min, so min * d_x * sum(q_x) (XDesc::sx) is taken off per block; the others return
// signed q and min = 0. Weight = the ggml dequantizer's value up to fp32 rounding of the scales.
inline float LoadHalf(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return HalfToFloat(h);
}
inline __m256i Load32(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline __m256i Nibbles(__m256i v, bool high) {
  const __m256i m = _mm256_set1_epi8(0x0F);
  return high ? _mm256_and_si256(_mm256_srli_epi16(v, 4), m) : _mm256_and_si256(v, m);
}

struct FmtQ8_0 {  // block_q8_0: fp16 d, int8 qs[32]
  static constexpr bool kUnsigned = false;
  static constexpr int64_t kBytes = 34, kBlocksPer = 1;
  static constexpr int64_t kElems = 32;
  static __m256i Unpack(const uint8_t* row, int64_t b, __m256* scale, float* min) {
    const uint8_t* p = row + b * kBytes;
    *scale = _mm256_set1_ps(LoadHalf(p));
    *min = 0.f;
    return Load32(p + 2);
  }
};
struct FmtQ4_0 {  // block_q4_0: fp16 d, qs[16] (element j low nibble, j+16 high); w = d (q - 8)
  static constexpr bool kUnsigned = true;
  static constexpr int64_t kBytes = 18;
  static constexpr int64_t kElems = 32;
  static __m256i Unpack(const uint8_t* row, int64_t b, __m256* scale, float* min) {
    const uint8_t* p = row + b * kBytes;
    const float d = LoadHalf(p);
    *scale = _mm256_set1_ps(d);
    *min = 8.f * d;
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
    const __m128i m = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
  }
};
// Q4_K / Q5_K: 256-element super-blocks of 8 sub-blocks of 32; w = d sc_s q - dmin m_s with 6-bit
// sc/m (ggml get_scale_min_k4).
inline void ScaleMinK4(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}
// Q4_K / Q5_K sub-block s of the super-block at p: d·scale[s] (broadcast) and dmin·min[s].
inline void KScaleMin(const uint8_t* p, int s, __m256* scale, float* min) {
  int sc, m;
  ScaleMinK4(s, p + 4, &sc, &m);
  *scale = _mm256_set1_ps(LoadHalf(p) * static_cast<float>(sc));
  *min = LoadHalf(p + 2) * static_cast<float>(m);
}
struct FmtQ4_K {  // d, dmin, scales[12] @4, qs[128] @16: 64-groups, low nibbles = sub-block 2j
  static constexpr bool kUnsigned = true;
  static constexpr int64_t kBytes = 144;
  static constexpr int64_t kElems = 256;
  static __m256i Unpack(const uint8_t* row, int64_t b, __m256* scale, float* min) {
    const uint8_t* p = row + (b >> 3) * kBytes;
    const int s = static_cast<int>(b & 7);
    KScaleMin(p, s, scale, min);
    return Nibbles(Load32(p + 16 + 32 * (s >> 1)), s & 1);
  }
};
struct FmtQ5_K {  // d, dmin, scales[12] @4, qh[32] @16 (bit s of qh[l]: 5th bit), qs[128] @48
  static constexpr bool kUnsigned = true;
  static constexpr int64_t kBytes = 176;
  static constexpr int64_t kElems = 256;
  static __m256i Unpack(const uint8_t* row, int64_t b, __m256* scale, float* min) {
    const uint8_t* p = row + (b >> 3) * kBytes;
    const int s = static_cast<int>(b & 7);
    KScaleMin(p, s, scale, min);
    const __m256i bit = _mm256_set1_epi8(static_cast<char>(1 << s));
    const __m256i hi = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(Load32(p + 16), bit), bit),
                                        _mm256_set1_epi8(16));
    return _mm256_or_si256(Nibbles(Load32(p + 48 + 32 * (s >> 1)), s & 1), hi);
  }
};
// Q6_K: ql[128] @0, qh[64] @128, int8 scales[16] @192, d @208; w = d sc (q - 32), 16-element
// sub-blocks. Sub-block-of-32 s: half n = s/4, quarter k = s%4 (ggml dequantize_row_q6_K).
struct FmtQ6_K {
  static constexpr bool kUnsigned = false;
  static constexpr int64_t kBytes = 210;
  static constexpr int64_t kElems = 256;
  static __m256i Unpack(const uint8_t* row, int64_t b, __m256* scale, float* min) {
    const uint8_t* p = row + (b >> 3) * kBytes;
    const int s = static_cast<int>(b & 7), n = s >> 2, k = s & 3;
    const int8_t* sc = reinterpret_cast<const int8_t*>(p + 192) + 8 * n + 2 * k;
    const float d = LoadHalf(p + 208);
    *scale = _mm256_set_m128(_mm_set1_ps(d * sc[1]), _mm_set1_ps(d * sc[0]));
    *min = 0.f;
    const __m256i lo = Nibbles(Load32(p + 64 * n + 32 * (k & 1)), k >= 2);
    const __m256i hb = _mm256_and_si256(_mm256_srl_epi16(Load32(p + 128 + 32 * n), _mm_cvtsi32_si128(2 * k)),
                                        _mm256_set1_epi8(3));
    return _mm256_sub_epi8(_mm256_or_si256(lo, _mm256_slli_epi16(hb, 4)), _mm256_set1_epi8(32));
  }
};

#include "kernels/gemm_iq.h"  // the i-quant formats (same Unpack interface)

template <class V, class Q, int NR, int NT>
inline void TileQ(const WDesc& w, const XDesc& x, int64_t r, int64_t t0, float* y, int64_t ys) {
  __m256 acc[NR][NT];
  float corr[NR][NT] = {};
  for (int i = 0; i < NR; ++i)
    for (int t = 0; t < NT; ++t) acc[i][t] = _mm256_setzero_ps();
  const uint8_t* rows[NR];
  for (int i = 0; i < NR; ++i) rows[i] = w.data + static_cast<size_t>(r + i) * w.row_stride;
  const int8_t* qx[NT];
  const float* dx[NT];
  const float* sx[NT];
  for (int t = 0; t < NT; ++t) {
    qx[t] = x.qx + (t0 + t) * x.qx_stride;
    dx[t] = x.dx + (t0 + t) * x.dx_stride;
    sx[t] = x.sx + (t0 + t) * x.dx_stride;
  }
  const int64_t nb = w.cols / 32;
  for (int64_t b = 0; b < nb; ++b) {
    __m256i wq[NR];
    __m256 sc[NR];
    float mn[NR];
    for (int i = 0; i < NR; ++i) wq[i] = Q::Unpack(rows[i], b, &sc[i], &mn[i]);
    if constexpr (NT == 1) {
      // Decode streams each row at a few bytes per iteration from NR interleaved places, which
      // the hardware prefetchers follow badly (measured: 3.5x slower once the matrix leaves the
      // caches); ask for the data kPrefetchBytes ahead of every row explicitly.
      for (int i = 0; i < NR; ++i)
        // (b * 32 * kBytes / kElems: the byte position proportional to b, so every cache line
        // of a K-quant super-block gets its prefetch, not just the first.)
        _mm_prefetch(reinterpret_cast<const char*>(rows[i] + b * 32 * Q::kBytes / Q::kElems + kPrefetchBytes),
                     _MM_HINT_T0);
    }
    for (int t = 0; t < NT; ++t) {
      const __m256i xq = Load32(reinterpret_cast<const uint8_t*>(qx[t] + b * 32));
      const __m256 dxt = _mm256_set1_ps(dx[t][b]);
      for (int i = 0; i < NR; ++i) {
        const __m256i dot = Q::kUnsigned ? V::DotU8S8(wq[i], xq) : V::DotI8(wq[i], xq);
        acc[i][t] = _mm256_fmadd_ps(V::I32ToF(dot), _mm256_mul_ps(sc[i], dxt), acc[i][t]);
        // (An explicit fma: the compiler would contract mul + add in some tile shapes and not in
        // others, and a row's result must not depend on which tile it ran in.)
        if constexpr (Q::kUnsigned) corr[i][t] = std::fma(mn[i], sx[t][b], corr[i][t]);
      }
    }
  }
  for (int i = 0; i < NR; ++i)
    for (int t = 0; t < NT; ++t) y[(t0 + t) * ys + r + i] = V::ReduceHalf(acc[i][t]) - corr[i][t];
}

// Dispatches a runtime token count nt in [1, NT] to the compile-time tile K::Run<NR, nt>.
template <class K, int NR, int NT>
inline void RunNt(int64_t nt, const WDesc& w, const XDesc& x, int64_t r, int64_t t0, float* y, int64_t ys) {
  if constexpr (NT <= 1) {
    K::template Run<NR, 1>(w, x, r, t0, y, ys);
  } else {
    if (nt >= NT) K::template Run<NR, NT>(w, x, r, t0, y, ys);
    else RunNt<K, NR, NT - 1>(nt, w, x, r, t0, y, ys);
  }
}

// Runs tiles over rows [r0, r1) and all tokens. Prefill tiles are K::kNR rows x K::kNT tokens
// (as many accumulators as the register file allows: 8 of 16 ymm on AVX2, 16 of 32 zmm on
// AVX-512), walking a cache-sized block of rows once per group of kNT tokens.
template <class K>
inline void RunTiles(const WDesc& w, const XDesc& x, float* y, int64_t ys, int64_t r0, int64_t r1) {
  const int64_t T = x.T;
  if (T == 1) {
    // Decode: 4 rows at a time give 4 independent accumulation chains and 4 memory streams.
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) K::template Run<4, 1>(w, x, r, 0, y, ys);
    for (; r < r1; ++r) K::template Run<1, 1>(w, x, r, 0, y, ys);
    return;
  }
  constexpr int NR = K::kNR, NT = K::kNT;
  int64_t rb = kBlockBytes / static_cast<int64_t>(w.row_stride ? w.row_stride : 1);
  rb = rb < NR ? NR : rb / NR * NR;
  for (int64_t b0 = r0; b0 < r1; b0 += rb) {
    const int64_t b1 = b0 + rb < r1 ? b0 + rb : r1;
    for (int64_t t0 = 0; t0 < T; t0 += NT) {
      const int64_t nt = T - t0 < NT ? T - t0 : NT;
      int64_t r = b0;
      for (; r + NR <= b1; r += NR) RunNt<K, NR, NT>(nt, w, x, r, t0, y, ys);
      for (; r < b1; ++r) RunNt<K, 1, NT>(nt, w, x, r, t0, y, ys);
    }
  }
}

template <class V, class Fmt>
struct FloatKernel {
  static constexpr int kNR = V::N == 16 ? 4 : 2, kNT = 4;
  template <int NR, int NT>
  static void Run(const WDesc& w, const XDesc& x, int64_t r, int64_t t0, float* y, int64_t ys) {
    TileF<V, Fmt, NR, NT>(w, x, r, t0, y, ys);
  }
};
template <class V, class Q>
struct QuantKernel {
  static constexpr int kNR = 2, kNT = 4;
  template <int NR, int NT>
  static void Run(const WDesc& w, const XDesc& x, int64_t r, int64_t t0, float* y, int64_t ys) {
    TileQ<V, Q, NR, NT>(w, x, r, t0, y, ys);
  }
};

// One row of an int format widened to fp32 with the same Unpack: element j of a block gets the
// scale of int32 lane j/4 (all formats keep a lane's 4 elements under one scale), w = q*s - min
// in one fused rounding (the reference dequantizers round d*q once too, except Q4_K/Q5_K's
// d*sc*q - dmin*m, which they round twice: <= 1 ulp apart).
template <class Q>
inline void DequantRowQ(const uint8_t* row, int64_t cols, float* out) {
  for (int64_t b = 0; b < cols / 32; ++b) {
    __m256 sc;
    float mn;
    const __m256i q = Q::Unpack(row, b, &sc, &mn);
    const __m256 neg_min = _mm256_set1_ps(-mn);
    for (int g = 0; g < 4; ++g) {
      const __m128i half = g < 2 ? _mm256_castsi256_si128(q) : _mm256_extracti128_si256(q, 1);
      const __m128i bytes = (g & 1) ? _mm_srli_si128(half, 8) : half;
      const __m256 qf = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes));
      const __m256 s = _mm256_permutevar8x32_ps(sc, _mm256_set1_epi32(2 * g));
      _mm256_storeu_ps(out + b * 32 + 8 * g, _mm256_fmadd_ps(qf, s, neg_min));
    }
  }
}

// Prefill with an int format when the caller gives fp32 activations and scratch but no q_x + 128
// (XDesc::qxu; MatMul always does): widen a cache-sized block of rows to fp32 in `scratch` once,
// then run the fp32 kernel over it for all T tokens. (Before TileI8 this was the prefill path:
// faster than the decode-style TileQ, which spends ~4 vector ops per 32 MACs on scales and
// horizontal sums; TileI8 is another ~3x faster, 2048 x 1536 x 64 on one AVX-512 VNNI core.)
template <class V, class Q>
void RunDequant(const WDesc& w, const XDesc& x, float* y, int64_t ys, int64_t r0, int64_t r1, float* scratch,
                int64_t scratch_n) {
  // Whole prefill tiles (FloatKernel::kNR rows) per widened block, or the 1-row tiles dominate.
  constexpr int64_t kNR = FloatKernel<V, FmtF32>::kNR;
  // (The caller's scratch is sized for the int8 repack too; widen at most the former 128 KiB or
  // 8 rows, which measured best.)
  const int64_t use = kScratchFloats > 8 * w.cols ? kScratchFloats : 8 * w.cols;
  int64_t rb = (scratch_n < use ? scratch_n : use) / w.cols;
  rb = rb >= kNR ? rb / kNR * kNR : rb;
  WDesc f;
  f.fmt = WFmt::kF32;
  f.cols = w.cols;
  f.data = reinterpret_cast<const uint8_t*>(scratch);
  f.row_stride = static_cast<size_t>(w.cols) * 4;
  for (int64_t b0 = r0; b0 < r1; b0 += rb) {
    const int64_t n = r1 - b0 < rb ? r1 - b0 : rb;
    for (int64_t r = 0; r < n; ++r)
      DequantRowQ<Q>(w.data + static_cast<size_t>(b0 + r) * w.row_stride, w.cols, scratch + r * w.cols);
    f.rows = n;
    RunTiles<FloatKernel<V, FmtF32>>(f, x, y + b0, ys, 0, n);
  }
}

// ---- prefill int8 tile (Q8_0 / Q4_0 / Q4_K / Q5_K / Q6_K, T >= kDequantMinT) -------------------
// llama.cpp's Q4_0 speed comes from an 8-row interleave (ggml-cpu repack.cpp) where one int32
// lane holds one weight row, so a broadcast of 4 activation bytes times one vector of 4 bytes from
// each of L rows gives L partial dots in one vpdpbusd and the block's dot needs no horizontal
// sum. We build that layout transiently: an L2-sized block of rows is repacked once per MatMul
// call into groups of L = V::N rows (no resident second copy), then every group of NT tokens
// passes over it. Per group and 32-column block:
//   float d[L]      the rows' block scales
//   int32 bias[L]   -128 * sum(q) of the row's block (activations are fed as x + 128, unsigned,
//                   so vpdpbusd's u8 x s8 form applies directly; the bias takes the 128 off)
//   int8  q[8][L][4] chunk j, lane k: elements 4j..4j+3 of row k, signed (Q4_0: q - 8)
// The int32 sums are exact (|x+128| <= 255, |q| <= 128: no saturation in vpdpbusd), so per
// (row, token) the result is sum_b (d_w d_x)_b * dot_b as in kern::ref::DotQ8Row, with one fma
// per block instead of mul + add. Without VNNI, maddubs saturates int16 pair sums: Q4_0
// (|q| <= 8, 2*255*8 < 2^15) keeps the same form; Q8_0 uses ggml's sign trick |w| * (x sign(w))
// on the signed activations and no bias.
// Per-format layout facts for the int8 tile: kSeg scales per 32 (Q6_K: 16-element halves),
// kMin (Q4_K / Q5_K: w = d q - min, q >= 0, so min * d_x sum(q_x) = min * XDesc::sx comes off per
// block), kOffset (Q4_0: q - 8 stored, exact), kWide (Q8_0: |q| up to 128, so without VNNI the
// sign trick; the others keep |q| <= 32 and 2 * 255 * 32 < 2^15 in maddubs).
template <class Q> struct I8Traits { static constexpr int kSeg = 1, kOffset = 0; static constexpr bool kMin = false, kWide = false; };
template <> struct I8Traits<FmtQ8_0> { static constexpr int kSeg = 1, kOffset = 0; static constexpr bool kMin = false, kWide = true; };
template <> struct I8Traits<FmtQ4_0> { static constexpr int kSeg = 1, kOffset = 8; static constexpr bool kMin = false, kWide = false; };
template <> struct I8Traits<FmtQ4_K> { static constexpr int kSeg = 1, kOffset = 0; static constexpr bool kMin = true, kWide = false; };
template <> struct I8Traits<FmtQ5_K> { static constexpr int kSeg = 1, kOffset = 0; static constexpr bool kMin = true, kWide = false; };
template <> struct I8Traits<FmtQ6_K> { static constexpr int kSeg = 2, kOffset = 0; static constexpr bool kMin = false, kWide = false; };
template <> struct I8Traits<FmtIQ4_NL> { static constexpr int kSeg = 1, kOffset = 0; static constexpr bool kMin = false, kWide = true; };
template <> struct I8Traits<FmtIQ4_XS> { static constexpr int kSeg = 1, kOffset = 0; static constexpr bool kMin = false, kWide = true; };
// IQ2_XS / IQ2_S / IQ1_M: a scale per 16 elements; all |q| <= 62 (maddubs-safe without the sign trick).
template <> struct I8Traits<FmtIQ2_XS> { static constexpr int kSeg = 2, kOffset = 0; static constexpr bool kMin = false, kWide = false; };
template <> struct I8Traits<FmtIQ2_S> { static constexpr int kSeg = 2, kOffset = 0; static constexpr bool kMin = false, kWide = false; };
template <> struct I8Traits<FmtIQ1_M> { static constexpr int kSeg = 2, kOffset = 0; static constexpr bool kMin = false, kWide = false; };
template <> struct I8Traits<FmtQ3_K> { static constexpr int kSeg = 2, kOffset = 0; static constexpr bool kMin = false, kWide = false; };

// Bytes per (group, 32-column block): d[kSeg][L], bias[kSeg][L], (min[L]), q[8][L][4].
template <class V, class Q>
constexpr int64_t PackBlockBytes() {
  using P = I8Traits<Q>;
  return (8 * P::kSeg + (P::kMin ? 4 : 0) + 32) * V::N;
}

template <class V, class Q>
inline void PackGroupI8(const WDesc& w, int64_t r, int64_t nvalid, uint8_t* out) {
  using P = I8Traits<Q>;
  constexpr int L = V::N;
  const int64_t nb = w.cols / 32;
  // Row by row, so each source row is read as one sequential stream (the hardware prefetchers
  // follow that; the scattered writes stay in the cache-resident pack).
  for (int k = 0; k < L; ++k) {
    const uint8_t* row = k < nvalid ? w.data + static_cast<size_t>(r + k) * w.row_stride : nullptr;
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* blk = out + b * PackBlockBytes<V, Q>();
      float* d = reinterpret_cast<float*>(blk);
      int32_t* bias = reinterpret_cast<int32_t*>(blk + 4 * P::kSeg * L);
      float* mins = reinterpret_cast<float*>(blk + 8 * P::kSeg * L);
      int32_t* q32 = reinterpret_cast<int32_t*>(blk + (8 * P::kSeg + (P::kMin ? 4 : 0)) * L);
      if (k >= nvalid) {  // padding rows: zero weights and scales, never stored
        for (int sg = 0; sg < P::kSeg; ++sg) d[sg * L + k] = 0.f, bias[sg * L + k] = 0;
        if constexpr (P::kMin) mins[k] = 0.f;
        for (int j = 0; j < 8; ++j) q32[j * L + k] = 0;
        continue;
      }
      __m256 sc;
      float mn;
      __m256i q = Q::Unpack(row, b, &sc, &mn);
      if constexpr (P::kOffset != 0) q = _mm256_sub_epi8(q, _mm256_set1_epi8(P::kOffset));
      alignas(32) int8_t bytes[32];
      alignas(32) float scl[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(bytes), q);
      _mm256_store_ps(scl, sc);
      for (int sg = 0; sg < P::kSeg; ++sg) {
        const int n = 32 / P::kSeg;
        int32_t sum = 0;
        for (int e = 0; e < n; ++e) sum += bytes[sg * n + e];
        bias[sg * L + k] = -128 * sum;
        d[sg * L + k] = scl[sg * 8 / P::kSeg];  // lane 4 (elements 16..) holds the second scale
      }
      if constexpr (P::kMin) mins[k] = mn;
      for (int j = 0; j < 8; ++j) std::memcpy(&q32[j * L + k], bytes + 4 * j, 4);
    }
  }
}

// R groups (R * L rows) x NT tokens over all columns; nvalid rows of the R * L are stored.
template <class V, class Q, int R, int NT>
inline void TileI8(const uint8_t* pack, int64_t nb, const XDesc& x, int64_t r, int64_t nvalid, int64_t t0,
                   float* y, int64_t ys) {
  using F = typename V::F;
  using I = typename V::I;
  using P = I8Traits<Q>;
  constexpr int L = V::N, kSeg = P::kSeg, kJ = 8 / kSeg;
  constexpr bool kSignTrick = !V::kVnni && P::kWide;  // Q8_0 without VNNI, see above
  constexpr int64_t kQOff = (8 * kSeg + (P::kMin ? 4 : 0)) * L;
  const int64_t gstride = nb * PackBlockBytes<V, Q>();
  F acc[R][NT];
  for (int g = 0; g < R; ++g)
    for (int t = 0; t < NT; ++t) acc[g][t] = V::Zero();
  const uint8_t* xu[NT];
  const float* dx[NT];
  const float* sx[NT];
  for (int t = 0; t < NT; ++t) {
    xu[t] = x.qxu + (t0 + t) * x.qx_stride;
    dx[t] = x.dx + (t0 + t) * x.dx_stride;
    sx[t] = P::kMin ? x.sx + (t0 + t) * x.dx_stride : nullptr;
  }
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk[R];
    for (int g = 0; g < R; ++g) blk[g] = pack + g * gstride + b * PackBlockBytes<V, Q>();
    for (int sg = 0; sg < kSeg; ++sg) {
      I isum[R][NT];
      for (int g = 0; g < R; ++g) {
        const I bias = kSignTrick ? V::SetI(0) : V::LoadI(blk[g] + 4 * kSeg * L + 4 * sg * L);
        for (int t = 0; t < NT; ++t) isum[g][t] = bias;
      }
      for (int j = sg * kJ; j < (sg + 1) * kJ; ++j) {
        I wv[R], aw[R];
        for (int g = 0; g < R; ++g) {
          wv[g] = V::LoadI(blk[g] + kQOff + j * 4 * L);
          if constexpr (kSignTrick) aw[g] = V::AbsI8(wv[g]);
        }
        for (int t = 0; t < NT; ++t) {
          const I xb = V::Bcast32(xu[t] + b * 32 + 4 * j);
          if constexpr (kSignTrick) {
            const I xs = V::FlipI8(xb);
            for (int g = 0; g < R; ++g) isum[g][t] = V::DotAccU8S8(isum[g][t], aw[g], V::SignI8(xs, wv[g]));
          } else {
            for (int g = 0; g < R; ++g) isum[g][t] = V::DotAccU8S8(isum[g][t], xb, wv[g]);
          }
        }
      }
      for (int g = 0; g < R; ++g) {
        const F dw = V::Load(reinterpret_cast<const float*>(blk[g]) + sg * L);
        for (int t = 0; t < NT; ++t) acc[g][t] = V::Fma(V::I32ToFv(isum[g][t]), V::Mul(dw, V::Set1(dx[t][b])), acc[g][t]);
      }
    }
    if constexpr (P::kMin) {
      for (int g = 0; g < R; ++g) {
        const F mn = V::Load(reinterpret_cast<const float*>(blk[g] + 8 * kSeg * L));
        for (int t = 0; t < NT; ++t) acc[g][t] = V::Fma(mn, V::Set1(-sx[t][b]), acc[g][t]);
      }
    }
  }
  StoreGroups<V, R, NT>(acc, y, ys, r, nvalid, t0);
}

template <class V, class Q, int R, int NT>
inline void RunNtI8(int64_t nt, const uint8_t* pack, int64_t nb, const XDesc& x, int64_t r, int64_t nvalid,
                    int64_t t0, float* y, int64_t ys) {
  if constexpr (NT <= 1) {
    TileI8<V, Q, R, 1>(pack, nb, x, r, nvalid, t0, y, ys);
  } else {
    if (nt >= NT) TileI8<V, Q, R, NT>(pack, nb, x, r, nvalid, t0, y, ys);
    else RunNtI8<V, Q, R, NT - 1>(nt, pack, nb, x, r, nvalid, t0, y, ys);
  }
}

// Bytes of packed rows kept hot while all token groups pass (L2 is 1-2 MiB per core on the
// machines we target; the activations of a token group are only NT * cols bytes).
constexpr int64_t kI8BlockBytes = 256 * 1024;

#ifndef QS_I8_GROUPS
#define QS_I8_GROUPS 2
#endif
#ifndef QS_I8_TOKENS
#define QS_I8_TOKENS 4
#endif
// Tile: R groups of V::N rows x NT tokens, R * NT int32 sums + R * NT fp32 accumulators (AVX-512:
// 16 of 32 zmm; AVX2: 1 x 4, 8 of 16 ymm).
template <class V>
constexpr int I8Groups() { return V::N == 16 ? QS_I8_GROUPS : 1; }
template <class V>
constexpr int I8Tokens() { return V::N == 16 ? QS_I8_TOKENS : 4; }

template <class V>
inline bool CanRunI8(const WDesc& w, const XDesc& x, int64_t scratch_n) {
  // (Q6_K's is the largest layout, 48 L bytes per 32 columns.)
  static_assert(PackBlockBytes<V, FmtQ6_K>() >= PackBlockBytes<V, FmtQ4_K>() &&
                PackBlockBytes<V, FmtQ6_K>() >= PackBlockBytes<V, FmtQ8_0>());
  return IsIntFormat(w.fmt) && x.T >= kDequantMinT && x.qxu != nullptr && x.sx != nullptr &&
         scratch_n * 4 >= I8Groups<V>() * (w.cols / 32) * PackBlockBytes<V, FmtQ6_K>();
}

template <class V, class Q>
void RunI8(const WDesc& w, const XDesc& x, float* y, int64_t ys, int64_t r0, int64_t r1, float* scratch,
           int64_t scratch_n) {
  constexpr int L = V::N, R = I8Groups<V>(), NT = I8Tokens<V>();
  const int64_t nb = w.cols / 32, gbytes = nb * PackBlockBytes<V, Q>();
  int64_t gpb = kI8BlockBytes / gbytes;
  const int64_t cap = scratch_n * 4 / gbytes;
  if (gpb > cap) gpb = cap;
  gpb = gpb < R ? R : gpb / R * R;
  uint8_t* pack = reinterpret_cast<uint8_t*>(scratch);
  for (int64_t b0 = r0; b0 < r1; b0 += gpb * L) {
    const int64_t nrows = r1 - b0 < gpb * L ? r1 - b0 : gpb * L;
    const int64_t ng = (nrows + L - 1) / L;
    for (int64_t g = 0; g < ng; ++g) {
      const int64_t nv = nrows - g * L < L ? nrows - g * L : L;
      PackGroupI8<V, Q>(w, b0 + g * L, nv, pack + g * gbytes);
    }
    for (int64_t t0 = 0; t0 < x.T; t0 += NT) {
      const int64_t nt = x.T - t0 < NT ? x.T - t0 : NT;
      int64_t g = 0;
      for (; g + R <= ng; g += R)
        RunNtI8<V, Q, R, NT>(nt, pack + g * gbytes, nb, x, b0 + g * L, nrows - g * L, t0, y, ys);
      for (; g < ng; ++g) RunNtI8<V, Q, 1, NT>(nt, pack + g * gbytes, nb, x, b0 + g * L, nrows - g * L, t0, y, ys);
    }
  }
}

template <class V>
void MatMulRows(const WDesc& w, const XDesc& x, float* y, int64_t ys, int64_t r0, int64_t r1, float* scratch,
                int64_t scratch_n) {
  if (CanRunPacked<V>(w, x)) {
    switch (w.fmt) {
      case WFmt::kQ4_0: RunGroups<V, QuantTiles<V, PackedQ4_0>>(w, x, y, ys, r0, r1); return;
      case WFmt::kQ8_0: RunGroups<V, QuantTiles<V, PackedQ8_0>>(w, x, y, ys, r0, r1); return;
      case WFmt::kQ4_K: RunGroups<V, KQuantTiles<V, PackedQ4_K>>(w, x, y, ys, r0, r1); return;
      case WFmt::kQ5_K: RunGroups<V, KQuantTiles<V, PackedQ5_K>>(w, x, y, ys, r0, r1); return;
      case WFmt::kQ6_K: RunGroups<V, KQuantTiles<V, PackedQ6_K>>(w, x, y, ys, r0, r1); return;
      case WFmt::kF16: RunGroups<V, HalfTiles<V, false>>(w, x, y, ys, r0, r1); return;
      default: RunGroups<V, HalfTiles<V, true>>(w, x, y, ys, r0, r1); return;
    }
  }
  if (CanRunI8<V>(w, x, scratch_n)) {
    switch (w.fmt) {
      case WFmt::kQ8_0: RunI8<V, FmtQ8_0>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kQ4_0: RunI8<V, FmtQ4_0>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kQ4_K: RunI8<V, FmtQ4_K>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kQ5_K: RunI8<V, FmtQ5_K>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kQ6_K: RunI8<V, FmtQ6_K>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kIQ4_NL: RunI8<V, FmtIQ4_NL>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kIQ4_XS: RunI8<V, FmtIQ4_XS>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kIQ2_XXS: RunI8<V, FmtIQ2_XXS>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kIQ2_XS: RunI8<V, FmtIQ2_XS>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kIQ2_S: RunI8<V, FmtIQ2_S>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kIQ3_XXS: RunI8<V, FmtIQ3_XXS>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kIQ3_S: RunI8<V, FmtIQ3_S>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kIQ1_S: RunI8<V, FmtIQ1_S>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kIQ1_M: RunI8<V, FmtIQ1_M>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kQ3_K: RunI8<V, FmtQ3_K>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      default: break;
    }
  }
  if (IsIntFormat(w.fmt) && x.T >= kDequantMinT && x.x != nullptr && scratch_n >= w.cols) {
    switch (w.fmt) {
      case WFmt::kQ8_0: RunDequant<V, FmtQ8_0>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kQ4_0: RunDequant<V, FmtQ4_0>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kQ4_K: RunDequant<V, FmtQ4_K>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kQ5_K: RunDequant<V, FmtQ5_K>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kQ6_K: RunDequant<V, FmtQ6_K>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kIQ4_NL: RunDequant<V, FmtIQ4_NL>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kIQ4_XS: RunDequant<V, FmtIQ4_XS>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kIQ2_XXS: RunDequant<V, FmtIQ2_XXS>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kIQ2_XS: RunDequant<V, FmtIQ2_XS>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kIQ2_S: RunDequant<V, FmtIQ2_S>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kIQ3_XXS: RunDequant<V, FmtIQ3_XXS>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kIQ3_S: RunDequant<V, FmtIQ3_S>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kIQ1_S: RunDequant<V, FmtIQ1_S>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kIQ1_M: RunDequant<V, FmtIQ1_M>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      case WFmt::kQ3_K: RunDequant<V, FmtQ3_K>(w, x, y, ys, r0, r1, scratch, scratch_n); return;
      default: break;
    }
  }
  switch (w.fmt) {
    case WFmt::kF32: RunTiles<FloatKernel<V, FmtF32>>(w, x, y, ys, r0, r1); break;
    case WFmt::kF16: RunTiles<FloatKernel<V, FmtF16>>(w, x, y, ys, r0, r1); break;
    case WFmt::kBF16: RunTiles<FloatKernel<V, FmtBf16>>(w, x, y, ys, r0, r1); break;
    case WFmt::kFp8: RunTiles<FloatKernel<V, FmtFp8>>(w, x, y, ys, r0, r1); break;
    case WFmt::kFp4: RunTiles<FloatKernel<V, FmtFp4>>(w, x, y, ys, r0, r1); break;
    case WFmt::kQ8_0: RunTiles<QuantKernel<V, FmtQ8_0>>(w, x, y, ys, r0, r1); break;
    case WFmt::kQ4_0: RunTiles<QuantKernel<V, FmtQ4_0>>(w, x, y, ys, r0, r1); break;
    case WFmt::kQ4_K: RunTiles<QuantKernel<V, FmtQ4_K>>(w, x, y, ys, r0, r1); break;
    case WFmt::kQ5_K: RunTiles<QuantKernel<V, FmtQ5_K>>(w, x, y, ys, r0, r1); break;
    case WFmt::kQ6_K: RunTiles<QuantKernel<V, FmtQ6_K>>(w, x, y, ys, r0, r1); break;
    case WFmt::kIQ4_NL: RunTiles<QuantKernel<V, FmtIQ4_NL>>(w, x, y, ys, r0, r1); break;
    case WFmt::kIQ4_XS: RunTiles<QuantKernel<V, FmtIQ4_XS>>(w, x, y, ys, r0, r1); break;
    case WFmt::kIQ2_XXS: RunTiles<QuantKernel<V, FmtIQ2_XXS>>(w, x, y, ys, r0, r1); break;
    case WFmt::kIQ2_XS: RunTiles<QuantKernel<V, FmtIQ2_XS>>(w, x, y, ys, r0, r1); break;
    case WFmt::kIQ2_S: RunTiles<QuantKernel<V, FmtIQ2_S>>(w, x, y, ys, r0, r1); break;
    case WFmt::kIQ3_XXS: RunTiles<QuantKernel<V, FmtIQ3_XXS>>(w, x, y, ys, r0, r1); break;
    case WFmt::kIQ3_S: RunTiles<QuantKernel<V, FmtIQ3_S>>(w, x, y, ys, r0, r1); break;
    case WFmt::kIQ1_S: RunTiles<QuantKernel<V, FmtIQ1_S>>(w, x, y, ys, r0, r1); break;
    case WFmt::kIQ1_M: RunTiles<QuantKernel<V, FmtIQ1_M>>(w, x, y, ys, r0, r1); break;
    case WFmt::kQ3_K: RunTiles<QuantKernel<V, FmtQ3_K>>(w, x, y, ys, r0, r1); break;
  }
}

template <class V, class Fmt>
void DecodeRowF(const WDesc& w, int64_t row, int64_t c0, int64_t n, float* out) {
  const uint8_t* p = w.data + static_cast<size_t>(row) * w.row_stride;
  const float* srow = Fmt::kScaled ? w.scale_inv + (row / w.block_rows) * w.scale_cols : nullptr;
  int64_t i = 0;
  // Vectors never straddle an FP8 scale block (block_cols is a multiple of 16): check per vector.
  for (; i + V::N <= n; i += V::N) {
    const int64_t c = c0 + i;
    typename V::F v = Fmt::template Load<V>(p, c);
    if constexpr (Fmt::kScaled) {
      if (c / w.block_cols != (c + V::N - 1) / w.block_cols) break;
      v = V::Mul(v, V::Set1(srow[c / w.block_cols] * Fmt::kRebias));
    }
    V::Store(out + i, v);
  }
  for (; i < n; ++i) {
    float v = Fmt::At(p, c0 + i);
    if constexpr (Fmt::kScaled) v *= srow[(c0 + i) / w.block_cols] * Fmt::kRebias;
    out[i] = v;
  }
}

template <class V>
void DecodeRowAny(const WDesc& w, int64_t row, int64_t c0, int64_t n, float* out) {
  switch (w.fmt) {
    case WFmt::kF16: DecodeRowF<V, FmtF16>(w, row, c0, n, out); break;
    case WFmt::kBF16: DecodeRowF<V, FmtBf16>(w, row, c0, n, out); break;
    case WFmt::kFp8: DecodeRowF<V, FmtFp8>(w, row, c0, n, out); break;
    case WFmt::kFp4:
      if (c0 % 2 == 0) { DecodeRowF<V, FmtFp4>(w, row, c0, n, out); break; }
      for (int64_t i = 0; i < n; ++i)
        out[i] = FmtFp4::At(w.data + static_cast<size_t>(row) * w.row_stride, c0 + i) *
                 w.scale_inv[row / w.block_rows * w.scale_cols + (c0 + i) / w.block_cols];
      break;
    default: DecodeRowF<V, FmtF32>(w, row, c0, n, out); break;
  }
}

// kern::ref::QuantizeActsQ8 with 256-bit vectors (AVX2 and AVX-512 builds alike), bit for bit: the
// block max is exact in any order, x * id is the same fp32 product, vcvtps2dq rounds to nearest
// even like nearbyint in the default rounding mode, and vcvtps2ph (F16C) rounds the scale to half
// with RNE like F32ToF16. qu (optional) receives q + 128 as unsigned bytes (XDesc::qxu).
inline void QuantizeQ8(const float* x, int64_t n, int8_t* q, uint8_t* qu, float* d, float* sx, int32_t* isx) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* xb = x + b * 32;
    __m256 v[4];
    for (int k = 0; k < 4; ++k) v[k] = _mm256_loadu_ps(xb + 8 * k);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], abs_mask), _mm256_and_ps(v[1], abs_mask)),
                             _mm256_max_ps(_mm256_and_ps(v[2], abs_mask), _mm256_and_ps(v[3], abs_mask)));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    const float amax = _mm_cvtss_f32(h);
    const float id = amax != 0.f ? 127.f / amax : 0.f;
    const float db = _cvtsh_ss(_cvtss_sh(amax / 127.f, _MM_FROUND_TO_NEAREST_INT));
    d[b] = db;
    const __m256 vid = _mm256_set1_ps(id);
    __m256i i[4];
    for (int k = 0; k < 4; ++k) i[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], vid));
    if (sx || isx) {
      __m256i s = _mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3]));
      __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
      const int32_t si = _mm_cvtsi128_si32(s4);
      if (sx) sx[b] = db * static_cast<float>(si);
      if (isx) isx[b] = si;
    }
    // packs interleave the 128-bit lanes; the permute restores element order (as ggml's AVX2
    // quantize_row_q8_0).
    const __m256i p = _mm256_permutevar8x32_epi32(
        _mm256_packs_epi16(_mm256_packs_epi32(i[0], i[1]), _mm256_packs_epi32(i[2], i[3])), perm);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + b * 32), p);
    if (qu) _mm256_storeu_si256(reinterpret_cast<__m256i*>(qu + b * 32), _mm256_xor_si256(p, _mm256_set1_epi8(static_cast<char>(0x80))));
  }
}

template <class V>
float DotF(const float* a, const float* b, int64_t n) {
  using F = typename V::F;
  F s0 = V::Zero(), s1 = V::Zero();
  int64_t i = 0;
  for (; i + 2 * V::N <= n; i += 2 * V::N) {
    s0 = V::Fma(V::Load(a + i), V::Load(b + i), s0);
    s1 = V::Fma(V::Load(a + i + V::N), V::Load(b + i + V::N), s1);
  }
  for (; i + V::N <= n; i += V::N) s0 = V::Fma(V::Load(a + i), V::Load(b + i), s0);
  float r = V::Reduce(V::Add(s0, s1));
  for (; i < n; ++i) r += a[i] * b[i];
  return r;
}

template <class V>
void AxpyF(float a, const float* x, float* y, int64_t n) {
  const typename V::F va = V::Set1(a);
  int64_t i = 0;
  for (; i + V::N <= n; i += V::N) V::Store(y + i, V::Fma(va, V::Load(x + i), V::Load(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

}  // namespace
}  // namespace qs::kern
