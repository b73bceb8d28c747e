// i-quant dequantizers (issue 16), bit-exact with ggml's dequantize_row_iq* (ggml-quants.c): the
// same formulas and float operation order (this library is built with -ffp-contract=off, see
// CMakeLists.txt). The block layouts are ggml-common.h's (byte offsets below); the codebooks are
// format data: kIq4nlValues here, the grids and the sign table in iq_grids_*.cc.
#include <cstdint>
#include <cstring>

#include "quant/fp16.h"
#include "quant/iq_grids.h"
#include "quant/quant.h"

namespace qs {

// ggml-common.h kvalues_iq4nl: the non-linear 4-bit codebook of IQ4_NL and IQ4_XS (format data).
const int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};


namespace ref {

namespace {
float Half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return F16ToF32(h);
}
uint16_t U16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
uint32_t U32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
// Byte j of a grid entry (ggml reads the entries through a byte pointer, little-endian).
template <class T>
uint8_t GridByte(T e, int j) { return static_cast<uint8_t>(e >> (8 * j)); }
// ggml's kmask_iq2xs[j] is 1 << j: bit j of a sign byte negates element j.
float SignOf(uint8_t signs, int j) { return (signs >> j) & 1 ? -1.f : 1.f; }
// 8 weights from a uint8 grid entry with signs: y = db * grid[j] * (+-1), ggml's order.
void Grid8(float db, uint64_t e, uint8_t signs, float* y) {
  for (int j = 0; j < 8; ++j) y[j] = db * static_cast<float>(GridByte(e, j)) * SignOf(signs, j);
}
// 4 + 4 weights from two uint32 grid entries, the signs of all 8 in one byte.
void Grid4x2(float db, uint32_t e1, uint32_t e2, uint8_t signs, float* y) {
  for (int j = 0; j < 4; ++j) {
    y[j] = db * static_cast<float>(GridByte(e1, j)) * SignOf(signs, j);
    y[j + 4] = db * static_cast<float>(GridByte(e2, j)) * SignOf(signs, j + 4);
  }
}
constexpr float kIq1Delta = 0.125f;  // ggml-common.h IQ1S_DELTA (= IQ1M_DELTA)
// 8 weights of an IQ1 grid entry (int8 values -1, 0, 1): y = dl * (grid[j] + delta).
void Grid1(float dl, uint64_t e, float delta, float* y) {
  for (int j = 0; j < 8; ++j) y[j] = dl * (static_cast<float>(static_cast<int8_t>(GridByte(e, j))) + delta);
}
}  // namespace

// block_iq2_xxs (66 bytes): fp16 d @0, uint16 qs[32] @2. Per 32 weights (8 bytes): bytes 0-3 are
// four kIq2xxsGrid indices, the uint32 at 4-7 holds four 7-bit sign indices (bits 7l..7l+6) and a
// 4-bit scale (bits 28-31): db = d * (0.5 + s) * 0.25.
void DequantizeIQ2_XXS(const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n / 256; ++i, p += 66) {
    const float d = Half(p);
    for (int ib = 0; ib < 8; ++ib) {
      const uint8_t* q = p + 2 + 8 * ib;
      const uint32_t aux = U32(q + 4);
      const float db = d * (0.5f + static_cast<float>(aux >> 28)) * 0.25f;
      for (int l = 0; l < 4; ++l, dst += 8) Grid8(db, iq::kIq2xxsGrid[q[l]], iq::kSignsIq2xs[(aux >> (7 * l)) & 127], dst);
    }
  }
}

// block_iq2_xs (74 bytes): fp16 d @0, uint16 qs[32] @2 (9-bit kIq2xsGrid index | 7-bit sign
// index << 9), scales[8] @66 (two 4-bit scales per 32: low nibble the first 16 weights).
void DequantizeIQ2_XS(const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n / 256; ++i, p += 74) {
    const float d = Half(p);
    for (int ib = 0; ib < 8; ++ib) {
      const uint8_t sc = p[66 + ib];
      const float db[2] = {d * (0.5f + static_cast<float>(sc & 0xF)) * 0.25f,
                           d * (0.5f + static_cast<float>(sc >> 4)) * 0.25f};
      for (int l = 0; l < 4; ++l, dst += 8) {
        const uint16_t q = U16(p + 2 + 2 * (4 * ib + l));
        Grid8(db[l / 2], iq::kIq2xsGrid[q & 511], iq::kSignsIq2xs[q >> 9], dst);
      }
    }
  }
}

// block_iq2_s (82 bytes): fp16 d @0, qs[32] @2 (low 8 bits of 10-bit kIq2sGrid indices), signs[32]
// @34 (one explicit sign byte per 8 weights), qh[8] @66 (bits 2l..2l+1: index bits 8-9), scales[8]
// @74 (as IQ2_XS).
void DequantizeIQ2_S(const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n / 256; ++i, p += 82) {
    const float d = Half(p);
    for (int ib = 0; ib < 8; ++ib) {
      const uint8_t sc = p[74 + ib], qh = p[66 + ib];
      const float db[2] = {d * (0.5f + static_cast<float>(sc & 0xF)) * 0.25f,
                           d * (0.5f + static_cast<float>(sc >> 4)) * 0.25f};
      for (int l = 0; l < 4; ++l, dst += 8) {
        const int idx = p[2 + 4 * ib + l] | ((qh << (8 - 2 * l)) & 0x300);
        Grid8(db[l / 2], iq::kIq2sGrid[idx], p[34 + 4 * ib + l], dst);
      }
    }
  }
}

// block_iq3_xxs (98 bytes): fp16 d @0, qs[64] @2 (kIq3xxsGrid indices, 4 weights each), then per
// 32 weights a uint32 @66 + 4 ib: four 7-bit sign indices and a 4-bit scale (bits 28-31):
// db = d * (0.5 + s) * 0.5.
void DequantizeIQ3_XXS(const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n / 256; ++i, p += 98) {
    const float d = Half(p);
    for (int ib = 0; ib < 8; ++ib) {
      const uint8_t* q = p + 2 + 8 * ib;
      const uint32_t aux = U32(p + 66 + 4 * ib);
      const float db = d * (0.5f + static_cast<float>(aux >> 28)) * 0.5f;
      for (int l = 0; l < 4; ++l, dst += 8)
        Grid4x2(db, iq::kIq3xxsGrid[q[2 * l]], iq::kIq3xxsGrid[q[2 * l + 1]], iq::kSignsIq2xs[(aux >> (7 * l)) & 127], dst);
    }
  }
}

// block_iq3_s (110 bytes): fp16 d @0, qs[64] @2 (low 8 bits of 9-bit kIq3sGrid indices), qh[8]
// @66 (bit k of qh[ib]: index bit 8 of the k-th entry of 32-block ib), signs[32] @74 (one byte
// per 8 weights), scales[4] @106 (4 bits per 32: db = d * (1 + 2 s)).
void DequantizeIQ3_S(const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n / 256; ++i, p += 110) {
    const float d = Half(p);
    for (int ib = 0; ib < 8; ++ib) {
      const uint8_t sc = p[106 + ib / 2];
      const float db = d * static_cast<float>(1 + 2 * ((ib % 2) ? (sc >> 4) : (sc & 0xF)));
      const uint8_t* q = p + 2 + 8 * ib;
      const uint8_t qh = p[66 + ib];
      for (int l = 0; l < 4; ++l, dst += 8) {
        const int i1 = q[2 * l] | ((qh << (8 - 2 * l)) & 256), i2 = q[2 * l + 1] | ((qh << (7 - 2 * l)) & 256);
        Grid4x2(db, iq::kIq3sGrid[i1], iq::kIq3sGrid[i2], p[74 + 4 * ib + l], dst);
      }
    }
  }
}

// block_iq1_s (50 bytes): fp16 d @0, qs[32] @2 (low 8 bits of 11-bit kIq1sGrid indices), uint16
// qh[8] @34: bits 3l..3l+2 index bits 8-10 of entry l, bits 12-14 the scale s (dl = d (2 s + 1)),
// bit 15 the sign of the shift delta = +-0.125.
void DequantizeIQ1_S(const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n / 256; ++i, p += 50) {
    const float d = Half(p);
    for (int ib = 0; ib < 8; ++ib) {
      const uint16_t qh = U16(p + 34 + 2 * ib);
      const float dl = d * static_cast<float>(2 * ((qh >> 12) & 7) + 1);
      const float delta = (qh & 0x8000) ? -kIq1Delta : kIq1Delta;
      for (int l = 0; l < 4; ++l, dst += 8)
        Grid1(dl, iq::kIq1sGrid[p[2 + 4 * ib + l] | (((qh >> (3 * l)) & 7) << 8)], delta, dst);
    }
  }
}

// block_iq1_m (56 bytes): qs[32] @0, qh[16] @32, scales[8] @48 (four uint16 sc[4]). The fp16
// super-block scale is the top nibbles of sc[0..3]; 32-block ib has two 3-bit scales (bits
// 6 (ib % 2) .. +2 and +3 .. +5 of sc[ib / 2]) for its two halves; qh[2 ib + h] holds index bits
// 8-10 (low / high nibble bits 0-2) and the delta sign (bit 3 / bit 7) of entries 2h, 2h + 1.
void DequantizeIQ1_M(const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n / 256; ++i, p += 56) {
    uint16_t sc[4];
    for (int k = 0; k < 4; ++k) sc[k] = U16(p + 48 + 2 * k);
    const uint16_t dh = static_cast<uint16_t>((sc[0] >> 12) | ((sc[1] >> 8) & 0x00F0) | ((sc[2] >> 4) & 0x0F00) | (sc[3] & 0xF000));
    const float d = F16ToF32(dh);
    for (int ib = 0; ib < 8; ++ib) {
      const float dl1 = d * static_cast<float>(2 * ((sc[ib / 2] >> (6 * (ib % 2) + 0)) & 7) + 1);
      const float dl2 = d * static_cast<float>(2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 7) + 1);
      const uint8_t* qs = p + 4 * ib;
      const uint8_t* qh = p + 32 + 2 * ib;
      const int idx[4] = {qs[0] | ((qh[0] << 8) & 0x700), qs[1] | ((qh[0] << 4) & 0x700), qs[2] | ((qh[1] << 8) & 0x700),
                          qs[3] | ((qh[1] << 4) & 0x700)};
      const float delta[4] = {(qh[0] & 0x08) ? -kIq1Delta : kIq1Delta, (qh[0] & 0x80) ? -kIq1Delta : kIq1Delta,
                              (qh[1] & 0x08) ? -kIq1Delta : kIq1Delta, (qh[1] & 0x80) ? -kIq1Delta : kIq1Delta};
      for (int l = 0; l < 4; ++l, dst += 8) Grid1(l < 2 ? dl1 : dl2, iq::kIq1sGrid[idx[l]], delta[l], dst);
    }
  }
}

// block_iq4_nl (18 bytes, 32 weights): fp16 d, qs[16]; element j: low nibble of qs[j], element
// 16 + j: its high nibble; y = d * kvalues_iq4nl[nibble].
void DequantizeIQ4_NL(const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n / 32; ++i, p += 18, dst += 32) {
    const float d = Half(p);
    const uint8_t* qs = p + 2;
    for (int j = 0; j < 16; ++j) {
      dst[j] = d * kIq4nlValues[qs[j] & 0xF];
      dst[j + 16] = d * kIq4nlValues[qs[j] >> 4];
    }
  }
}

// block_iq4_xs (136 bytes, 256 weights): fp16 d @0, uint16 scales_h @2, uint8 scales_l[4] @4,
// qs[128] @8. Sub-block ib (32 weights): 6-bit scale ls = low 4 bits from nibble ib % 2 of
// scales_l[ib / 2] | bits 2ib..2ib+1 of scales_h as bits 4-5; dl = d * (ls - 32); its 16 qs bytes
// as IQ4_NL's.
void DequantizeIQ4_XS(const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n / 256; ++i, p += 136) {
    const float d = Half(p);
    uint16_t scales_h;
    std::memcpy(&scales_h, p + 2, 2);
    const uint8_t* scales_l = p + 4;
    const uint8_t* qs = p + 8;
    for (int ib = 0; ib < 8; ++ib, qs += 16, dst += 32) {
      const int ls = ((scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((scales_h >> (2 * ib)) & 3) << 4);
      const float dl = d * static_cast<float>(ls - 32);
      for (int j = 0; j < 16; ++j) {
        dst[j] = dl * kIq4nlValues[qs[j] & 0xF];
        dst[j + 16] = dl * kIq4nlValues[qs[j] >> 4];
      }
    }
  }
}

}  // namespace ref
}  // namespace qs
