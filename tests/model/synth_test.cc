// qiusuo synth: the tensor layout of the real releases, and checkpoints that load and run.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "base/thread_pool.h"
#include "model/model.h"
#include "convert/synth.h"
#include "model/weight_source.h"
#include "testutil.h"

namespace qs {
namespace {

TEST(Synth, DeepSeekV3LayoutHasThePublishedParameterCount) {
  QS_REQUIRE_FIXTURES();
  auto c = LoadModelConfig(test::FixturesDir() + "/configs/DeepSeek-V3/config.json");
  ASSERT_TRUE(c.ok());
  auto specs = CheckpointTensorSpecs(*c);
  ASSERT_TRUE(specs.ok());
  double main = 0, mtp = 0;
  for (const auto& s : *specs) {
    bool is_mtp = s.name.rfind("model.layers.61.", 0) == 0;
    (is_mtp ? mtp : main) += static_cast<double>(NumElements(s.shape));
  }
  // DeepSeek-V3 technical report: 671B total parameters, plus 14B in the MTP module.
  EXPECT_NEAR(main / 1e9, 671.0, 1.0);
  EXPECT_NEAR(mtp / 1e9, 14.0, 2.0);
}

TEST(Synth, V2LiteLayoutHasThePublishedParameterCount) {
  QS_REQUIRE_FIXTURES();
  auto c = LoadModelConfig(test::FixturesDir() + "/configs/DeepSeek-V2-Lite/config.json");
  ASSERT_TRUE(c.ok());
  auto specs = CheckpointTensorSpecs(*c);
  ASSERT_TRUE(specs.ok());
  double n = 0;
  for (const auto& s : *specs) n += static_cast<double>(NumElements(s.shape));
  EXPECT_NEAR(n / 1e9, 15.7, 0.2);  // "15.7B total parameters" (DeepSeek-V2-Lite model card)
}

class SynthRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(SynthRoundTrip, WritesLoadableShardedCheckpoint) {
  QS_REQUIRE_FIXTURES();
  SynthOptions o;
  o.config_path = test::FixturesDir() + "/deepseek-golden/v3-tiny/checkpoint/config.json";
  o.dtype = GetParam();
  o.seed = 7;
  o.shard_bytes = 1 << 20;  // force several shards + index.json
  o.out_dir = test::TempDir("synth-" + GetParam());
  ASSERT_TRUE(SynthesizeCheckpoint(o).ok());
  EXPECT_TRUE(std::filesystem::exists(o.out_dir + "/model.safetensors.index.json"));
  auto m = LoadModel(o.out_dir);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_GT((*m)->Info().n_params_mtp, 0u);
  ThreadPool pool(2);
  std::vector<int32_t> toks = {0, 3, 9, 27, 81};
  const int64_t V = (*m)->config().vocab_size;
  std::vector<float> logits(5 * V);
  auto cache = (*m)->NewCache(5);
  ASSERT_TRUE((*m)->Forward(toks.data(), 5, cache.get(), logits.data(), &pool).ok());
  // Numerically sane: finite, O(1) spread.
  double ss = 0;
  for (float v : logits) {
    ASSERT_TRUE(std::isfinite(v));
    ss += v * v;
  }
  double rms = std::sqrt(ss / logits.size());
  EXPECT_GT(rms, 0.1);
  EXPECT_LT(rms, 20.0);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, SynthRoundTrip, ::testing::Values("bf16", "f32", "fp8"));

TEST(Synth, Fp8WeightsStayWithinE4M3Precision) {
  QS_REQUIRE_FIXTURES();
  // Same seed -> same fp32 draws. e4m3 keeps 3 mantissa bits: round-to-nearest error <= 2^-4
  // relative, RMS about 2^-4/sqrt(3) = 3.6% for normal-range values (bf16 adds only 2^-9). With
  // per-128x128-block scales (amax -> 448) N(0,1) weights stay out of the subnormal range, so the
  // relative RMS error of a whole matrix must be below 5%.
  const std::string cfg = test::FixturesDir() + "/deepseek-golden/v3-fp8-tiny/checkpoint/config.json";
  std::vector<std::unique_ptr<WeightSource>> srcs;
  for (std::string dt : {"bf16", "fp8"}) {
    SynthOptions o;
    o.config_path = cfg;
    o.dtype = dt;
    o.out_dir = test::TempDir("synth-cmp-" + dt);
    ASSERT_TRUE(SynthesizeCheckpoint(o).ok());
    auto c = LoadModelConfig(o.out_dir + "/config.json");
    auto ck = Checkpoint::OpenDir(o.out_dir);
    ASSERT_TRUE(c.ok() && ck.ok());
    srcs.push_back(std::make_unique<WeightSource>(std::move(ck).value(), *c));
  }
  for (const char* name : {"model.layers.0.mlp.gate_proj.weight", "model.layers.1.self_attn.kv_a_proj_with_mqa.weight"}) {
    const WeightTensor* t = srcs[0]->Find(name);
    ASSERT_NE(t, nullptr);
    auto a = srcs[0]->Matrix(name, t->shape[0], t->shape[1]);
    auto b = srcs[1]->Matrix(name, t->shape[0], t->shape[1]);
    ASSERT_TRUE(a.ok() && b.ok()) << name;
    EXPECT_EQ(b->dtype, DType::kF8E4M3);
    std::vector<float> ra(a->cols), rb(b->cols);
    double num = 0, den = 0;
    for (int64_t r = 0; r < a->rows; ++r) {
      DecodeRow(*a, r, ra.data());
      DecodeRow(*b, r, rb.data());
      for (int64_t c = 0; c < a->cols; ++c) {
        num += (ra[c] - rb[c]) * (ra[c] - rb[c]);
        den += ra[c] * ra[c];
      }
    }
    EXPECT_LT(std::sqrt(num / den), 0.05) << name;
    EXPECT_GT(std::sqrt(num / den), 0.0) << name;
  }
}

}  // namespace
}  // namespace qs
