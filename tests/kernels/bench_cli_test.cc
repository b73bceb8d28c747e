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

}  // namespace
}  // namespace qs
