// i-quant dequantizers (issue 16): for every type a hand-packed block whose floats are derived
// here from the format definition (ggml-common.h block layouts, ggml-quants.c
// dequantize_row_iq*), with the few grid entries used written out again (from ggml-common.h), so
// an offset, bit-field or table slip in the library shows; plus checksums of the whole codebooks
// (computed from ggml-common.h when they were transcribed) and a random-block property.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "quant/fp16.h"
#include "quant/iq_grids.h"
#include "quant/quant.h"

namespace qs {
namespace {

void Put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
void Put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

std::vector<float> Decode(GgmlType t, const std::vector<uint8_t>& b) {
  std::vector<float> y(256, -999.f);
  Status st = DequantizeRow(t, b.data(), y.data(), 256);
  EXPECT_TRUE(st.ok()) << st.message();
  return y;
}

void ExpectHead(const std::vector<float>& y, const std::vector<float>& want, float rest, const char* what) {
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(y[i], want[i]) << what << " element " << i;
  for (size_t i = want.size(); i < y.size(); ++i) ASSERT_EQ(y[i], rest) << what << " element " << i;
}

std::vector<float> Rep(std::vector<float> v, float x, int n) {
  for (int i = 0; i < n; ++i) v.push_back(x);
  return v;
}

// Grid entries used below (ggml-common.h): iq2xxs/iq2xs/iq2s [0] = 0x0808080808080808,
// iq2xxs/iq2xs [1] = 0x080808080808082b, iq2xs [511] = iq2s [1023] = 0x2b2b2b2b2b2b2b2b,
// iq2s [256] = 0x0819081919191919, iq3xxs [0] = 0x04040404, [1] = 0x04040414,
// [255] = 0x3e341c04, iq3s [0] = 0x01010101, [1] = 0x01010103, [256] = 0x05090507,
// [511] = 0x0f0f0101, iq1s [0] = 0xffffffffffffffff, [1] = 0xffffffffffffff01,
// [2047] = 0x0101010101010101; ksigns_iq2xs [0] = 0, [1] = 129 (elements 0 and 7), [127] = 255.

TEST(IQuant, Iq2xxsHandBlock) {
  std::vector<uint8_t> b(66, 0);
  Put16(&b[0], F32ToF16(1.0f));
  b[2 + 1] = 1;  // group 1: grid 1
  Put32(&b[2 + 4], (1u << 7) | (127u << 14) | (3u << 28));  // signs 0, 1, 127, 0; scale 3: db 0.875
  std::vector<float> want = Rep({}, 7.f, 8);
  want.push_back(-37.625f);
  want = Rep(want, 7.f, 6);
  want.push_back(-7.f);
  want = Rep(Rep(want, -7.f, 8), 7.f, 8);
  ExpectHead(Decode(GgmlType::IQ2_XXS, b), want, 1.0f, "iq2_xxs");  // db 0.125 * 8 elsewhere
}

TEST(IQuant, Iq2xsHandBlock) {
  std::vector<uint8_t> b(74, 0);
  Put16(&b[0], F32ToF16(1.0f));
  Put16(&b[2], 1 | (1 << 9));
  Put16(&b[4], 511);
  Put16(&b[6], 127 << 9);
  b[66] = 0x21;  // db 0.375 (groups 0-1), 0.625 (groups 2-3)
  std::vector<float> want = {-16.125f, 3, 3, 3, 3, 3, 3, -3};
  want = Rep(Rep(Rep(want, 16.125f, 8), -5.f, 8), 5.f, 8);
  ExpectHead(Decode(GgmlType::IQ2_XS, b), want, 1.0f, "iq2_xs");
}

TEST(IQuant, Iq2sHandBlock) {
  std::vector<uint8_t> b(82, 0);
  Put16(&b[0], F32ToF16(2.0f));
  b[2 + 3] = 255;
  b[66] = 0xC4;  // index bits 8-9: group 1 -> 256, group 3 -> 255 | 0x300
  b[34] = 0x01, b[37] = 0x80;
  b[74] = 0x10;  // db 0.25, 0.75
  std::vector<float> want = Rep({-2.f}, 2.f, 7);
  for (float g : {25.f, 25.f, 25.f, 25.f, 25.f, 8.f, 25.f, 8.f}) want.push_back(0.25f * g);
  want = Rep(Rep(want, 6.f, 8), 32.25f, 7);
  want.push_back(-32.25f);
  ExpectHead(Decode(GgmlType::IQ2_S, b), want, 2.0f, "iq2_s");
}

TEST(IQuant, Iq3xxsHandBlock) {
  std::vector<uint8_t> b(98, 0);
  Put16(&b[0], F32ToF16(1.0f));
  b[2 + 1] = 1, b[2 + 2] = 255;
  Put32(&b[66], 1u | (1u << 28));  // group 0 sign index 1; scale 1: db 0.75
  std::vector<float> want = {-3, 3, 3, 3, 15, 3, 3, -3, 3, 21, 39, 46.5f};
  want = Rep(want, 3.f, 20);
  ExpectHead(Decode(GgmlType::IQ3_XXS, b), want, 1.0f, "iq3_xxs");
}

TEST(IQuant, Iq3sHandBlock) {
  std::vector<uint8_t> b(110, 0);
  Put16(&b[0], F32ToF16(1.0f));
  b[2 + 0] = 1, b[2 + 3] = 255;
  b[66] = 0x0A;  // bit 1: entry (0, 2nd) +256; bit 3: entry (1, 2nd) +256
  b[74] = 0x10;  // element 4 negated
  b[106] = 0x02;  // block 0: db 1 + 2 * 2 = 5; block 1: 1
  std::vector<float> want = {15, 5, 5, 5, -35, 25, 45, 25, 5, 5, 5, 5, 5, 5, 75, 75};
  want = Rep(want, 5.f, 16);
  ExpectHead(Decode(GgmlType::IQ3_S, b), want, 1.0f, "iq3_s");
}

TEST(IQuant, Iq1sHandBlock) {
  std::vector<uint8_t> b(50, 0);
  Put16(&b[0], F32ToF16(0.5f));
  b[2 + 0] = 1, b[2 + 2] = 255;
  Put16(&b[34], static_cast<uint16_t>((7 << 6) | (2 << 12) | 0x8000));  // entry 2 -> 2047; dl 2.5; delta -1/8
  std::vector<float> want = Rep({2.1875f}, -2.8125f, 15);
  want = Rep(Rep(want, 2.1875f, 8), -2.8125f, 8);
  ExpectHead(Decode(GgmlType::IQ1_S, b), want, -0.4375f, "iq1_s");  // 0.5 * (-1 + 1/8)
}

TEST(IQuant, Iq1mHandBlock) {
  std::vector<uint8_t> b(56, 0);
  // fp16 1.0 = 0x3C00 spread over the top nibbles of the four scale words.
  Put16(&b[48], 0x0011);  // block 0: 3-bit scales 1 (dl1 = 3) and 2 (dl2 = 5)
  Put16(&b[52], 0xC000);
  Put16(&b[54], 0x3000);
  b[0] = 1, b[2] = 255;
  b[32] = 0x08;  // entry 0: delta -1/8
  b[33] = 0x07;  // entry 2: index bits 8-10 = 7 -> 2047
  std::vector<float> want = Rep({2.625f}, -3.375f, 7);
  want = Rep(Rep(Rep(want, -2.625f, 8), 5.625f, 8), -4.375f, 8);
  ExpectHead(Decode(GgmlType::IQ1_M, b), want, -0.875f, "iq1_m");
}

uint64_t Checksum(const void* table, int entries, int bytes) {
  const uint8_t* p = static_cast<const uint8_t*>(table);
  uint64_t cs = 0;
  for (int i = 0; i < entries; ++i)
    for (int j = 0; j < bytes; ++j) cs = (cs * 31 + p[i * bytes + j]) % 1000000007;  // little-endian bytes
  return cs;
}

TEST(IQuant, CodebooksMatchGgml) {
  // (sum over entries, bytes in element order: cs = cs * 31 + byte mod 1e9+7, from ggml-common.h)
  EXPECT_EQ(Checksum(iq::kIq2xxsGrid, 256, 8), 972182662u);
  EXPECT_EQ(Checksum(iq::kIq2xsGrid, 512, 8), 285894984u);
  EXPECT_EQ(Checksum(iq::kIq2sGrid, 1024, 8), 898328988u);
  EXPECT_EQ(Checksum(iq::kIq3xxsGrid, 256, 4), 989307190u);
  EXPECT_EQ(Checksum(iq::kIq3sGrid, 512, 4), 936764652u);
  EXPECT_EQ(Checksum(iq::kIq1sGrid, 2048, 8), 809226862u);
  EXPECT_EQ(Checksum(iq::kSignsIq2xs, 128, 1), 217836922u);
  // ksigns: bit 7 makes the number of negated elements even (the 8th sign is implied).
  for (int i = 0; i < 128; ++i) EXPECT_EQ(__builtin_popcount(iq::kSignsIq2xs[i]) % 2, 0) << i;
}

// Random blocks of every i-quant: decodes, finite, deterministic, and each value is its block's
// scale times a codebook magnitude: |y| <= d * max scale * max grid value.
TEST(IQuant, RandomBlocksDecode) {
  std::mt19937 rng(9);
  for (GgmlType t : {GgmlType::IQ1_S, GgmlType::IQ1_M, GgmlType::IQ2_XXS, GgmlType::IQ2_XS, GgmlType::IQ2_S,
                     GgmlType::IQ3_XXS, GgmlType::IQ3_S, GgmlType::IQ4_NL, GgmlType::IQ4_XS}) {
    ASSERT_TRUE(CanDequantize(t)) << GgmlTypeName(t);
    const size_t bytes = GgmlRowSize(t, 1024).value();
    std::vector<uint8_t> b(bytes);
    for (int rep = 0; rep < 50; ++rep) {
      for (auto& v : b) v = static_cast<uint8_t>(rng());
      // Keep the fp16 scales finite and small (IQ1_M's is spread over its scale words).
      if (t != GgmlType::IQ1_M) {
        const size_t bs = GgmlTraits(t).type_size;
        for (size_t o = 0; o < bytes; o += bs) Put16(&b[o], F32ToF16(0.001f * static_cast<float>(rng() % 100)));
      }
      std::vector<float> y(1024), y2(1024);
      ASSERT_TRUE(DequantizeRow(t, b.data(), y.data(), 1024).ok());
      ASSERT_TRUE(DequantizeRow(t, b.data(), y2.data(), 1024).ok());
      for (int i = 0; i < 1024; ++i) {
        if (t == GgmlType::IQ1_M && !std::isfinite(y[i])) continue;  // random fp16 scale bits
        ASSERT_TRUE(std::isfinite(y[i])) << GgmlTypeName(t) << " " << i;
        ASSERT_EQ(std::memcmp(&y[i], &y2[i], 4), 0);
        if (t != GgmlType::IQ1_M) ASSERT_LE(std::fabs(y[i]), 0.1f * 64 * 127) << GgmlTypeName(t);
      }
    }
  }
}

}  // namespace
}  // namespace qs
