// config.json parsing: every released DeepSeek config, and inconsistent values rejected with a
// message naming the key. RMSNorm eps must come from config.json (the golden cannot see it).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/thread_pool.h"
#include "model/config.h"
#include "model/model.h"
#include "testutil.h"

namespace qs {
namespace {

namespace fs = std::filesystem;

TEST(Config, ParsesReleasedDeepSeekV3) {
  QS_REQUIRE_FIXTURES();
  auto c = LoadModelConfig(test::FixturesDir() + "/configs/DeepSeek-V3/config.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->architecture, "DeepseekV3ForCausalLM");
  EXPECT_EQ(c->hidden_size, 7168);
  EXPECT_EQ(c->num_hidden_layers, 61);
  EXPECT_EQ(c->q_lora_rank, 1536);
  EXPECT_EQ(c->kv_lora_rank, 512);
  EXPECT_EQ(c->n_routed_experts, 256);
  EXPECT_EQ(c->topk_method, TopkMethod::kNoauxTc);
  EXPECT_EQ(c->scoring_func, ScoringFunc::kSigmoid);
  EXPECT_EQ(c->rope.scaling, RopeScaling::kYarn);
  EXPECT_DOUBLE_EQ(c->rope.factor, 40);
  EXPECT_EQ(c->rope.original_max_position, 4096);
  EXPECT_TRUE(c->fp8);
  EXPECT_EQ(c->num_nextn_predict_layers, 1);
  EXPECT_DOUBLE_EQ(c->routed_scaling_factor, 2.5);
}

TEST(Config, ParsesV2LiteWithNullQLora) {
  QS_REQUIRE_FIXTURES();
  auto c = LoadModelConfig(test::FixturesDir() + "/configs/DeepSeek-V2-Lite/config.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->q_lora_rank, 0);
  EXPECT_EQ(c->topk_method, TopkMethod::kGreedy);
  EXPECT_EQ(c->scoring_func, ScoringFunc::kSoftmax);
  EXPECT_DOUBLE_EQ(c->rope.mscale_all_dim, 0.707);
}

TEST(Config, ParsesEveryReleasedConfig) {
  QS_REQUIRE_FIXTURES();
  int n = 0;
  for (const auto& e : fs::directory_iterator(test::FixturesDir() + "/configs")) {
    if (!e.is_directory()) continue;
    auto c = LoadModelConfig((e.path() / "config.json").string());
    EXPECT_TRUE(c.ok()) << e.path() << ": " << c.status().message();
    ++n;
  }
  EXPECT_GE(n, 8);
}

nlohmann::json TinyV3() {
  return nlohmann::json::parse(R"({
    "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
    "vocab_size": 100, "hidden_size": 32, "intermediate_size": 64, "moe_intermediate_size": 16,
    "num_hidden_layers": 2, "num_attention_heads": 2, "q_lora_rank": 16, "kv_lora_rank": 16,
    "qk_nope_head_dim": 8, "qk_rope_head_dim": 4, "v_head_dim": 8, "n_routed_experts": 8,
    "n_shared_experts": 1, "num_experts_per_tok": 2, "n_group": 4, "topk_group": 2,
    "topk_method": "noaux_tc", "scoring_func": "sigmoid", "routed_scaling_factor": 2.5,
    "norm_topk_prob": true, "first_k_dense_replace": 1, "rms_norm_eps": 1e-6, "rope_theta": 10000,
    "rope_scaling": null})");
}

void ExpectRejected(nlohmann::json j, const std::string& needle) {
  auto c = ParseModelConfig(j.dump(), "config.json");
  ASSERT_FALSE(c.ok()) << "accepted: " << j.dump();
  EXPECT_NE(c.status().message().find(needle), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find("config.json"), std::string::npos) << c.status().message();
}

TEST(Config, TinyIsValid) { EXPECT_TRUE(ParseModelConfig(TinyV3().dump(), "config.json").ok()); }

TEST(Config, RejectsInconsistentValues) {
  auto j = TinyV3();
  j["num_experts_per_tok"] = 9;
  ExpectRejected(j, "num_experts_per_tok");
  j = TinyV3(); j["n_group"] = 3;
  ExpectRejected(j, "n_group");
  j = TinyV3(); j["topk_group"] = 5;
  ExpectRejected(j, "topk_group");
  j = TinyV3(); j["hidden_size"] = -4;
  ExpectRejected(j, "hidden_size");
  j = TinyV3(); j["hidden_size"] = "wide";
  ExpectRejected(j, "hidden_size");
  j = TinyV3(); j.erase("vocab_size");
  ExpectRejected(j, "vocab_size");
  j = TinyV3(); j["topk_method"] = "best";
  ExpectRejected(j, "topk_method");
  j = TinyV3(); j["scoring_func"] = "relu";
  ExpectRejected(j, "scoring_func");
  j = TinyV3(); j["qk_rope_head_dim"] = 5;
  ExpectRejected(j, "qk_rope_head_dim");
  j = TinyV3(); j["num_attention_heads"] = 3; j["num_key_value_heads"] = 2;
  ExpectRejected(j, "num_key_value_heads");
  j = TinyV3(); j["rms_norm_eps"] = 0;
  ExpectRejected(j, "rms_norm_eps");
  j = TinyV3(); j["rope_scaling"] = {{"type", "yarn"}, {"factor", 0.5}, {"original_max_position_embeddings", 128}};
  ExpectRejected(j, "factor");
  j = TinyV3(); j["rope_scaling"] = {{"type", "weird"}};
  ExpectRejected(j, "rope_scaling");
  j = TinyV3(); j["first_k_dense_replace"] = 7;
  ExpectRejected(j, "first_k_dense_replace");
  j = TinyV3(); j["quantization_config"] = {{"quant_method", "gptq"}};
  ExpectRejected(j, "quant_method");
  j = TinyV3(); j["num_experts_per_tok"] = 5;  // only 2 groups x 2 experts kept
  ExpectRejected(j, "kept groups");
}

// Counts that would cost memory or time proportional to them are bounded before anything is built.
TEST(Config, RejectsHostileCounts) {
  auto j = TinyV3(); j["n_routed_experts"] = 10000000; j["n_group"] = 1; j["topk_group"] = 1;
  ExpectRejected(j, "n_routed_experts = 10000000 is out of range");
  j = TinyV3(); j["n_shared_experts"] = 1000000;
  ExpectRejected(j, "n_shared_experts");
  j = TinyV3(); j["n_routed_experts"] = 65536; j["n_group"] = 1; j["topk_group"] = 1; j["num_hidden_layers"] = 4000;
  ExpectRejected(j, "n_routed_experts * layers");
  j = TinyV3(); j["num_hidden_layers"] = 100000;
  ExpectRejected(j, "num_hidden_layers");
  j = TinyV3(); j["vocab_size"] = int64_t{1} << 40;
  ExpectRejected(j, "vocab_size");
}

TEST(Config, RejectsMalformedJson) {
  auto c = ParseModelConfig("{\"hidden_size\": 12,", "cfg/config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("cfg/config.json"), std::string::npos);
  EXPECT_NE(c.status().message().find("malformed JSON"), std::string::npos);
  EXPECT_FALSE(ParseModelConfig("[1,2]", "c.json").ok());
}

TEST(Config, RmsNormEpsIsReadFromConfig) {
  auto j = TinyV3();
  j["rms_norm_eps"] = 1e-5;
  auto c = ParseModelConfig(j.dump(), "config.json");
  ASSERT_TRUE(c.ok());
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-5);
}

// The forward pass uses config.json's eps: the same weights with a larger eps give different
// logits (1e-6 vs 1e-5 moves them ~1e-4 on the golden; 1e-2 moves them far more).
TEST(Config, ForwardUsesConfigEps) {
  QS_REQUIRE_FIXTURES();
  const std::string src = test::FixturesDir() + "/deepseek-golden/v3-tiny/checkpoint";
  const std::string dir = test::TempDir("eps");
  auto cfg = nlohmann::json::parse(test::ReadFileOrDie(src + "/config.json"));
  cfg["rms_norm_eps"] = 1e-2;
  test::WriteFile(dir + "/config.json", cfg.dump(2));
  fs::create_symlink(src + "/model.safetensors", dir + "/model.safetensors");
  auto a = LoadModel(src);
  auto b = LoadModel(dir);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_DOUBLE_EQ((*b)->config().rms_norm_eps, 1e-2);
  ThreadPool pool(1);
  std::vector<int32_t> toks = {0, 5, 9, 17};
  const int64_t V = (*a)->config().vocab_size;
  std::vector<float> la(4 * V), lb(4 * V);
  auto ca = (*a)->NewCache(4), cb = (*b)->NewCache(4);
  ASSERT_TRUE((*a)->Forward(toks.data(), 4, ca.get(), la.data(), &pool).ok());
  ASSERT_TRUE((*b)->Forward(toks.data(), 4, cb.get(), lb.data(), &pool).ok());
  float maxd = 0;
  for (size_t i = 0; i < la.size(); ++i) maxd = std::max(maxd, std::fabs(la[i] - lb[i]));
  EXPECT_GT(maxd, 1e-3f);
}

}  // namespace
}  // namespace qs
