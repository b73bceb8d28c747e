// fp16 / bf16 / fp8-e4m3fn conversions: exhaustive where the domain is small, against an
// independent reference (the compiler's _Float16, a brute-force nearest search) elsewhere.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

#include "quant/fp16.h"
#include "quant/fp8.h"
#include "testutil.h"

namespace qs {
namespace {

float Bits(uint32_t u) { return BitsFloat(u); }

TEST(Fp16, AllHalvesRoundTrip) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = F16ToF32(static_cast<uint16_t>(h));
    const bool nan = (h & 0x7C00) == 0x7C00 && (h & 0x3FF);
    if (nan) {
      EXPECT_TRUE(std::isnan(f));
      EXPECT_EQ(F32ToF16(f), (h & 0x8000) | 0x7E00);  // canonical quiet NaN, sign kept
    } else {
      ASSERT_EQ(F32ToF16(f), h) << std::hex << h;
    }
  }
}

TEST(Fp16, DecodesKnownValues) {
  EXPECT_EQ(F16ToF32(0x3C00), 1.0f);
  EXPECT_EQ(F16ToF32(0xC000), -2.0f);
  EXPECT_EQ(F16ToF32(0x7BFF), 65504.0f);
  EXPECT_EQ(F16ToF32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(F16ToF32(0x03FF), std::ldexp(1023.0f, -24));
  EXPECT_EQ(F16ToF32(0x0400), std::ldexp(1.0f, -14));
  EXPECT_TRUE(std::signbit(F16ToF32(0x8000)));
  EXPECT_EQ(F16ToF32(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(F16ToF32(0xFC00), -std::numeric_limits<float>::infinity());
}

TEST(Fp16, RoundsToNearestEven) {
  EXPECT_EQ(F32ToF16(65504.0f), 0x7BFF);
  EXPECT_EQ(F32ToF16(65519.996f), 0x7BFF);
  EXPECT_EQ(F32ToF16(65520.0f), 0x7C00);  // the tie above the largest half goes to inf
  EXPECT_EQ(F32ToF16(1e10f), 0x7C00);
  EXPECT_EQ(F32ToF16(-std::numeric_limits<float>::infinity()), 0xFC00);
  EXPECT_EQ(F32ToF16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);      // tie -> even (down)
  EXPECT_EQ(F32ToF16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);  // tie -> even (up)
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -25)), 0x0000);             // half the smallest subnormal
  EXPECT_EQ(F32ToF16(std::ldexp(1.0001f, -25)), 0x0001);
  EXPECT_EQ(F32ToF16(std::ldexp(1.5f, -24)), 0x0002);              // 1.5 ulp -> 2
  EXPECT_EQ(F32ToF16(std::ldexp(2.5f, -24)), 0x0002);              // 2.5 ulp -> 2
  EXPECT_EQ(F32ToF16(std::ldexp(1023.5f, -24)), 0x0400);           // carries into the smallest normal
  EXPECT_EQ(F32ToF16(-0.0f), 0x8000);
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -140)), 0x0000);
  EXPECT_EQ(F32ToF16(std::numeric_limits<float>::quiet_NaN()), 0x7E00);
}

#ifdef __FLT16_MAX__
TEST(Fp16, MatchesCompilerFloat16OnManyFloats) {
  // Every 257th bit pattern (all exponents, many mantissas) plus every pattern near the
  // subnormal and overflow boundaries.
  auto check = [](uint32_t u) {
    const float f = Bits(u);
    if (std::isnan(f)) return;
    const _Float16 h = static_cast<_Float16>(f);
    uint16_t want;
    std::memcpy(&want, &h, 2);
    ASSERT_EQ(F32ToF16(f), want) << std::hex << u;
  };
  for (uint64_t u = 0; u < (1ull << 32); u += 257) check(static_cast<uint32_t>(u));
  for (uint32_t u = 0x32F00000; u < 0x38900000; u += 17) check(u);
  for (uint32_t u = 0x477F0000; u < 0x47810000; ++u) check(u);
}
#endif

TEST(Bf16, RoundTripAndRounding) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = Bf16ToF32(static_cast<uint16_t>(b));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(Bf16ToF32(F32ToBf16(f))));
    } else {
      ASSERT_EQ(F32ToBf16(f), b);
    }
  }
  EXPECT_EQ(F32ToBf16(Bits(0x3F808000)), 0x3F80);  // 1 + 2^-8: tie -> even (down)
  EXPECT_EQ(F32ToBf16(Bits(0x3F818000)), 0x3F82);  // tie -> even (up)
  EXPECT_EQ(F32ToBf16(Bits(0x3F808001)), 0x3F81);
  EXPECT_EQ(F32ToBf16(Bits(0x7F7FFFFF)), 0x7F80);  // rounds up to inf
  EXPECT_EQ(F32ToBf16(Bits(0x00008000)), 0x0000);  // subnormal tie -> even (kept, not flushed)
  EXPECT_EQ(F32ToBf16(Bits(0x00018000)), 0x0002);
  EXPECT_EQ(F32ToBf16(Bits(0x7F800001)), 0x7FC0);  // signalling NaN -> quiet
}

TEST(Fp8E4M3, TableMatchesFixture) {
  QS_REQUIRE_FIXTURES();
  const std::string text = test::ReadFileOrDie(test::FixturesDir() + "/deepseek-golden/fp8_e4m3fn_table.json");
  const auto j = nlohmann::json::parse(text);
  const auto& values = j.at("values");
  ASSERT_EQ(values.size(), 256u);
  const float* table = Fp8E4M3Table();
  for (int c = 0; c < 256; ++c) {
    if (values[c].is_null()) {
      EXPECT_TRUE(std::isnan(table[c])) << c;
      EXPECT_TRUE(c == 0x7F || c == 0xFF) << c;
    } else {
      const double want = values[c].get<double>();
      EXPECT_EQ(static_cast<double>(table[c]), want) << c;
      EXPECT_EQ(std::signbit(table[c]), c >= 128) << c;
      EXPECT_EQ(Fp8E4M3ToF32(static_cast<uint8_t>(c)), table[c]);
    }
  }
  EXPECT_EQ(table[0x7E], 448.0f);
  EXPECT_EQ(table[0x01], 0.001953125f);
}

// Nearest finite code by brute force, ties to the even code, saturating: the spec of the encoder.
uint8_t NearestFp8(float f) {
  const float* t = Fp8E4M3Table();
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  const double a = std::fabs(static_cast<double>(f));
  if (a >= 448) return sign | 0x7E;
  int best = 0;
  for (int c = 1; c < 0x7F; ++c) {
    const double dc = std::fabs(t[c] - a), db = std::fabs(t[best] - a);
    if (dc < db || (dc == db && (c & 1) == 0)) best = c;
  }
  return static_cast<uint8_t>(sign | best);
}

TEST(Fp8E4M3, EncodeRoundsToNearestEvenAndSaturates) {
  const float* t = Fp8E4M3Table();
  for (int c = 0; c < 256; ++c) {
    if (c == 0x7F || c == 0xFF) continue;
    ASSERT_EQ(F32ToFp8E4M3(t[c]), c) << c;
    // Midpoint to the next code up: ties to the even code.
    if ((c & 0x7F) < 0x7E) {
      const float mid = (t[c] + t[c + 1]) / 2;  // exact: codes are short binary fractions
      ASSERT_EQ(F32ToFp8E4M3(mid), (c & 1) ? c + 1 : c) << c;
    }
  }
  EXPECT_EQ(F32ToFp8E4M3(448.0f), 0x7E);
  EXPECT_EQ(F32ToFp8E4M3(463.99f), 0x7E);
  EXPECT_EQ(F32ToFp8E4M3(464.0f), 0x7E);  // would round to 480 (the NaN code): saturates
  EXPECT_EQ(F32ToFp8E4M3(1e30f), 0x7E);
  EXPECT_EQ(F32ToFp8E4M3(-1e30f), 0xFE);
  EXPECT_EQ(F32ToFp8E4M3(std::numeric_limits<float>::infinity()), 0x7E);
  EXPECT_EQ(F32ToFp8E4M3(-std::numeric_limits<float>::infinity()), 0xFE);
  EXPECT_EQ(F32ToFp8E4M3(std::numeric_limits<float>::quiet_NaN()) & 0x7F, 0x7F);
  EXPECT_EQ(F32ToFp8E4M3(std::ldexp(1.0f, -10)), 0x00);  // half the smallest subnormal
  EXPECT_EQ(F32ToFp8E4M3(std::ldexp(1.01f, -10)), 0x01);
  EXPECT_EQ(F32ToFp8E4M3(-1e-30f), 0x80);

  std::mt19937 rng(7);
  std::uniform_real_distribution<float> mant(-1.0f, 1.0f);
  std::uniform_int_distribution<int> ex(-14, 10);
  for (int i = 0; i < 200000; ++i) {
    const float f = std::ldexp(mant(rng), ex(rng));
    ASSERT_EQ(F32ToFp8E4M3(f), NearestFp8(f)) << f;
  }
}

}  // namespace
}  // namespace qs
