// The conformance CLI: `qiusuo tokenize` / `qiusuo detokenize` on the fixture tokenizers.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "testutil.h"

namespace qs {
namespace {

std::string Bin() {
  std::string b = test::QiusuoBin();
  return std::filesystem::exists(b) ? b : "";
}

#define REQUIRE_BIN()                                                         \
  do {                                                                        \
    QS_REQUIRE_FIXTURES();                                                    \
    if (Bin().empty()) GTEST_SKIP() << "qiusuo binary not built (" << test::QiusuoBin() << ")"; \
  } while (0)

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

TEST(TokenizerCli, TokenizeAndDetokenize) {
  REQUIRE_BIN();
  const std::string ds = test::FixturesDir() + "/tokenizer/deepseek-v3";
  std::string out;
  ASSERT_EQ(test::RunCommand(Bin() + " tokenize --model " + Quote(ds) + " --text 'Hello world'", &out), 0) << out;
  EXPECT_EQ(out, "19923 2058\n");
  ASSERT_EQ(test::RunCommand(Bin() + " tokenize --model " + Quote(ds) + " --text 'Hello world' --bos", &out), 0);
  EXPECT_EQ(out, "0 19923 2058\n");
  ASSERT_EQ(test::RunCommand(Bin() + " tokenize --model " + Quote(ds) + " --text '<｜User｜>hi' --special", &out), 0);
  EXPECT_EQ(out.substr(0, 7), "128803 ");
  ASSERT_EQ(test::RunCommand(Bin() + " tokenize --model " + Quote(ds) + " --text ''", &out), 0);
  EXPECT_EQ(out, "\n");
  ASSERT_EQ(test::RunCommand(Bin() + " detokenize --model " + Quote(ds) + " --ids 19923,2058", &out), 0);
  EXPECT_EQ(out, "Hello world");

  // JSON fixture cases through the CLI, from a file (exact bytes, no shell quoting). Every 4th
  // case: each call loads the tokenizer (~0.25 s), and the library tests cover all of them.
  const auto doc = nlohmann::json::parse(test::ReadFileOrDie(test::FixturesDir() + "/tokenizer/deepseek-v3-cases.json"));
  const std::string dir = test::TempDir("tok-cli");
  int i = 0;
  for (const auto& c : doc["cases"]) {
    if (i++ % 4) continue;
    const std::string f = dir + "/case" + std::to_string(i) + ".txt";
    test::WriteFile(f, c["text"].get<std::string>());
    ASSERT_EQ(test::RunCommand(Bin() + " tokenize --model " + Quote(ds) + " --file " + Quote(f), &out), 0) << out;
    std::string want;
    for (const auto& id : c["ids"]) want += (want.empty() ? "" : " ") + std::to_string(id.get<int>());
    EXPECT_EQ(out, want + "\n") << c["text"].dump();
  }
  std::filesystem::remove_all(dir);
}

TEST(TokenizerCli, ErrorsAreReported) {
  REQUIRE_BIN();
  const std::string ds = test::FixturesDir() + "/tokenizer/deepseek-v3";
  std::string out;
  EXPECT_NE(test::RunCommand(Bin() + " tokenize --model /nonexistent --text x", &out), 0);
  EXPECT_NE(out.find("/nonexistent"), std::string::npos);
  const std::string dir = test::TempDir("tok-cli-err");
  test::WriteFile(dir + "/bad.txt", "ok\xFF");
  EXPECT_NE(test::RunCommand(Bin() + " tokenize --model " + Quote(ds) + " --file " + Quote(dir + "/bad.txt"), &out), 0);
  EXPECT_NE(out.find("UTF-8"), std::string::npos) << out;
  EXPECT_NE(out.find("bad.txt"), std::string::npos) << out;
  std::filesystem::remove_all(dir);
  EXPECT_NE(test::RunCommand(Bin() + " detokenize --model " + Quote(ds) + " --ids 1,999999999", &out), 0);
  EXPECT_NE(test::RunCommand(Bin() + " detokenize --model " + Quote(ds) + " --ids 1,x", &out), 0);
  EXPECT_NE(test::RunCommand(Bin() + " tokenize --model " + Quote(ds), &out), 0);  // neither --text nor --file
}

TEST(TokenizerCli, GgufModel) {
  REQUIRE_BIN();
  const std::string g = test::FixturesDir() + "/tokenizer/ggml-vocab-gpt-2.gguf";
  std::string out;
  ASSERT_EQ(test::RunCommand(Bin() + " tokenize --model " + Quote(g) + " --text ' Hello world'", &out), 0) << out;
  EXPECT_EQ(out, "18435 995\n");
  ASSERT_EQ(test::RunCommand(Bin() + " detokenize --model " + Quote(g) + " --ids 18435,995", &out), 0);
  EXPECT_EQ(out, " Hello world");
}

}  // namespace
}  // namespace qs
