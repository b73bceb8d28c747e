// The i-quant formats for gemm_impl.h's int8 tiles (TileQ decode, TileI8 prefill, RunDequant):
// each Unpack gives a 32-element block as signed int8 values q and its scale(s) (per 32, or per
// 16 in lanes 0-3 / 4-7), with scale * q exactly the reference dequantizer's value before its
// final rounding (quant/quant_iq.cc, ggml dequantize_row_iq*):
//   grid formats (IQ2_*, IQ3_*): q = +-grid byte (<= 62), scale = the block's db;
//   IQ1_S / IQ1_M: w = dl (g + delta), g in {-1, 0, 1}, delta = +-1/8, so q = 8 g +- 1 and
//   scale = dl / 8 (exact: a power of two);
//   IQ4_NL / IQ4_XS: q = kvalues_iq4nl[index] (|q| <= 127, by byte shuffle).
// The grids are quant/iq_grids.h data; the 4 (or 8) entries of a block are gathered with scalar
// loads, which is what keeps these formats slower than the K-quants (no resident repacking yet).
// Q3_K (at the end) uses the same route: q = 2 low bits - (high bit clear ? 4 : 0) in [-4, 3],
// scale d (sc - 32) per 16 (ggml dequantize_row_q3_K).
// Included by gemm_impl.h inside its anonymous namespace.
#pragma once

inline __m256i Iq4Lookup(const uint8_t* qs) {
  const __m256i table = _mm256_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
                                         -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i m = _mm_set1_epi8(0x0F);
  const __m256i idx = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
  return _mm256_shuffle_epi8(table, idx);
}
// (kvalues_iq4nl, quant/quant.h kIq4nlValues, in both 128-bit lanes.)
struct FmtIQ4_NL {  // block_iq4_nl: fp16 d, qs[16] (element j low nibble, j+16 high)
  static constexpr bool kUnsigned = false;
  static constexpr int64_t kBytes = 18;
  static constexpr int64_t kElems = 32;
  static __m256i Unpack(const uint8_t* row, int64_t b, __m256* scale, float* min) {
    const uint8_t* p = row + b * kBytes;
    *scale = _mm256_set1_ps(LoadHalf(p));
    *min = 0.f;
    return Iq4Lookup(p + 2);
  }
};
struct FmtIQ4_XS {  // block_iq4_xs: fp16 d @0, scales_h @2, scales_l[4] @4, qs[128] @8
  static constexpr bool kUnsigned = false;
  static constexpr int64_t kBytes = 136;
  static constexpr int64_t kElems = 256;
  static __m256i Unpack(const uint8_t* row, int64_t b, __m256* scale, float* min) {
    const uint8_t* p = row + (b >> 3) * kBytes;
    const int s = static_cast<int>(b & 7);
    uint16_t sh;
    std::memcpy(&sh, p + 2, 2);
    const int ls = ((p[4 + s / 2] >> (4 * (s % 2))) & 0xF) | (((sh >> (2 * s)) & 3) << 4);
    *scale = _mm256_set1_ps(LoadHalf(p) * static_cast<float>(ls - 32));
    *min = 0.f;
    return Iq4Lookup(p + 8 + 16 * s);
  }
};

inline uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t LoadU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
// Four 8-byte grid entries (elements 8l..8l+7) with their sign bytes: bit j of s[l] negates
// element 8l + j (ggml kmask_iq2xs).
inline __m256i SignedGrid(uint64_t g0, uint64_t g1, uint64_t g2, uint64_t g3, uint32_t signs) {
  const __m256i g = _mm256_set_epi64x(static_cast<int64_t>(g3), static_cast<int64_t>(g2), static_cast<int64_t>(g1),
                                      static_cast<int64_t>(g0));
  const __m256i sel = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3,
                                       3, 3, 3, 3);
  const __m256i bits = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
  const __m256i s = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int32_t>(signs)), sel);
  const __m256i neg = _mm256_cmpeq_epi8(_mm256_and_si256(s, bits), bits);
  return _mm256_sub_epi8(_mm256_xor_si256(g, neg), neg);
}
inline __m256 TwoScales(float lo, float hi) { return _mm256_set_m128(_mm_set1_ps(hi), _mm_set1_ps(lo)); }

struct FmtIQ2_XXS {  // d @0, per 32: 4 grid indices, uint32 (4 x 7-bit sign index, scale << 28)
  static constexpr bool kUnsigned = false;
  static constexpr int64_t kBytes = 66, kElems = 256;
  static __m256i Unpack(const uint8_t* row, int64_t b, __m256* scale, float* min) {
    const uint8_t* p = row + (b >> 3) * kBytes;
    const uint8_t* q = p + 2 + 8 * (b & 7);
    const uint32_t aux = LoadU32(q + 4);
    *scale = _mm256_set1_ps(LoadHalf(p) * (0.5f + static_cast<float>(aux >> 28)) * 0.25f);
    *min = 0.f;
    uint32_t s = 0;
    for (int l = 0; l < 4; ++l) s |= static_cast<uint32_t>(iq::kSignsIq2xs[(aux >> (7 * l)) & 127]) << (8 * l);
    return SignedGrid(iq::kIq2xxsGrid[q[0]], iq::kIq2xxsGrid[q[1]], iq::kIq2xxsGrid[q[2]], iq::kIq2xxsGrid[q[3]], s);
  }
};
struct FmtIQ2_XS {  // d @0, uint16 qs[32] @2 (9-bit index | sign index << 9), scales[8] @66
  static constexpr bool kUnsigned = false;
  static constexpr int64_t kBytes = 74, kElems = 256;
  static __m256i Unpack(const uint8_t* row, int64_t b, __m256* scale, float* min) {
    const uint8_t* p = row + (b >> 3) * kBytes;
    const int ib = static_cast<int>(b & 7);
    const float d = LoadHalf(p);
    const uint8_t sc = p[66 + ib];
    *scale = TwoScales(d * (0.5f + static_cast<float>(sc & 0xF)) * 0.25f, d * (0.5f + static_cast<float>(sc >> 4)) * 0.25f);
    *min = 0.f;
    uint16_t q[4];
    uint32_t s = 0;
    for (int l = 0; l < 4; ++l) {
      q[l] = LoadU16(p + 2 + 2 * (4 * ib + l));
      s |= static_cast<uint32_t>(iq::kSignsIq2xs[q[l] >> 9]) << (8 * l);
    }
    return SignedGrid(iq::kIq2xsGrid[q[0] & 511], iq::kIq2xsGrid[q[1] & 511], iq::kIq2xsGrid[q[2] & 511],
                      iq::kIq2xsGrid[q[3] & 511], s);
  }
};
struct FmtIQ2_S {  // d @0, qs[32] @2, signs[32] @34, qh[8] @66, scales[8] @74
  static constexpr bool kUnsigned = false;
  static constexpr int64_t kBytes = 82, kElems = 256;
  static __m256i Unpack(const uint8_t* row, int64_t b, __m256* scale, float* min) {
    const uint8_t* p = row + (b >> 3) * kBytes;
    const int ib = static_cast<int>(b & 7);
    const float d = LoadHalf(p);
    const uint8_t sc = p[74 + ib], qh = p[66 + ib];
    *scale = TwoScales(d * (0.5f + static_cast<float>(sc & 0xF)) * 0.25f, d * (0.5f + static_cast<float>(sc >> 4)) * 0.25f);
    *min = 0.f;
    const uint8_t* qs = p + 2 + 4 * ib;
    return SignedGrid(iq::kIq2sGrid[qs[0] | ((qh << 8) & 0x300)], iq::kIq2sGrid[qs[1] | ((qh << 6) & 0x300)],
                      iq::kIq2sGrid[qs[2] | ((qh << 4) & 0x300)], iq::kIq2sGrid[qs[3] | ((qh << 2) & 0x300)],
                      LoadU32(p + 34 + 4 * ib));
  }
};
struct FmtIQ3_XXS {  // d @0, qs[64] @2 (4-element grid indices), per 32 a uint32 @66 as IQ2_XXS's
  static constexpr bool kUnsigned = false;
  static constexpr int64_t kBytes = 98, kElems = 256;
  static __m256i Unpack(const uint8_t* row, int64_t b, __m256* scale, float* min) {
    const uint8_t* p = row + (b >> 3) * kBytes;
    const int ib = static_cast<int>(b & 7);
    const uint8_t* q = p + 2 + 8 * ib;
    const uint32_t aux = LoadU32(p + 66 + 4 * ib);
    *scale = _mm256_set1_ps(LoadHalf(p) * (0.5f + static_cast<float>(aux >> 28)) * 0.5f);
    *min = 0.f;
    uint32_t s = 0;
    uint64_t g[4];
    for (int l = 0; l < 4; ++l) {
      s |= static_cast<uint32_t>(iq::kSignsIq2xs[(aux >> (7 * l)) & 127]) << (8 * l);
      g[l] = iq::kIq3xxsGrid[q[2 * l]] | (static_cast<uint64_t>(iq::kIq3xxsGrid[q[2 * l + 1]]) << 32);
    }
    return SignedGrid(g[0], g[1], g[2], g[3], s);
  }
};
struct FmtIQ3_S {  // d @0, qs[64] @2, qh[8] @66, signs[32] @74, scales[4] @106
  static constexpr bool kUnsigned = false;
  static constexpr int64_t kBytes = 110, kElems = 256;
  static __m256i Unpack(const uint8_t* row, int64_t b, __m256* scale, float* min) {
    const uint8_t* p = row + (b >> 3) * kBytes;
    const int ib = static_cast<int>(b & 7);
    const uint8_t sc = p[106 + ib / 2];
    *scale = _mm256_set1_ps(LoadHalf(p) * static_cast<float>(1 + 2 * ((ib & 1) ? (sc >> 4) : (sc & 0xF))));
    *min = 0.f;
    const uint8_t* q = p + 2 + 8 * ib;
    const int qh = p[66 + ib];
    uint64_t g[4];
    for (int l = 0; l < 4; ++l)
      g[l] = iq::kIq3sGrid[q[2 * l] | ((qh << (8 - 2 * l)) & 256)] |
             (static_cast<uint64_t>(iq::kIq3sGrid[q[2 * l + 1] | ((qh << (7 - 2 * l)) & 256)]) << 32);
    return SignedGrid(g[0], g[1], g[2], g[3], LoadU32(p + 74 + 4 * ib));
  }
};
// IQ1: grid bytes g in {-1, 0, 1} -> 8 g + delta8 (delta8 = +-1 per 8 elements, as bytes).
inline __m256i Iq1Values(uint64_t g0, uint64_t g1, uint64_t g2, uint64_t g3, __m256i delta8) {
  const __m256i g = _mm256_set_epi64x(static_cast<int64_t>(g3), static_cast<int64_t>(g2), static_cast<int64_t>(g1),
                                      static_cast<int64_t>(g0));
  return _mm256_add_epi8(_mm256_sign_epi8(_mm256_set1_epi8(8), g), delta8);
}
struct FmtIQ1_S {  // d @0, qs[32] @2, uint16 qh[8] @34 (index bits 8-10, scale << 12, delta sign bit 15)
  static constexpr bool kUnsigned = false;
  static constexpr int64_t kBytes = 50, kElems = 256;
  static __m256i Unpack(const uint8_t* row, int64_t b, __m256* scale, float* min) {
    const uint8_t* p = row + (b >> 3) * kBytes;
    const int ib = static_cast<int>(b & 7);
    const uint16_t qh = LoadU16(p + 34 + 2 * ib);
    *scale = _mm256_set1_ps(LoadHalf(p) * static_cast<float>(2 * ((qh >> 12) & 7) + 1) * 0.125f);
    *min = 0.f;
    const uint8_t* qs = p + 2 + 4 * ib;
    const __m256i delta = _mm256_set1_epi8((qh & 0x8000) ? -1 : 1);
    return Iq1Values(iq::kIq1sGrid[qs[0] | ((qh << 8) & 0x700)], iq::kIq1sGrid[qs[1] | ((qh << 5) & 0x700)],
                     iq::kIq1sGrid[qs[2] | ((qh << 2) & 0x700)], iq::kIq1sGrid[qs[3] | ((qh >> 1) & 0x700)], delta);
  }
};
struct FmtIQ1_M {  // qs[32] @0, qh[16] @32, scales[8] @48 (fp16 d in the top nibbles)
  static constexpr bool kUnsigned = false;
  static constexpr int64_t kBytes = 56, kElems = 256;
  static __m256i Unpack(const uint8_t* row, int64_t b, __m256* scale, float* min) {
    const uint8_t* p = row + (b >> 3) * kBytes;
    const int ib = static_cast<int>(b & 7);
    uint16_t sc[4];
    for (int k = 0; k < 4; ++k) sc[k] = LoadU16(p + 48 + 2 * k);
    const uint16_t dh = static_cast<uint16_t>((sc[0] >> 12) | ((sc[1] >> 8) & 0x00F0) | ((sc[2] >> 4) & 0x0F00) | (sc[3] & 0xF000));
    const float d = HalfToFloat(dh) * 0.125f;
    const int s = sc[ib / 2] >> (6 * (ib % 2));
    *scale = TwoScales(d * static_cast<float>(2 * (s & 7) + 1), d * static_cast<float>(2 * ((s >> 3) & 7) + 1));
    *min = 0.f;
    const uint8_t* qs = p + 4 * ib;
    const uint8_t* qh = p + 32 + 2 * ib;
    auto dl = [](bool neg) { return static_cast<int64_t>(neg ? 0xFFFFFFFFFFFFFFFFULL : 0x0101010101010101ULL); };
    const __m256i delta = _mm256_set_epi64x(dl(qh[1] & 0x80), dl(qh[1] & 0x08), dl(qh[0] & 0x80), dl(qh[0] & 0x08));
    return Iq1Values(iq::kIq1sGrid[qs[0] | ((qh[0] << 8) & 0x700)], iq::kIq1sGrid[qs[1] | ((qh[0] << 4) & 0x700)],
                     iq::kIq1sGrid[qs[2] | ((qh[1] << 8) & 0x700)], iq::kIq1sGrid[qs[3] | ((qh[1] << 4) & 0x700)], delta);
  }
};
// Q3_K: hmask[32] @0, qs[64] @32, scales[12] @96 (16 6-bit scales), d @108. 32-block s of a
// super-block: qs[32 (s / 4) + l] bits 2 (s % 4).., hmask[l] bit s, scales 2s and 2s + 1.
inline int Q3Scale(const uint8_t* sc, int i) {  // the 6-bit scale i (ggml's kmask1/kmask2 unpacking)
  const int lo = i < 8 ? (sc[i] & 0xF) : (sc[i - 8] >> 4);
  const int hi = (sc[8 + (i % 4)] >> (2 * (i / 4))) & 3;
  return (lo | (hi << 4)) - 32;
}
struct FmtQ3_K {
  static constexpr bool kUnsigned = false;
  static constexpr int64_t kBytes = 110, kElems = 256;
  static __m256i Unpack(const uint8_t* row, int64_t b, __m256* scale, float* min) {
    const uint8_t* p = row + (b >> 3) * kBytes;
    const int s = static_cast<int>(b & 7);
    const float d = LoadHalf(p + 108);
    *scale = TwoScales(d * static_cast<float>(Q3Scale(p + 96, 2 * s)), d * static_cast<float>(Q3Scale(p + 96, 2 * s + 1)));
    *min = 0.f;
    const __m256i q = _mm256_and_si256(_mm256_srl_epi16(Load32(p + 32 + 32 * (s >> 2)), _mm_cvtsi32_si128(2 * (s & 3))),
                                       _mm256_set1_epi8(3));
    const __m256i bit = _mm256_set1_epi8(static_cast<char>(1 << s));
    const __m256i clear = _mm256_cmpeq_epi8(_mm256_and_si256(Load32(p), bit), _mm256_setzero_si256());
    return _mm256_sub_epi8(q, _mm256_and_si256(clear, _mm256_set1_epi8(4)));
  }
};
