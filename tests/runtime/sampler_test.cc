#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

namespace qs {
namespace {

std::vector<float> Logits() { return {1.0f, 3.0f, 2.0f, 0.5f, 2.9f}; }

TEST(Sampler, GreedyPicksFirstMaximum) {
  SamplingParams p;
  p.temperature = 0;
  Sampler s(p);
  auto l = Logits();
  EXPECT_EQ(s.Sample(l.data(), 5, {}), 1);
  std::vector<float> tie = {2, 5, 5, 1};
  EXPECT_EQ(s.Sample(tie.data(), 4, {}), 1);
}

// logit_bias moves a token's logit before sampling: it steers greedy decoding too.
TEST(Sampler, LogitBiasSteersGreedy) {
  SamplingParams p;
  p.temperature = 0;
  Sampler s(p);
  auto l = Logits();
  Sampler::ApplyLogitBias(l.data(), 5, {{3, 100.0f}, {99, 5.0f}, {-1, 5.0f}});  // out-of-range ids skipped
  EXPECT_EQ(s.Sample(l.data(), 5, {}), 3);
  l = Logits();
  Sampler::ApplyLogitBias(l.data(), 5, {{1, -100.0f}});  // all but banned: the runner-up wins
  EXPECT_EQ(s.Sample(l.data(), 5, {}), 4);
  EXPECT_FLOAT_EQ(l[1], 3.0f - 100.0f);
}

TEST(Sampler, MaskIsRespected) {
  SamplingParams p;
  p.temperature = 0;
  Sampler s(p);
  auto l = Logits();
  std::vector<uint8_t> mask = {1, 0, 1, 1, 0};
  EXPECT_EQ(s.Sample(l.data(), 5, {}, &mask), 2);
  std::vector<uint8_t> none(5, 0);
  l = Logits();
  EXPECT_EQ(s.Sample(l.data(), 5, {}, &none), -1);
}

TEST(Sampler, SeededIsReproducible) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 42;
  p.has_seed = true;
  std::vector<int32_t> a, b;
  Sampler s1(p), s2(p);
  for (int i = 0; i < 50; ++i) {
    auto l1 = Logits(), l2 = Logits();
    a.push_back(s1.Sample(l1.data(), 5, {}));
    b.push_back(s2.Sample(l2.data(), 5, {}));
  }
  EXPECT_EQ(a, b);
  std::map<int32_t, int> seen;
  for (int32_t t : a) seen[t]++;
  EXPECT_GT(seen.size(), 1u);  // not greedy
}

TEST(Sampler, TopKOneIsGreedy) {
  SamplingParams p;
  p.top_k = 1;
  p.has_seed = true;
  Sampler s(p);
  for (int i = 0; i < 20; ++i) {
    auto l = Logits();
    EXPECT_EQ(s.Sample(l.data(), 5, {}), 1);
  }
}

TEST(Sampler, TopKTwoOnlyTwoBest) {
  SamplingParams p;
  p.top_k = 2;
  p.has_seed = true;
  p.seed = 7;
  Sampler s(p);
  for (int i = 0; i < 200; ++i) {
    auto l = Logits();
    int32_t t = s.Sample(l.data(), 5, {});
    EXPECT_TRUE(t == 1 || t == 4) << t;
  }
}

TEST(Sampler, TopPKeepsSmallestNucleus) {
  // probs ~ softmax: token1 and token4 carry ~0.63 together; top_p 0.5 keeps {1, 4}.
  SamplingParams p;
  p.top_p = 0.5f;
  p.has_seed = true;
  Sampler s(p);
  std::map<int32_t, int> seen;
  for (int i = 0; i < 300; ++i) {
    auto l = Logits();
    seen[s.Sample(l.data(), 5, {})]++;
  }
  for (auto [t, n] : seen) EXPECT_TRUE(t == 1 || t == 4) << t;
  EXPECT_EQ(seen.size(), 2u);
}

TEST(Sampler, MinPDropsUnlikely) {
  SamplingParams p;
  p.min_p = 0.5f;  // keeps tokens with prob >= 0.5 * p(best): 1 (3.0), 4 (2.9), 2 (2.0: e^-1=0.37 no)
  p.has_seed = true;
  Sampler s(p);
  for (int i = 0; i < 300; ++i) {
    auto l = Logits();
    int32_t t = s.Sample(l.data(), 5, {});
    EXPECT_TRUE(t == 1 || t == 4) << t;
  }
}

TEST(Sampler, LowTemperatureSharpens) {
  SamplingParams p;
  p.temperature = 0.01f;
  p.has_seed = true;
  Sampler s(p);
  for (int i = 0; i < 100; ++i) {
    auto l = Logits();
    EXPECT_EQ(s.Sample(l.data(), 5, {}), 1);
  }
}

TEST(Sampler, PenaltiesFollowOpenAIFormula) {
  std::vector<float> l = {1, 1, 1};
  Sampler::ApplyPenalties(l.data(), 3, {0, 0, 2}, 0.5f, 0.25f);
  EXPECT_FLOAT_EQ(l[0], 1 - 2 * 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(l[1], 1);
  EXPECT_FLOAT_EQ(l[2], 1 - 0.5f - 0.25f);
  // A penalty makes greedy move away from a repeated token.
  SamplingParams p;
  p.temperature = 0;
  p.frequency_penalty = 2.0f;
  Sampler s(p);
  auto x = Logits();
  EXPECT_EQ(s.Sample(x.data(), 5, {1}), 4);
}

TEST(Sampler, Logprobs) {
  auto l = Logits();
  double z = 0;
  for (float v : l) z += std::exp(v);
  TokenLogprob lp = Sampler::Logprob(l.data(), 5, 2);
  EXPECT_NEAR(lp.logprob, 2.0 - std::log(z), 1e-5);
  auto top = Sampler::TopLogprobs(l.data(), 5, 3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].id, 1);
  EXPECT_EQ(top[1].id, 4);
  EXPECT_EQ(top[2].id, 2);
  EXPECT_TRUE(Sampler::TopLogprobs(l.data(), 5, 0).empty());
}

}  // namespace
}  // namespace qs
