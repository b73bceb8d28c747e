// The qiusuo binary end to end: logits (the conformance interface), generate, info.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "testutil.h"

namespace qs {
namespace {

std::string Golden(const std::string& v) { return test::FixturesDir() + "/deepseek-golden/" + v; }

std::string Join(const std::vector<int32_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

TEST(Cli, LogitsPrefillDecodeAndSplitMatchGolden) {
  QS_REQUIRE_FIXTURES();
  for (std::string v : {"v3-fp8-tiny", "v2-tiny"}) {
    auto toks = test::ReadI32File(Golden(v) + "/golden/len33.tokens.i32");
    auto ref = test::ReadF32File(Golden(v) + "/golden/len33.logits.f32");
    for (std::string mode : {"", "--decode", "--prefill 16"}) {
      std::string out = test::TempDir("cli") + "/logits.f32", log;
      int rc = test::RunCommand(test::QiusuoBin() + " logits --model " + Golden(v) + "/checkpoint --tokens " +
                                    Join(toks) + " --threads 2 --out " + out + " " + mode,
                                &log);
      ASSERT_EQ(rc, 0) << log;
      auto got = test::ReadF32File(out);
      ASSERT_EQ(got.size(), ref.size());
      float m = 0;
      for (size_t i = 0; i < got.size(); ++i) m = std::max(m, std::fabs(got[i] - ref[i]));
      EXPECT_LE(m, 1e-4f) << v << " " << mode;
    }
  }
}

TEST(Cli, GenerateGreedy) {
  QS_REQUIRE_FIXTURES();
  auto g = nlohmann::json::parse(test::ReadFileOrDie(Golden("v3-tiny") + "/golden/golden.json"));
  auto prompt = g["greedy"][0]["prompt"].get<std::vector<int32_t>>();
  auto expected = g["greedy"][0]["generated"].get<std::vector<int32_t>>();
  std::string out;
  int rc = test::RunCommand(test::QiusuoBin() + " generate --model " + Golden("v3-tiny") + "/checkpoint --tokens " +
                                Join(prompt) + " -n 16 --ignore-eos 2>/dev/null",
                            &out);
  ASSERT_EQ(rc, 0) << out;
  std::string want;
  for (size_t i = 0; i < expected.size(); ++i) want += (i ? " " : "") + std::to_string(expected[i]);
  EXPECT_EQ(out, want + "\n");
}

TEST(Cli, InfoJson) {
  QS_REQUIRE_FIXTURES();
  std::string out;
  int rc = test::RunCommand(test::QiusuoBin() + " info --json --model " + Golden("v3-fp8-tiny") + "/checkpoint 2>/dev/null", &out);
  ASSERT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["architecture"], "DeepseekV3ForCausalLM");
  EXPECT_EQ(j["kv_bytes_per_token"], 3 * (128 + 16) * 4);
  EXPECT_GT(j["params_total"].get<uint64_t>(), j["params_active_per_token"].get<uint64_t>());
  EXPECT_GT(j["params_mtp"].get<uint64_t>(), 0u);
  EXPECT_TRUE(j["dtype_params"].contains("F8_E4M3"));
}

TEST(Cli, BadInputIsAnErrorNotACrash) {
  QS_REQUIRE_FIXTURES();
  std::string out;
  EXPECT_EQ(test::RunCommand(test::QiusuoBin() + " logits --model /nonexistent --tokens 1 --out /dev/null", &out), 1);
  EXPECT_NE(out.find("/nonexistent"), std::string::npos) << out;
  EXPECT_EQ(test::RunCommand(test::QiusuoBin() + " logits --model " + Golden("v3-tiny") +
                                 "/checkpoint --tokens 0,99999 --out /dev/null",
                             &out),
            1);
  EXPECT_NE(out.find("99999"), std::string::npos) << out;
  EXPECT_EQ(test::RunCommand(test::QiusuoBin() + " logits --model " + Golden("v3-tiny") +
                                 "/checkpoint --tokens 0,abc --out /dev/null",
                             &out),
            1);
}

}  // namespace
}  // namespace qs
