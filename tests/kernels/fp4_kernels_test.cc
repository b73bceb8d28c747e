// DeepSeek-V4's number formats in the kernels: packed FP4 e2m1 weights with ue8m0 1x32 scales
// and FP8 e4m3 weights with 128x128 blocks cut at the matrix edge, on every SIMD level against the
// scalar twin; the e2m1 / ue8m0 conversions and the in-model FP4 / FP8 round trips.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "base/cpu.h"
#include "base/thread_pool.h"
#include "kernel_test_util.h"
#include "kernels/dsa.h"
#include "kernels/matmul.h"
#include "quant/fp4.h"
#include "quant/fp8.h"

namespace qs {
namespace {

using kernel_test::kU;
using kernel_test::RandomX;
using kernel_test::SimdIsas;

struct Fp4Case {
  std::vector<uint8_t> bytes;
  std::vector<float> scales;
  WeightMatrix w;
};

Fp4Case MakeFp4(int64_t rows, int64_t cols, std::mt19937& rng) {
  Fp4Case c;
  c.bytes.resize(static_cast<size_t>(rows * cols / 2));
  std::uniform_int_distribution<int> byte(0, 255), ex(120, 130);
  for (auto& b : c.bytes) b = static_cast<uint8_t>(byte(rng));
  c.scales.resize(static_cast<size_t>(rows * cols / 32));
  for (auto& s : c.scales) s = Ue8m0ToF32(static_cast<uint8_t>(ex(rng)));
  c.w.dtype = DType::kF4E2M1;
  c.w.rows = rows;
  c.w.cols = cols;
  c.w.data = c.bytes.data();
  c.w.row_stride = static_cast<size_t>(cols / 2);
  c.w.scale_inv = c.scales.data();
  c.w.block_rows = 1;
  c.w.block_cols = 32;
  c.w.scale_cols = cols / 32;
  return c;
}

std::vector<float> RunAt(const WeightMatrix& w, const std::vector<float>& x, int64_t T, Isa isa, ThreadPool* pool) {
  const Isa prev = SetIsaCap(isa);
  std::vector<float> y(static_cast<size_t>(T * w.rows), -1.f);
  MatMul(w, x.data(), T, y.data(), pool);
  SetIsaCap(prev);
  return y;
}

// Decoding is exact on every path (a 2-bit mantissa times a power of two), -0 included.
TEST(Fp4Kernels, DecodeRowIsExactOnEveryIsa) {
  std::mt19937 rng(7);
  Fp4Case c = MakeFp4(5, 96, rng);
  for (int64_t r = 0; r < 5; ++r) {
    std::vector<float> want(96);
    for (int64_t i = 0; i < 96; ++i)
      want[i] = E2M1ToF32(static_cast<uint8_t>(c.bytes[r * 48 + i / 2] >> ((i % 2) * 4))) * c.scales[r * 3 + i / 32];
    for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
      if (isa > Cpu().max_isa) continue;
      const Isa prev = SetIsaCap(isa);
      for (int64_t c0 : {0, 1, 17, 32}) {  // odd offsets start inside a byte
        std::vector<float> got(static_cast<size_t>(96 - c0));
        DecodeRowRange(c.w, r, c0, 96 - c0, got.data());
        for (int64_t i = 0; i < 96 - c0; ++i) {
          EXPECT_EQ(got[i], want[c0 + i]) << IsaName(isa) << " row " << r << " col " << c0 + i;
          EXPECT_EQ(std::signbit(got[i]), std::signbit(want[c0 + i]));
        }
      }
      SetIsaCap(prev);
    }
  }
}

// All 16 codes through the SIMD lookup, one-hot activations (the product is the weight itself).
TEST(Fp4Kernels, AllCodes) {
  std::vector<uint8_t> bytes(32);
  for (int i = 0; i < 32; ++i) bytes[i] = static_cast<uint8_t>((i % 16) | (((i + 5) % 16) << 4));
  std::vector<float> scales(2, 1.f);
  WeightMatrix w;
  w.dtype = DType::kF4E2M1;
  w.rows = 1;
  w.cols = 64;
  w.data = bytes.data();
  w.row_stride = 32;
  w.scale_inv = scales.data();
  w.block_rows = 1;
  w.block_cols = 32;
  w.scale_cols = 2;
  for (Isa isa : SimdIsas()) {
    for (int c = 0; c < 64; ++c) {
      std::vector<float> x(64, 0.f);
      x[c] = 1.f;
      const float y = RunAt(w, x, 1, isa, nullptr)[0];
      const uint8_t nib = static_cast<uint8_t>((bytes[c / 2] >> ((c % 2) * 4)) & 0xF);
      EXPECT_EQ(y, E2M1ToF32(nib)) << "col " << c << " " << IsaName(isa);
    }
  }
}

// SIMD MatMul vs the scalar twin. Both sum the same exact products w_c x_c (weights are exact in
// fp32 and FMA does not round the product), only in another order, so each is within
// gamma_n * sum |w_c x_c| of the exact sum (Higham, Accuracy and Stability, §3.1) and the two within
// twice that: |y_simd - y_scalar| <= 2 (n + 1) u sum_c |w_c x_c|. Equality is not expected.
void CheckAgainstScalar(const WeightMatrix& w, int64_t T, std::mt19937& rng, ThreadPool* pool) {
  auto x = RandomX(T, w.cols, rng);
  auto ref = RunAt(w, x, T, Isa::kScalar, nullptr);
  std::vector<float> row(static_cast<size_t>(w.cols));
  std::vector<double> absdot(static_cast<size_t>(T * w.rows));
  for (int64_t r = 0; r < w.rows; ++r) {
    DecodeRow(w, r, row.data());
    for (int64_t t = 0; t < T; ++t) {
      double s = 0, e = 0;
      for (int64_t c = 0; c < w.cols; ++c) s += std::fabs(static_cast<double>(row[c]) * x[t * w.cols + c]), e += static_cast<double>(row[c]) * x[t * w.cols + c];
      absdot[t * w.rows + r] = s;
      EXPECT_LE(std::fabs(ref[t * w.rows + r] - e), (w.cols + 1) * kU * s) << "scalar vs exact";
    }
  }
  for (Isa isa : SimdIsas()) {
    auto y = RunAt(w, x, T, isa, pool);
    for (size_t i = 0; i < y.size(); ++i)
      EXPECT_LE(std::fabs(y[i] - ref[i]), 2 * (w.cols + 1) * kU * absdot[i]) << IsaName(isa) << " T " << T << " at " << i;
  }
}

TEST(Fp4Kernels, MatMulMatchesScalarTwin) {
  std::mt19937 rng(11);
  ThreadPool pool(2);
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{7, 32}, {64, 256}, {33, 4096 + 64}})
    for (int64_t T : {1, 3, 9}) {
      Fp4Case c = MakeFp4(rows, cols, rng);
      CheckAgainstScalar(c.w, T, rng, &pool);
    }
}

// FP8 with ue8m0 (power-of-two) scales and partial edge blocks in both directions (V4's wq_a
// [192, hidden], wq_b [.., 192]).
TEST(Fp8Kernels, PartialEdgeBlocksMatchScalarTwin) {
  std::mt19937 rng(13);
  ThreadPool pool(2);
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{192, 128}, {512, 192}, {130, 320}}) {
    std::vector<uint8_t> bytes(static_cast<size_t>(rows * cols));
    std::uniform_int_distribution<int> byte(0, 255), ex(115, 125);
    for (auto& b : bytes) b = static_cast<uint8_t>(byte(rng));
    for (auto& b : bytes)
      if ((b & 0x7F) == 0x7F) b = 0;  // no NaN codes in a weight
    const int64_t sr = (rows + 127) / 128, sc = (cols + 127) / 128;
    std::vector<float> scales(static_cast<size_t>(sr * sc));
    for (auto& s : scales) s = Ue8m0ToF32(static_cast<uint8_t>(ex(rng)));
    WeightMatrix w;
    w.dtype = DType::kF8E4M3;
    w.rows = rows;
    w.cols = cols;
    w.data = bytes.data();
    w.row_stride = static_cast<size_t>(cols);
    w.scale_inv = scales.data();
    w.scale_cols = sc;
    for (int64_t T : {1, 5}) CheckAgainstScalar(w, T, rng, &pool);
  }
}

TEST(Fp4Format, Ue8m0AndE2M1RoundToNearestEven) {
  EXPECT_EQ(Ue8m0ToF32(127), 1.0f);
  EXPECT_EQ(Ue8m0ToF32(130), 8.0f);
  EXPECT_EQ(Ue8m0ToF32(1), std::ldexp(1.0f, -126));
  EXPECT_EQ(Ue8m0ToF32(0), std::ldexp(1.0f, -127));
  EXPECT_TRUE(std::isnan(Ue8m0ToF32(255)));
  // Ties go to the even code: .25 -> 0, .75 -> 1, 1.25 -> 1, 1.75 -> 2, 2.5 -> 2, 3.5 -> 4, 5 -> 4.
  const float in[] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f, 0.26f, 5.01f, 7.f, -0.74f, -0.f};
  const float out[] = {0.f, 1.f, 1.f, 2.f, 2.f, 4.f, 4.f, 0.5f, 6.f, 6.f, -0.5f, -0.f};
  for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); ++i) EXPECT_EQ(E2M1ToF32(F32ToE2M1(in[i])), out[i]) << in[i];
  for (int c = 0; c < 16; ++c) EXPECT_EQ(F32ToE2M1(E2M1ToF32(static_cast<uint8_t>(c))) & 7, c & 7);
}

// The simulation's scale is 2^ceil(log2(amax / 6)) from the fp32 bits: a block whose amax is
// exactly 6 * 2^k keeps scale 2^k and its values map to codes unchanged.
TEST(Fp4Format, RoundTripScaleAndValues) {
  std::vector<float> x(32, 0.f);
  x[0] = 12.f;   // amax 12 -> s = 2 exactly
  x[1] = 2.9f;   // /2 = 1.45 -> 1.5 -> 3
  x[2] = -0.3f;  // /2 = -.15 -> -0
  x[3] = 5.0f;   // /2 = 2.5 tie -> 2 -> 4
  Fp4RoundTrip(x.data(), 32);
  EXPECT_EQ(x[0], 12.f);
  EXPECT_EQ(x[1], 3.f);
  EXPECT_EQ(x[2], -0.f);
  EXPECT_EQ(x[3], 4.f);
  std::vector<float> y(64, 0.f);
  y[0] = 448.f * 0.5f;  // scale 0.5: exact
  y[1] = 1.0f + 1.0f / 32;  // between 1 and 1.125 (e4m3 step 1/8 at [1, 2)) / 0.5 -> 2.0625 -> 2
  Fp8RoundTrip(y.data(), 64, 64);
  EXPECT_EQ(y[0], 224.f);
  EXPECT_EQ(y[1], 1.0f);
}

}  // namespace
}  // namespace qs
