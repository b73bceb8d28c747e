// Unit tests of the pieces the fixture README lists as easy to get wrong: YaRN mscale, rope pair
// layout, and the routing rules.
#include <gtest/gtest.h>

#include <cmath>

#include "model/blocks/moe.h"
#include "model/rope.h"

namespace qs {
namespace {

TEST(Rope, YarnSoftmaxMscaleSquared) {
  RopeConfig v3;
  v3.scaling = RopeScaling::kYarn;
  v3.factor = 40;
  v3.original_max_position = 4096;
  v3.mscale = v3.mscale_all_dim = 1.0;
  EXPECT_NEAR(Rope(v3, 64).softmax_mscale2(), 1.873854, 1e-6);
  RopeConfig lite = v3;
  lite.mscale = lite.mscale_all_dim = 0.707;
  EXPECT_NEAR(Rope(lite, 64).softmax_mscale2(), 1.589626, 1e-6);
  EXPECT_DOUBLE_EQ(Rope(RopeConfig{}, 64).softmax_mscale2(), 1.0);
}

TEST(Rope, YarnFrequenciesBlendBetweenCorrectionDims) {
  RopeConfig c;
  c.scaling = RopeScaling::kYarn;
  c.factor = 40;
  c.original_max_position = 4096;
  Rope r(c, 64), plain(RopeConfig{}, 64);
  // High-frequency dims (i below `low`) keep their frequency; low-frequency ones are divided.
  EXPECT_FLOAT_EQ(r.inv_freq()[0], plain.inv_freq()[0]);
  EXPECT_NEAR(r.inv_freq()[31], plain.inv_freq()[31] / 40.0f, 1e-12);
}

TEST(Rope, InterleavedRotatesAdjacentPairs) {
  RopeConfig c;
  Rope r(c, 4);
  float x[4] = {1, 0, 1, 0};
  r.Apply(x, 1, RopeLayout::kInterleaved);
  // pair 0 rotated by 1 rad, pair 1 by 1/100 rad (theta 10000, d 4).
  EXPECT_NEAR(x[0], std::cos(1.0), 1e-6);
  EXPECT_NEAR(x[1], std::sin(1.0), 1e-6);
  EXPECT_NEAR(x[2], std::cos(0.01), 1e-6);
  EXPECT_NEAR(x[3], std::sin(0.01), 1e-6);
  float y[4] = {1, 1, 0, 0};
  r.Apply(y, 1, RopeLayout::kHalfSplit);  // pairs (0,2) and (1,3)
  EXPECT_NEAR(y[0], std::cos(1.0), 1e-6);
  EXPECT_NEAR(y[2], std::sin(1.0), 1e-6);
}

RouterParams Params(ScoringFunc s, TopkMethod m, int64_t E, int64_t G, int64_t TG, int64_t k, bool norm, double rsf,
                    bool v2) {
  return RouterParams{s, m, E, G, TG, k, norm, rsf, v2};
}

TEST(Router, NoauxTcBiasOnlySelects) {
  // 4 experts, 2 groups of 2, keep 1 group, top-2. The bias makes group 1 win even though the
  // unbiased scores favour group 0; the weights are the unbiased sigmoids, renormalised, x2.5.
  auto p = Params(ScoringFunc::kSigmoid, TopkMethod::kNoauxTc, 4, 2, 1, 2, true, 2.5, false);
  float logits[4] = {1.0f, 1.0f, 0.0f, 0.5f};
  float bias[4] = {0, 0, 1.0f, 1.0f};
  int32_t ids[2];
  float w[2];
  Route(p, logits, bias, ids, w);
  EXPECT_EQ(ids[0], 3);
  EXPECT_EQ(ids[1], 2);
  float s3 = 1 / (1 + std::exp(-0.5f)), s2 = 0.5f;
  EXPECT_NEAR(w[0], s3 / (s2 + s3) * 2.5f, 1e-6);
  EXPECT_NEAR(w[1], s2 / (s2 + s3) * 2.5f, 1e-6);
}

TEST(Router, SoftmaxGreedyIsNotRenormalised) {
  auto p = Params(ScoringFunc::kSoftmax, TopkMethod::kGreedy, 4, 1, 1, 2, false, 16.0, true);
  float logits[4] = {0.f, 1.f, 2.f, 3.f};
  int32_t ids[2];
  float w[2];
  Route(p, logits, nullptr, ids, w);
  double z = std::exp(0.) + std::exp(1.) + std::exp(2.) + std::exp(3.);
  EXPECT_EQ(ids[0], 3);
  EXPECT_EQ(ids[1], 2);
  EXPECT_NEAR(w[0], std::exp(3.) / z * 16.0, 1e-5);
  EXPECT_NEAR(w[1], std::exp(2.) / z * 16.0, 1e-5);
}

TEST(Router, GroupLimitedGreedyUsesGroupMax) {
  // Groups {0,1} {2,3}: group max picks group 0 (expert 0 = 3.0) although group 1 has the larger
  // top-2 sum. keep 1 group, top-2 -> experts 0 and 1.
  auto p = Params(ScoringFunc::kSoftmax, TopkMethod::kGroupLimitedGreedy, 4, 2, 1, 2, false, 1.0, true);
  float logits[4] = {3.0f, -5.f, 2.9f, 2.9f};
  int32_t ids[2];
  float w[2];
  Route(p, logits, nullptr, ids, w);
  EXPECT_EQ(ids[0], 0);
  EXPECT_EQ(ids[1], 1);
}

TEST(Router, V2NormalisesWithoutScaling) {
  // HF DeepseekV2: norm_topk_prob true -> renormalise and do not apply routed_scaling_factor.
  auto p = Params(ScoringFunc::kSoftmax, TopkMethod::kGreedy, 4, 1, 1, 2, true, 16.0, true);
  float logits[4] = {0.f, 1.f, 2.f, 3.f};
  int32_t ids[2];
  float w[2];
  Route(p, logits, nullptr, ids, w);
  EXPECT_NEAR(w[0] + w[1], 1.0f, 1e-6);
}

}  // namespace
}  // namespace qs
