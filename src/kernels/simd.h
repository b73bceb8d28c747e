// A thin vector layer: the few operations the kernels need, one struct per ISA with the same
// static members, so every kernel in gemm_impl.h is written once and instantiated per ISA.
// Include only from translation units compiled with the matching -m flags (see CMakeLists).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace qs::kern {

// LoadFp8 widens N e4m3fn codes to fp32 *divided by 2^8*, exactly, for every non-NaN code: the
// sign goes to bit 15 and the 4 exponent + 3 mantissa bits to bits 14..7 of an IEEE half, whose
// exponent bias is 15 instead of 7, so the half is the code's value times 2^-8; code exponent 0
// lands on the half subnormals m * 2^-17 = (m * 2^-9) * 2^-8, still exact. The hardware
// half -> float conversion (F16C / AVX-512) is exact. Callers multiply by kFp8Rebias, folded
// into the block scale (scale * 2^8 is exact, so (v * 2^-8) * (scale * 2^8) rounds once to the
// same float as v * scale).
inline constexpr float kFp8Rebias = 256.f;

// e2m1 values by nibble (bit 3 = sign; 0x8 = -0): LoadFp4 looks them up in registers.
alignas(64) inline constexpr float kE2M1Values[16] = {0.f,  0.5f,  1.f,  1.5f,  2.f,  3.f,  4.f,  6.f,
                                                       -0.f, -0.5f, -1.f, -1.5f, -2.f, -3.f, -4.f, -6.f};

// Two nibbles per byte -> one byte each, low nibble first (even column first).
static inline __m128i SplitNibbles(__m128i b) {  // internal linkage: one copy per ISA unit
  const __m128i m = _mm_set1_epi8(0x0F);
  return _mm_unpacklo_epi8(_mm_and_si128(b, m), _mm_and_si128(_mm_srli_epi16(b, 4), m));
}

#if defined(__AVX2__)
struct VecAvx2 {
  using F = __m256;
  static constexpr int N = 8;
  static F Zero() { return _mm256_setzero_ps(); }
  static F Set1(float v) { return _mm256_set1_ps(v); }
  static F Load(const float* p) { return _mm256_loadu_ps(p); }
  static void Store(float* p, F v) { _mm256_storeu_ps(p, v); }
  static F Fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F Mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F Add(F a, F b) { return _mm256_add_ps(a, b); }
  static F LoadF16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static F LoadBf16(const uint16_t* p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  }
  static F LoadFp8(const uint8_t* p) {
    const __m128i v = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    const __m128i h = _mm_or_si128(_mm_slli_epi16(_mm_and_si128(v, _mm_set1_epi16(0x80)), 8),
                                   _mm_slli_epi16(_mm_and_si128(v, _mm_set1_epi16(0x7F)), 7));
    return _mm256_cvtph_ps(h);
  }
  // 8 e2m1 weights from 4 bytes: the magnitude by permute (3 index bits), the sign bit OR-ed in.
  static F LoadFp4(const uint8_t* p) {
    int32_t b;
    __builtin_memcpy(&b, p, 4);
    const __m256i n = _mm256_cvtepu8_epi32(SplitNibbles(_mm_cvtsi32_si128(b)));
    const __m256 mag = _mm256_permutevar8x32_ps(_mm256_load_ps(kE2M1Values), n);
    const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(n, _mm256_set1_epi32(8)), 28);
    return _mm256_or_ps(mag, _mm256_castsi256_ps(sign));
  }
  static float Reduce(F v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  // Sums of 4 adjacent int8 products of 32 signed bytes, as 8 int32 lanes. maddubs needs one
  // unsigned operand: w.x = |w| . (x * sign(w)); |w| <= 128 and |x| <= 127 keep each int16 pair
  // sum <= 2*128*127 = 32512, below maddubs' saturation.
  static __m256i DotI8(__m256i w, __m256i x) {
    const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
  }
  // u (0..15 nibbles) times signed x: pair sums <= 2*15*128, no saturation.
  static __m256i DotU8S8(__m256i u, __m256i x) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1));
  }
  static __m256 I32ToF(__m256i v) { return _mm256_cvtepi32_ps(v); }
  static float ReduceHalf(__m256 v) { return Reduce(v); }
  // Full-width integer operations for the prefill int8 tile (gemm_impl.h TileI8): one int32 lane
  // per weight row.
  using I = __m256i;
  static constexpr bool kVnni = false;
  static I LoadI(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
  static I SetI(int32_t v) { return _mm256_set1_epi32(v); }
  static I Bcast32(const void* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
  }
  // acc + sums of 4 adjacent u8 * s8 products; the caller keeps each pair sum below 2^15
  // (maddubs saturates), e.g. |s| <= 8 with u <= 255, or u <= 128 with |s| <= 127.
  static I DotAccU8S8(I acc, I u, I s) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
  }
  static I AbsI8(I v) { return _mm256_abs_epi8(v); }
  static I SignI8(I x, I w) { return _mm256_sign_epi8(x, w); }  // x * sign(w)
  static I FlipI8(I v) { return _mm256_xor_si256(v, _mm256_set1_epi8(static_cast<char>(0x80))); }
  static F I32ToFv(I v) { return _mm256_cvtepi32_ps(v); }
  static F Max(F a, F b) { return _mm256_max_ps(a, b); }
  static float ReduceMax(F v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
  }
  static F Div(F a, F b) { return _mm256_div_ps(a, b); }
  // For the vector exp (gemm_impl.h ExpV): nearest integer, p * 2^n for integral n in
  // [-126, 127] (exponent bits), and v where x >= lo, else 0.
  static F Min(F a, F b) { return _mm256_min_ps(a, b); }
  static F RoundNearest(F v) { return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static F MulPow2(F p, F n) {
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  }
  static F ZeroWhereBelow(F v, F x, F lo) { return _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LT_OQ), v); }
};
#endif

#if defined(__AVX512F__)
template <bool kVnni_>
struct VecAvx512 {
  using F = __m512;
  static constexpr int N = 16;
  static F Zero() { return _mm512_setzero_ps(); }
  static F Set1(float v) { return _mm512_set1_ps(v); }
  static F Load(const float* p) { return _mm512_loadu_ps(p); }
  static void Store(float* p, F v) { _mm512_storeu_ps(p, v); }
  static F Fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F Mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F Add(F a, F b) { return _mm512_add_ps(a, b); }
  static F LoadF16(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static F LoadBf16(const uint16_t* p) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  }
  static F LoadFp8(const uint8_t* p) {
    const __m256i v = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    const __m256i h = _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(v, _mm256_set1_epi16(0x80)), 8),
                                      _mm256_slli_epi16(_mm256_and_si256(v, _mm256_set1_epi16(0x7F)), 7));
    return _mm512_cvtph_ps(h);
  }
  // 16 e2m1 weights from 8 bytes: one permute over the 16-value table (4 index bits).
  static F LoadFp4(const uint8_t* p) {
    const __m512i n = _mm512_cvtepu8_epi32(SplitNibbles(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
    return _mm512_permutexvar_ps(n, _mm512_load_ps(kE2M1Values));
  }
  static float Reduce(F v) { return _mm512_reduce_add_ps(v); }
  // 32-element int8 blocks stay 256 bits wide (one ggml block per vector); with AVX512-VNNI
  // (VL) one vpdpbusd replaces maddubs + madd. Same |w| / sign trick as VecAvx2::DotI8.
  static __m256i DotI8(__m256i w, __m256i x) {
    if constexpr (kVnni_) {
      return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    } else {
      const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
      return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
    }
  }
  static __m256i DotU8S8(__m256i u, __m256i x) {
    if constexpr (kVnni_) return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, x);
    else return _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1));
  }
  static __m256 I32ToF(__m256i v) { return _mm256_cvtepi32_ps(v); }
  static float ReduceHalf(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  using I = __m512i;
  static constexpr bool kVnni = kVnni_;
  static I LoadI(const void* p) { return _mm512_loadu_si512(p); }
  static I SetI(int32_t v) { return _mm512_set1_epi32(v); }
  static I Bcast32(const void* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
  }
  // vpdpbusd is exact (no intermediate saturation); the maddubs fallback needs the caller's
  // pair-sum bound as VecAvx2::DotAccU8S8.
  static I DotAccU8S8(I acc, I u, I s) {
    if constexpr (kVnni_) return _mm512_dpbusd_epi32(acc, u, s);
    else return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
  }
  static I AbsI8(I v) { return _mm512_abs_epi8(v); }
  // AVX-512 has no vpsignb: negate x where w < 0 (where w == 0 the |w| factor is 0 anyway).
  static I SignI8(I x, I w) { return _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(w), _mm512_setzero_si512(), x); }
  static I FlipI8(I v) { return _mm512_xor_si512(v, _mm512_set1_epi8(static_cast<char>(0x80))); }
  static F I32ToFv(I v) { return _mm512_cvtepi32_ps(v); }
  static F Max(F a, F b) { return _mm512_max_ps(a, b); }
  static float ReduceMax(F v) { return _mm512_reduce_max_ps(v); }
  static F Div(F a, F b) { return _mm512_div_ps(a, b); }
  static F Min(F a, F b) { return _mm512_min_ps(a, b); }
  static F RoundNearest(F v) { return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static F MulPow2(F p, F n) { return _mm512_scalef_ps(p, n); }
  static F ZeroWhereBelow(F v, F x, F lo) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, lo, _CMP_NLT_UQ), v); }
};
#endif

}  // namespace qs::kern
