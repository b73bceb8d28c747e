// The lightning indexer's kernels (kernels/dsa.h) against their definitions in double precision,
// and sparse attention over selected rows (kernels/ops.h AttentionRows) against dense attention
// over the same rows gathered by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/dsa.h"
#include "kernels/ops.h"
#include "quant/fp8.h"

namespace qs {
namespace {

std::vector<float> Randn(int64_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(g);
  return v;
}

TEST(Dsa, HadamardMatchesSylvesterMatrix) {
  for (int64_t n : {2, 16, 128}) {
    auto x = Randn(n, 1);
    std::vector<float> y = x;
    HadamardRotate(y.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      // H[i][j] = (-1)^popcount(i & j) (Sylvester / natural order).
      double acc = 0;
      for (int64_t j = 0; j < n; ++j) acc += (__builtin_popcountll(i & j) % 2 ? -1.0 : 1.0) * x[j];
      // fp32 butterflies: log2(n) roundings of O(sqrt(n)) partial sums.
      EXPECT_NEAR(y[i], acc / std::sqrt(static_cast<double>(n)), 1e-5 * std::sqrt(static_cast<double>(n))) << n << " " << i;
    }
  }
}

TEST(Dsa, QuantizeUsesPowerOfTwoScaleAndRoundsToE4M3) {
  auto x = Randn(128, 2, 3.f);
  x[5] = 11.0f;  // amax
  std::vector<float> q(128);
  const float s = QuantizeE4M3Ue8m0(x.data(), 128, q.data());
  // 11 / 448 = 0.02455 -> 2^ceil(log2) = 2^-5.
  EXPECT_EQ(s, 0.03125f);
  for (int i = 0; i < 128; ++i) {
    const float want = Fp8E4M3ToF32(F32ToFp8E4M3(std::clamp(x[i] / s, -448.f, 448.f)));
    EXPECT_EQ(q[i], want) << i;
    EXPECT_LE(std::fabs(q[i] * s - x[i]), std::fabs(x[i]) / 16 + s * 0.002f) << i;  // 3 mantissa bits
  }
  // An exact power of two keeps its exponent (mantissa 0: no rounding up); tiny inputs floor at 1e-4.
  std::vector<float> one(4, 0.f), tiny(4, 1e-9f), out(4);
  one[0] = 448.f;
  EXPECT_EQ(QuantizeE4M3Ue8m0(one.data(), 4, out.data()), 1.0f);
  EXPECT_EQ(out[0], 448.f);
  EXPECT_EQ(QuantizeE4M3Ue8m0(tiny.data(), 4, out.data()), std::ldexp(1.f, -22));  // 1e-4/448 -> 2^-22
}

TEST(Dsa, LayerNormMatchesDefinition) {
  auto x = Randn(128, 3, 2.f), w = Randn(128, 4), b = Randn(128, 5);
  std::vector<float> y(128);
  LayerNorm(x.data(), w.data(), b.data(), 128, 1e-6, y.data());
  double m = 0, v = 0;
  for (float f : x) m += f;
  m /= 128;
  for (float f : x) v += (f - m) * (f - m);
  v /= 128;
  for (int i = 0; i < 128; ++i) EXPECT_NEAR(y[i], (x[i] - m) / std::sqrt(v + 1e-6) * w[i] + b[i], 1e-5);
}

TEST(Dsa, IndexScoresMatchDefinition) {
  const int64_t H = 8, d = 128, S = 150, ks = 1 + d;  // S spans three 64-key blocks
  auto q = Randn(H * d, 6), w = Randn(H, 7), keys = Randn(S * ks, 8);
  for (int64_t j = 0; j < S; ++j) keys[j * ks] = std::fabs(keys[j * ks]);  // scales are positive
  std::vector<float> out(S), scratch;
  IndexScores(q.data(), H, d, w.data(), keys.data(), ks, S, out.data(), &scratch);
  for (int64_t j = 0; j < S; ++j) {
    double acc = 0;
    for (int64_t h = 0; h < H; ++h) {
      double dot = 0;
      for (int64_t c = 0; c < d; ++c) dot += static_cast<double>(q[h * d + c]) * keys[j * ks + 1 + c];
      acc += w[h] * std::max(dot, 0.0);
    }
    // fp32 sums of 128 O(1) products per head, 8 heads: ~1e-5 relative.
    EXPECT_NEAR(out[j], keys[j * ks] * acc, 2e-4 * (1 + std::fabs(keys[j * ks] * acc))) << j;
  }
}

TEST(Dsa, AttentionOverSelectedRowsEqualsGatheredDense) {
  const int64_t nq = 4, kw = 40, dv = 32, S = 300;
  auto q = Randn(nq * kw, 9), cache = Randn(S * kw, 10);
  std::vector<int32_t> idx;
  for (int32_t s = 0; s < S; s += 3) idx.push_back(s);  // 100 rows: two blocks
  std::vector<float> gathered;
  for (int32_t s : idx) gathered.insert(gathered.end(), &cache[s * kw], &cache[s * kw] + kw);
  const int64_t n = static_cast<int64_t>(idx.size());
  std::vector<float> a(nq * dv), b(nq * dv), scratch;
  // MLA's layout: values are the first dv columns of the key rows.
  AttentionRows(q.data(), nq, kw, cache.data(), kw, cache.data(), kw, idx.data(), n, kw, dv, 0.2f, a.data(), dv, &scratch);
  Attention(q.data(), nq, kw, gathered.data(), kw, gathered.data(), kw, n, kw, dv, 0.2f, b.data(), dv, &scratch);
  for (int64_t i = 0; i < nq * dv; ++i) EXPECT_EQ(a[i], b[i]) << i;  // same kernels, same order
  // Separate value rows (GQA's layout) too.
  auto vals = Randn(S * dv, 11);
  std::vector<float> gv;
  for (int32_t s : idx) gv.insert(gv.end(), &vals[s * dv], &vals[s * dv] + dv);
  AttentionRows(q.data(), nq, kw, cache.data(), kw, vals.data(), dv, idx.data(), n, kw, dv, 0.2f, a.data(), dv, &scratch);
  Attention(q.data(), nq, kw, gathered.data(), kw, gv.data(), dv, n, kw, dv, 0.2f, b.data(), dv, &scratch);
  for (int64_t i = 0; i < nq * dv; ++i) EXPECT_EQ(a[i], b[i]) << i;
}

}  // namespace
}  // namespace qs
