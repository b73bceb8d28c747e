// Helpers shared by the tests: where the fixtures are, reading binary golden files, running the
// qiusuo binary.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qs::test {

// ../shared/fixtures (or $QIUSUO_FIXTURES). Empty string if absent.
std::string FixturesDir();
// Skips the current test with a message when the fixtures are missing.
#define QS_REQUIRE_FIXTURES()                                                   \
  do {                                                                          \
    if (::qs::test::FixturesDir().empty()) GTEST_SKIP() << "shared fixtures absent (../shared/fixtures)"; \
  } while (0)

std::vector<float> ReadF32File(const std::string& path);
std::vector<int32_t> ReadI32File(const std::string& path);
std::string ReadFileOrDie(const std::string& path);
void WriteFile(const std::string& path, const std::string& bytes);
// A fresh temporary directory for one test.
std::string TempDir(const std::string& tag);
// Path of the built qiusuo binary ($QIUSUO_BIN).
std::string QiusuoBin();
// Runs a shell command; returns exit status, stdout+stderr in *output.
int RunCommand(const std::string& cmd, std::string* output);

}  // namespace qs::test
