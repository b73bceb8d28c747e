// `qiusuo bench` end to end on a tiny fixture checkpoint: the llama-bench JSON fields are there
// and sane, on every ISA level (QIUSUO_ISA), and bad arguments fail cleanly.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "testutil.h"

namespace qs {
namespace {

std::string Model() { return test::FixturesDir() + "/deepseek-golden/v2-tiny/checkpoint"; }

TEST(BenchCli, JsonFieldsOnEveryIsa) {
  QS_REQUIRE_FIXTURES();
  for (const char* isa : {"scalar", "avx2", "avx512"}) {
    std::string out;
    const int rc = test::RunCommand(std::string("QIUSUO_ISA=") + isa + " " + test::QiusuoBin() + " bench --model " +
                                        Model() + " -p 8 -n 4 -r 2 -t 2 --json",
                                    &out);
    ASSERT_EQ(rc, 0) << out;
    const auto j = nlohmann::json::parse(out.substr(out.find("[\n")));  // logs go to the same pipe
    ASSERT_EQ(j.size(), 2u);
    EXPECT_EQ(j[0]["n_prompt"], 8);
    EXPECT_EQ(j[0]["n_gen"], 0);
    EXPECT_EQ(j[1]["n_prompt"], 0);
    EXPECT_EQ(j[1]["n_gen"], 4);
    for (const auto& o : j) {
      EXPECT_EQ(o["n_threads"], 2);
      EXPECT_GT(o["avg_ts"].get<double>(), 0);
      EXPECT_GE(o["stddev_ts"].get<double>(), 0);
      EXPECT_EQ(o["samples_ts"].size(), 2u);
      EXPECT_GT(o["peak_rss_bytes"].get<double>(), 0);
    }
    EXPECT_GT(j[1]["bandwidth_bytes_per_s"].get<double>(), 0);
  }
}

TEST(BenchCli, TableAndErrors) {
  QS_REQUIRE_FIXTURES();
  std::string out;
  ASSERT_EQ(test::RunCommand(test::QiusuoBin() + " bench --model " + Model() + " -p 4 -n 2 -r 1", &out), 0) << out;
  EXPECT_NE(out.find("pp4"), std::string::npos) << out;
  EXPECT_NE(out.find("tg2"), std::string::npos) << out;
  EXPECT_NE(out.find("peak RSS"), std::string::npos) << out;
  EXPECT_NE(test::RunCommand(test::QiusuoBin() + " bench --model /nonexistent/model", &out), 0);
  EXPECT_NE(out.find("/nonexistent/model"), std::string::npos) << out;
  EXPECT_NE(test::RunCommand(test::QiusuoBin() + " bench --model " + Model() + " -r 0", &out), 0);
}

// -d: each test runs after DEPTH tokens in the cache; n_depth in the JSON, "@ dN" in the table.
TEST(BenchCli, Depth) {
  QS_REQUIRE_FIXTURES();
  std::string out;
  ASSERT_EQ(test::RunCommand(test::QiusuoBin() + " bench --model " + Model() + " -p 4 -n 2 -r 1 -t 2 -d 0,40 --json", &out),
            0)
      << out;
  const auto j = nlohmann::json::parse(out.substr(out.find("[\n")));
  ASSERT_EQ(j.size(), 4u);
  const int64_t want[4][3] = {{4, 0, 0}, {0, 2, 0}, {4, 0, 40}, {0, 2, 40}};  // n_prompt, n_gen, n_depth
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(j[i]["n_prompt"], want[i][0]) << i;
    EXPECT_EQ(j[i]["n_gen"], want[i][1]) << i;
    EXPECT_EQ(j[i]["n_depth"], want[i][2]) << i;
    EXPECT_GT(j[i]["avg_ts"].get<double>(), 0) << i;
  }
  ASSERT_EQ(test::RunCommand(test::QiusuoBin() + " bench --model " + Model() + " -p 4 -n 2 -r 1 -d 16", &out), 0) << out;
  EXPECT_NE(out.find("pp4 @ d16"), std::string::npos) << out;
  EXPECT_NE(out.find("tg2 @ d16"), std::string::npos) << out;
  EXPECT_NE(test::RunCommand(test::QiusuoBin() + " bench --model " + Model() + " -d -5", &out), 0);
}

// The run-time settings: global flags (before or after the subcommand), the QIUSUO_* variables
// as fallbacks, a flag beating its variable.
TEST(BenchCli, RuntimeFlagsAndEnvironment) {
  QS_REQUIRE_FIXTURES();
  auto bench = [](const std::string& prefix, const std::string& args) {
    std::string out;
    const int rc = test::RunCommand(prefix + test::QiusuoBin() + args, &out);
    EXPECT_EQ(rc, 0) << out;
    return rc == 0 ? nlohmann::json::parse(out.substr(out.find("[\n")))[0] : nlohmann::json();
  };
  const std::string m = " --model " + Model() + " -p 4 -n 0 -r 1 --json";
  EXPECT_EQ(bench("", " --isa scalar bench" + m)["backends"], "CPU scalar");
  EXPECT_EQ(bench("", " bench --isa scalar" + m)["backends"], "CPU scalar");
  EXPECT_EQ(bench("QIUSUO_ISA=scalar ", " bench" + m)["backends"], "CPU scalar");
  EXPECT_EQ(bench("QIUSUO_ISA=avx512 ", " bench --isa scalar" + m)["backends"], "CPU scalar");
  EXPECT_EQ(bench("", " --threads 3 bench" + m)["n_threads"], 3);
  EXPECT_EQ(bench("QIUSUO_THREADS=3 ", " bench" + m)["n_threads"], 3);
  EXPECT_EQ(bench("QIUSUO_THREADS=3 ", " bench -t 2" + m)["n_threads"], 2);
  EXPECT_GT(bench("QIUSUO_REPACK=0 ", " bench" + m)["avg_ts"].get<double>(), 0);
  EXPECT_GT(bench("", " bench --no-repack --f16-prefill bf16" + m)["avg_ts"].get<double>(), 0);
  std::string out;
  EXPECT_NE(test::RunCommand(test::QiusuoBin() + " bench --isa sse9" + m, &out), 0);
  EXPECT_NE(test::RunCommand(test::QiusuoBin() + " bench --f16-prefill fp8" + m, &out), 0);
}

}  // namespace
}  // namespace qs
