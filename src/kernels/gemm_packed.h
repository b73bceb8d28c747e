// The kernel over Q4_0 / Q8_0 weights repacked at load (layout: kernels/pack.h), for decode and
// prefill alike: R groups of L = V::N rows x NT tokens. Included by gemm_impl.h only (per-ISA TUs).
//
// Per 32-column block b, group g (L rows) and token t, one int32 lane per row, weights stored
// unsigned as u = q + off (Q4_0: the nibble, off = 8; Q8_0: q + 128):
//   isum = -off * sum(q_x)                         (u . x - off sum(x) = q . x)
//   per chunk j: isum += u(4 elements) . x(the same 4)   (vpdpbusd: unsigned weight bytes x
//                                                   signed activation bytes, broadcast)
//   acc += float(isum) * (d_w * d_x)               one fma for L rows
// The integer sums are exact (|sum| <= 32 * 255 * 127 < 2^31), so per (row, token) the result is
// sum_b (d_w d_x)_b * dot_b, the value of kern::ref::DotQ8Row, up to fp32 accumulation order.
// Without VNNI, maddubs' int16 pair sums stay <= 2 * 15 * 128 for Q4_0 (no saturation); Q8_0
// (2 * 255 * 127 would saturate) runs packed only with VNNI (kernels/pack.cc CanPack).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/kernel_iface.h"
#include "kernels/simd.h"

namespace qs::kern {
namespace {

template <class V>
inline typename V::I Nibbles4(typename V::I v, bool high) {
  if constexpr (V::N == 16) {
    const __m512i m = _mm512_set1_epi8(0x0F);
    return high ? _mm512_and_si512(_mm512_srli_epi16(v, 4), m) : _mm512_and_si512(v, m);
  } else {
    const __m256i m = _mm256_set1_epi8(0x0F);
    return high ? _mm256_and_si256(_mm256_srli_epi16(v, 4), m) : _mm256_and_si256(v, m);
  }
}

// Stores R groups x NT tokens of one-lane-per-row sums (the int8, packed and bf16 tiles): rows
// r + g * V::N + k for the nvalid rows that exist.
template <class V, int R, int NT>
inline void StoreGroups(const typename V::F (&acc)[R][NT], float* y, int64_t ys, int64_t r, int64_t nvalid, int64_t t0) {
  constexpr int L = V::N;
  for (int g = 0; g < R; ++g)
    for (int t = 0; t < NT; ++t) {
      float* yt = y + (t0 + t) * ys + r + g * L;
      const int64_t n = nvalid - g * L;
      if (n >= L) {
        V::Store(yt, acc[g][t]);
      } else if (n > 0) {
        alignas(64) float tmp[L];
        V::Store(tmp, acc[g][t]);
        for (int64_t k = 0; k < n; ++k) yt[k] = tmp[k];
      }
    }
}

// Q4_0: 4 loads per block, each giving two chunks (low nibbles: elements 4j.., high: 16+4j..).
struct PackedQ4_0 {
  static constexpr int kLoads = 4, kQBytes = 16, kOffset = 8;
  static constexpr bool kNibbles = true;
};
// Q8_0: 8 loads per block of q + 128, chunk j = elements 4j..4j+3.
struct PackedQ8_0 {
  static constexpr int kLoads = 8, kQBytes = 32, kOffset = 128;
  static constexpr bool kNibbles = false;
};

template <class V, class PF, int R, int NT>
inline void TilePacked(const uint8_t* pack, int64_t gbytes, int64_t nb, const XDesc& x, int64_t r, int64_t nvalid,
                         int64_t t0, float* y, int64_t ys) {
  using F = typename V::F;
  using I = typename V::I;
  constexpr int L = V::N;
  F acc[R][NT];
  for (int g = 0; g < R; ++g)
    for (int t = 0; t < NT; ++t) acc[g][t] = V::Zero();
  const uint16_t* sc[R];
  const uint8_t* qs[R];
  for (int g = 0; g < R; ++g) {
    sc[g] = reinterpret_cast<const uint16_t*>(pack + g * gbytes);
    qs[g] = pack + g * gbytes + nb * 2 * L;  // after the scales
  }
  const int8_t* qx[NT];
  const float* dx[NT];
  const int32_t* isx[NT];
  for (int t = 0; t < NT; ++t) {
    qx[t] = x.qx + (t0 + t) * x.qx_stride;
    dx[t] = x.dx + (t0 + t) * x.dx_stride;
    isx[t] = x.isx + (t0 + t) * x.dx_stride;
  }
  for (int64_t b = 0; b < nb; ++b) {
    if constexpr (NT == 1) {
      // Decode: one sequential stream per group; the hardware prefetchers see R + R scale streams
      // advancing slowly, so ask for the quants ~kPackPrefetch ahead explicitly (4 lines a block).
      constexpr int64_t kPackPrefetch = 4096;
      for (int g = 0; g < R; ++g)
        for (int l = 0; l < PF::kQBytes * L; l += 64)
          _mm_prefetch(reinterpret_cast<const char*>(qs[g] + b * PF::kQBytes * L + kPackPrefetch + l), _MM_HINT_T0);
    }
    I isum[R][NT];
    for (int t = 0; t < NT; ++t) {
      const I corr = V::SetI(-PF::kOffset * isx[t][b]);
      for (int g = 0; g < R; ++g) isum[g][t] = corr;
    }
    for (int j = 0; j < PF::kLoads; ++j) {
      I lo[R], hi[R];
      for (int g = 0; g < R; ++g) {
        const I v = V::LoadI(qs[g] + b * PF::kQBytes * L + j * 4 * L);
        if constexpr (PF::kNibbles) {
          lo[g] = Nibbles4<V>(v, false);
          hi[g] = Nibbles4<V>(v, true);
        } else {
          lo[g] = v;
        }
      }
      for (int t = 0; t < NT; ++t) {
        const I xl = V::Bcast32(qx[t] + b * 32 + 4 * j);
        for (int g = 0; g < R; ++g) isum[g][t] = V::DotAccU8S8(isum[g][t], lo[g], xl);
        if constexpr (PF::kNibbles) {
          const I xh = V::Bcast32(qx[t] + b * 32 + 16 + 4 * j);
          for (int g = 0; g < R; ++g) isum[g][t] = V::DotAccU8S8(isum[g][t], hi[g], xh);
        }
      }
    }
    for (int g = 0; g < R; ++g) {
      const F dw = V::LoadF16(sc[g] + b * L);
      for (int t = 0; t < NT; ++t) acc[g][t] = V::Fma(V::I32ToFv(isum[g][t]), V::Mul(dw, V::Set1(dx[t][b])), acc[g][t]);
    }
  }
  StoreGroups<V, R, NT>(acc, y, ys, r, nvalid, t0);
}

// ---- Q4_K / Q5_K / Q6_K repacked at load (layout: kernels/pack.h) ---------------------------
// Per 256-column super-block, group g and token t, one int32 lane per row. The quants are the
// ggml values stored unsigned (Q4_K 0..15, Q5_K 0..31, Q6_K 0..63): nibbles as Q4_0's packed
// layout (load j: low nibble element 4j+e, high nibble 16+4j+e), the 5th / 5th-6th bits in one /
// two vectors per sub-block ORed in at bit 4. Per 32-column block b (sub-block s):
//   Q4_K / Q5_K: isum = q . x_q (vpdpbusd, q unsigned); acc += isum * (d sc_s) d_x
//                acc -= (dmin m_s) * (d_x sum(x_q)) (XDesc::sx)  -- w = d sc q - dmin m
//   Q6_K:        per 16-element half h: isum_h = q . x_q - 32 sum_h(x_q) (XDesc::isx16, exact),
//                acc += isum_h * (d sc_h) d_x                       -- w = d sc (q - 32)
// d sc is exact in fp32 (11-bit d times a <= 8-bit scale), so these are the kernels' TileQ sums
// with the same integer dots; only fp32 accumulation order differs. maddubs (no VNNI) stays
// unsaturated: 2 * 63 * 127 < 2^15.
struct PackedQ4_K {
  static constexpr int kSub = 16, kHigh = 0;  // bytes per row and sub-block; high-bit vectors
  static constexpr bool kMin = true;
};
struct PackedQ5_K {
  static constexpr int kSub = 20, kHigh = 1;
  static constexpr bool kMin = true;
};
struct PackedQ6_K {
  static constexpr int kSub = 24, kHigh = 2;
  static constexpr bool kMin = false;
};
constexpr int kKHeader = 20;  // header bytes per row and super-block (kernels/pack.h)

template <class V>
inline typename V::F U8ToF(const uint8_t* p) {
  if constexpr (V::N == 16) return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  else return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
template <class V>
inline typename V::F I8ToF(const uint8_t* p) {
  if constexpr (V::N == 16) return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  else return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
// (v & mask) shifted by sh bits within each byte (sh > 0 left, < 0 right); mask keeps the bits
// that stay inside their byte.
template <class V, int kMask, int kSh>
inline typename V::I BitsTo(typename V::I v) {
  if constexpr (V::N == 16) {
    const __m512i m = _mm512_and_si512(v, _mm512_set1_epi8(static_cast<char>(kMask)));
    if constexpr (kSh > 0) return _mm512_slli_epi16(m, kSh);
    else if constexpr (kSh < 0) return _mm512_srli_epi16(m, -kSh);
    else return m;
  } else {
    const __m256i m = _mm256_and_si256(v, _mm256_set1_epi8(static_cast<char>(kMask)));
    if constexpr (kSh > 0) return _mm256_slli_epi16(m, kSh);
    else if constexpr (kSh < 0) return _mm256_srli_epi16(m, -kSh);
    else return m;
  }
}
template <class V>
inline typename V::I OrI(typename V::I a, typename V::I b) {
  if constexpr (V::N == 16) return _mm512_or_si512(a, b);
  else return _mm256_or_si256(a, b);
}
// The high bits of load j (kernels/pack.h): Q5_K bit j (low half) / 4+j (high half) of h0;
// Q6_K bits 2j..2j+1 of h0 (low half) / h1 (high half).
template <class V, class PK, int J>
inline void AddHigh(typename V::I h0, typename V::I h1, typename V::I* lo, typename V::I* hi) {
  if constexpr (PK::kHigh == 1) {
    *lo = OrI<V>(*lo, BitsTo<V, (1 << J), 4 - J>(h0));
    *hi = OrI<V>(*hi, BitsTo<V, (0x10 << J), -J>(h0));
  } else if constexpr (PK::kHigh == 2) {
    *lo = OrI<V>(*lo, BitsTo<V, (3 << (2 * J)), 4 - 2 * J>(h0));
    *hi = OrI<V>(*hi, BitsTo<V, (3 << (2 * J)), 4 - 2 * J>(h1));
  }
}

template <class V, class PK, int R, int NT, int J>
inline void KLoad(const uint8_t* const (&qb)[R], const typename V::I (&h0)[R], const typename V::I (&h1)[R],
                  const int8_t* const (&xb)[NT], typename V::I (&isum)[R][NT], typename V::I (&isum2)[R][NT]) {
  using I = typename V::I;
  constexpr int L = V::N;
  I lo[R], hi[R];
  for (int g = 0; g < R; ++g) {
    const I v = V::LoadI(qb[g] + J * 4 * L);
    lo[g] = Nibbles4<V>(v, false);
    hi[g] = Nibbles4<V>(v, true);
    AddHigh<V, PK, J>(h0[g], h1[g], &lo[g], &hi[g]);
  }
  for (int t = 0; t < NT; ++t) {
    const I xl = V::Bcast32(xb[t] + 4 * J), xh = V::Bcast32(xb[t] + 16 + 4 * J);
    for (int g = 0; g < R; ++g) {
      isum[g][t] = V::DotAccU8S8(isum[g][t], lo[g], xl);
      if constexpr (PK::kMin) isum[g][t] = V::DotAccU8S8(isum[g][t], hi[g], xh);
      else isum2[g][t] = V::DotAccU8S8(isum2[g][t], hi[g], xh);
    }
  }
}

template <class V, class PK, int R, int NT>
inline void TileKPacked(const uint8_t* pack, int64_t gbytes, int64_t nsb, const XDesc& x, int64_t r, int64_t nvalid,
                        int64_t t0, float* y, int64_t ys) {
  using F = typename V::F;
  using I = typename V::I;
  constexpr int L = V::N;
  constexpr int64_t kSbBytes = (kKHeader + 8 * PK::kSub) * L;
  F acc[R][NT];
  for (int g = 0; g < R; ++g)
    for (int t = 0; t < NT; ++t) acc[g][t] = V::Zero();
  const int8_t* qx[NT];
  const float* dx[NT];
  const float* sx[NT];
  const int32_t* h16[NT];
  for (int t = 0; t < NT; ++t) {
    qx[t] = x.qx + (t0 + t) * x.qx_stride;
    dx[t] = x.dx + (t0 + t) * x.dx_stride;
    sx[t] = PK::kMin ? x.sx + (t0 + t) * x.dx_stride : nullptr;
    h16[t] = PK::kMin ? nullptr : x.isx16 + (t0 + t) * 2 * x.dx_stride;
  }
  for (int64_t sb = 0; sb < nsb; ++sb) {
    const uint8_t* hdr[R];
    F dv[R], mv[R];
    for (int g = 0; g < R; ++g) {
      hdr[g] = pack + g * gbytes + sb * kSbBytes;
      dv[g] = V::LoadF16(reinterpret_cast<const uint16_t*>(hdr[g]));
      if constexpr (PK::kMin) mv[g] = V::LoadF16(reinterpret_cast<const uint16_t*>(hdr[g] + 2 * L));
    }
    for (int s = 0; s < 8; ++s) {
      const int64_t b = sb * 8 + s;
      const uint8_t* qb[R];
      I h0[R], h1[R];
      for (int g = 0; g < R; ++g) {
        qb[g] = hdr[g] + kKHeader * L + s * PK::kSub * L;
        if constexpr (NT == 1) {
          // Decode: as TilePacked, prefetch ~4 KiB ahead of each group's stream.
          for (int l = 0; l < PK::kSub * L; l += 64)
            _mm_prefetch(reinterpret_cast<const char*>(qb[g] + 4096 + l), _MM_HINT_T0);
        }
        if constexpr (PK::kHigh >= 1) h0[g] = V::LoadI(qb[g] + 16 * L);
        else h0[g] = V::SetI(0);
        if constexpr (PK::kHigh >= 2) h1[g] = V::LoadI(qb[g] + 20 * L);
        else h1[g] = h0[g];
      }
      I isum[R][NT], isum2[R][NT];
      for (int t = 0; t < NT; ++t) {
        const I c0 = PK::kMin ? V::SetI(0) : V::SetI(-32 * h16[t][2 * b]);
        const I c1 = PK::kMin ? V::SetI(0) : V::SetI(-32 * h16[t][2 * b + 1]);
        for (int g = 0; g < R; ++g) isum[g][t] = c0, isum2[g][t] = c1;
      }
      const int8_t* xb[NT];
      for (int t = 0; t < NT; ++t) xb[t] = qx[t] + b * 32;
      KLoad<V, PK, R, NT, 0>(qb, h0, h1, xb, isum, isum2);
      KLoad<V, PK, R, NT, 1>(qb, h0, h1, xb, isum, isum2);
      KLoad<V, PK, R, NT, 2>(qb, h0, h1, xb, isum, isum2);
      KLoad<V, PK, R, NT, 3>(qb, h0, h1, xb, isum, isum2);
      for (int g = 0; g < R; ++g) {
        if constexpr (PK::kMin) {
          const F sc = V::Mul(dv[g], U8ToF<V>(hdr[g] + 4 * L + s * L));
          const F mn = V::Mul(mv[g], U8ToF<V>(hdr[g] + 12 * L + s * L));
          for (int t = 0; t < NT; ++t) {
            acc[g][t] = V::Fma(V::I32ToFv(isum[g][t]), V::Mul(sc, V::Set1(dx[t][b])), acc[g][t]);
            acc[g][t] = V::Fma(mn, V::Set1(-sx[t][b]), acc[g][t]);
          }
        } else {
          const F s0 = V::Mul(dv[g], I8ToF<V>(hdr[g] + 4 * L + 2 * s * L));
          const F s1 = V::Mul(dv[g], I8ToF<V>(hdr[g] + 4 * L + (2 * s + 1) * L));
          for (int t = 0; t < NT; ++t) {
            const F d = V::Set1(dx[t][b]);
            acc[g][t] = V::Fma(V::I32ToFv(isum[g][t]), V::Mul(s0, d), acc[g][t]);
            acc[g][t] = V::Fma(V::I32ToFv(isum2[g][t]), V::Mul(s1, d), acc[g][t]);
          }
        }
      }
    }
  }
  StoreGroups<V, R, NT>(acc, y, ys, r, nvalid, t0);
}

#ifndef QS_PACKED_GROUPS
#define QS_PACKED_GROUPS 2
#endif
#ifndef QS_PACKED_TOKENS
#define QS_PACKED_TOKENS 4
#endif
#ifndef QS_PACKED_DECODE_GROUPS
#define QS_PACKED_DECODE_GROUPS 2
#endif

template <class V>
inline bool CanRunPacked(const WDesc& w, const XDesc& x) {
  if (w.packed == nullptr || w.packed_lanes != V::N) return false;
  if (w.fmt == WFmt::kF16 || w.fmt == WFmt::kBF16) return x.x != nullptr;
  if (w.fmt == WFmt::kQ4_K || w.fmt == WFmt::kQ5_K) return x.qx != nullptr && x.sx != nullptr && w.cols % 256 == 0;
  if (w.fmt == WFmt::kQ6_K) return x.qx != nullptr && x.isx16 != nullptr && w.cols % 256 == 0;
  return (w.fmt == WFmt::kQ4_0 || (w.fmt == WFmt::kQ8_0 && V::kVnni)) && x.qx != nullptr && x.isx != nullptr &&
         w.cols % 32 == 0;
}

// ---- F16 / BF16 repacked as [cols][L] (kernels/pack.h): fp32 activations, as the unpacked path --
// Per column c, one vector holds the L rows' weights (widened exactly), times the broadcast x[c]:
// one fma updates L row sums, no horizontal sums. Decode (NT < 4) keeps K = 2 accumulators per
// group (even / odd columns) so 2R fma chains hide the fma latency. Each row's sum is a sequence
// of exact products accumulated in fp32, so it differs from the scalar twin only in order.
#ifndef QS_HALF_PF
#define QS_HALF_PF 1024
#endif
#ifndef QS_HALF_R
#define QS_HALF_R 2
#endif
#ifndef QS_HALF_NT
#define QS_HALF_NT 8
#endif
template <class V, bool kBf16>
inline typename V::F LoadHalfVec(const uint16_t* p) {
  if constexpr (kBf16) return V::LoadBf16(p);
  else return V::LoadF16(p);
}

template <class V, bool kBf16, int R, int NT>
inline void TileHalfPacked(const uint8_t* pack, int64_t gbytes, int64_t cols, const XDesc& x, int64_t r,
                           int64_t nvalid, int64_t t0, float* y, int64_t ys) {
  using F = typename V::F;
  constexpr int L = V::N, K = NT < 4 ? 2 : 1;
  F acc[R][NT][K];
  for (int g = 0; g < R; ++g)
    for (int t = 0; t < NT; ++t)
      for (int k = 0; k < K; ++k) acc[g][t][k] = V::Zero();
  const uint16_t* w[R];
  for (int g = 0; g < R; ++g) w[g] = reinterpret_cast<const uint16_t*>(pack + g * gbytes);
  const float* xs[NT];
  for (int t = 0; t < NT; ++t) xs[t] = x.x + (t0 + t) * x.x_stride;
  int64_t c = 0;
  for (; c + K <= cols; c += K) {
    if constexpr (NT < 4) {  // decode: one stream per group, prefetched ~2 KiB ahead
      if ((c * L * 2) % 64 == 0)
        for (int g = 0; g < R; ++g) _mm_prefetch(reinterpret_cast<const char*>(w[g] + c * L + QS_HALF_PF), _MM_HINT_T0);
    }
    for (int k = 0; k < K; ++k) {
      F wv[R];
      for (int g = 0; g < R; ++g) wv[g] = LoadHalfVec<V, kBf16>(w[g] + (c + k) * L);
      for (int t = 0; t < NT; ++t) {
        const F xb = V::Set1(xs[t][c + k]);
        for (int g = 0; g < R; ++g) acc[g][t][k] = V::Fma(wv[g], xb, acc[g][t][k]);
      }
    }
  }
  for (; c < cols; ++c) {
    for (int g = 0; g < R; ++g) {
      const F wv = LoadHalfVec<V, kBf16>(w[g] + c * L);
      for (int t = 0; t < NT; ++t) acc[g][t][0] = V::Fma(wv, V::Set1(xs[t][c]), acc[g][t][0]);
    }
  }
  F sum[R][NT];
  for (int g = 0; g < R; ++g)
    for (int t = 0; t < NT; ++t) {
      sum[g][t] = acc[g][t][0];
      for (int k = 1; k < K; ++k) sum[g][t] = V::Add(sum[g][t], acc[g][t][k]);
    }
  StoreGroups<V, R, NT>(sum, y, ys, r, nvalid, t0);
}

// The tile families over packed groups, with their tile shapes: decode (T < 4) R groups x up to 3
// tokens in one pass (a few sequences decoding together share it); prefill R groups x NT tokens.
template <class V, class PF>
struct QuantTiles {
  static constexpr int kDecodeR = V::N == 16 ? QS_PACKED_DECODE_GROUPS : 2;
  static constexpr int kR = V::N == 16 ? QS_PACKED_GROUPS : 1, kNT = V::N == 16 ? QS_PACKED_TOKENS : 4;
  static int64_t Width(const WDesc& w) { return w.cols / 32; }  // blocks
  static int64_t GroupBytes(const WDesc& w) { return w.cols / 32 * (2 + PF::kQBytes) * V::N; }
  template <int R, int NT>
  static void Run(const uint8_t* pack, int64_t gbytes, int64_t width, const XDesc& x, int64_t r, int64_t nvalid,
                  int64_t t0, float* y, int64_t ys) {
    TilePacked<V, PF, R, NT>(pack, gbytes, width, x, r, nvalid, t0, y, ys);
  }
};
// K-quants: widths in super-blocks. Q6_K keeps two int32 sums per (group, token), so its prefill
// tile is 2 x 3 (AVX-512) / 1 x 3 (AVX2) to stay within the register file.
template <class V, class PK>
struct KQuantTiles {
  static constexpr int kDecodeR = 2, kR = V::N == 16 ? 2 : 1, kNT = PK::kMin ? 4 : 3;
  static int64_t Width(const WDesc& w) { return w.cols / 256; }
  static int64_t GroupBytes(const WDesc& w) { return w.cols / 256 * (kKHeader + 8 * PK::kSub) * V::N; }
  template <int R, int NT>
  static void Run(const uint8_t* pack, int64_t gbytes, int64_t width, const XDesc& x, int64_t r, int64_t nvalid,
                  int64_t t0, float* y, int64_t ys) {
    TileKPacked<V, PK, R, NT>(pack, gbytes, width, x, r, nvalid, t0, y, ys);
  }
};
// (Prefill: 16 of 32 zmm accumulators; AVX2 8 of 16 ymm.)
template <class V, bool kBf16>
struct HalfTiles {
  static constexpr int kDecodeR = QS_HALF_R, kR = 2, kNT = V::N == 16 ? QS_HALF_NT : 4;
  static int64_t Width(const WDesc& w) { return w.cols; }
  static int64_t GroupBytes(const WDesc& w) { return w.cols * 2 * V::N; }
  template <int R, int NT>
  static void Run(const uint8_t* pack, int64_t gbytes, int64_t width, const XDesc& x, int64_t r, int64_t nvalid,
                  int64_t t0, float* y, int64_t ys) {
    TileHalfPacked<V, kBf16, R, NT>(pack, gbytes, width, x, r, nvalid, t0, y, ys);
  }
};

// Dispatches a runtime token count nt in [1, NT] to the compile-time tile K::Run<R, nt>.
template <class K, int R, int NT>
inline void RunNtGroups(int64_t nt, const uint8_t* pack, int64_t gbytes, int64_t width, const XDesc& x, int64_t r,
                        int64_t nvalid, int64_t t0, float* y, int64_t ys) {
  if constexpr (NT <= 1) {
    K::template Run<R, 1>(pack, gbytes, width, x, r, nvalid, t0, y, ys);
  } else {
    if (nt >= NT) K::template Run<R, NT>(pack, gbytes, width, x, r, nvalid, t0, y, ys);
    else RunNtGroups<K, R, NT - 1>(nt, pack, gbytes, width, x, r, nvalid, t0, y, ys);
  }
}

// Rows [r0, r1) (r0 a multiple of L) for all tokens. Decode walks the groups once; prefill keeps
// a ~256 KiB block of groups in L2 while every group of NT tokens passes over it.
template <class V, class K>
void RunGroups(const WDesc& w, const XDesc& x, float* y, int64_t ys, int64_t r0, int64_t r1) {
  constexpr int L = V::N;
  const int64_t width = K::Width(w), gbytes = K::GroupBytes(w);
  const uint8_t* base = w.packed + (r0 / L) * gbytes;
  const bool decode = x.T < kDequantMinT;
  static_assert(kDequantMinT == 4, "decode tiles take up to 3 tokens");
  constexpr int RD = K::kDecodeR, RP = K::kR, NT = K::kNT;
  const int64_t R = decode ? RD : RP;
  int64_t gpb = decode ? (r1 - r0 + L - 1) / L : (256 * 1024) / gbytes;
  gpb = gpb < R ? R : gpb / R * R;
  for (int64_t b0 = r0; b0 < r1; b0 += gpb * L) {
    const int64_t nrows = r1 - b0 < gpb * L ? r1 - b0 : gpb * L;
    const int64_t ng = (nrows + L - 1) / L;
    const uint8_t* blk = base + ((b0 - r0) / L) * gbytes;
    for (int64_t t0 = 0; t0 < x.T; t0 += decode ? x.T : NT) {
      const int64_t nt = decode ? x.T : (x.T - t0 < NT ? x.T - t0 : NT);
      int64_t g = 0;
      if (decode) {
        for (; g + RD <= ng; g += RD)
          RunNtGroups<K, RD, 3>(nt, blk + g * gbytes, gbytes, width, x, b0 + g * L, nrows - g * L, t0, y, ys);
        for (; g < ng; ++g) RunNtGroups<K, 1, 3>(nt, blk + g * gbytes, gbytes, width, x, b0 + g * L, nrows - g * L, t0, y, ys);
      } else {
        for (; g + RP <= ng; g += RP)
          RunNtGroups<K, RP, NT>(nt, blk + g * gbytes, gbytes, width, x, b0 + g * L, nrows - g * L, t0, y, ys);
        for (; g < ng; ++g) RunNtGroups<K, 1, NT>(nt, blk + g * gbytes, gbytes, width, x, b0 + g * L, nrows - g * L, t0, y, ys);
      }
    }
  }
}

}  // namespace
}  // namespace qs::kern
