#include "testutil.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace qs::test {

std::string FixturesDir() {
  std::string d = QS_FIXTURES_DIR;
  if (const char* e = std::getenv("QIUSUO_FIXTURES")) d = e;
  std::error_code ec;
  return std::filesystem::is_directory(d, ec) ? std::filesystem::canonical(d).string() : "";
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return {};
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<float> ReadF32File(const std::string& path) {
  std::string s = ReadFileOrDie(path);
  std::vector<float> v(s.size() / 4);
  std::memcpy(v.data(), s.data(), v.size() * 4);
  return v;
}

std::vector<int32_t> ReadI32File(const std::string& path) {
  std::string s = ReadFileOrDie(path);
  std::vector<int32_t> v(s.size() / 4);
  std::memcpy(v.data(), s.data(), v.size() * 4);
  return v;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string TempDir(const std::string& tag) {
  auto base = std::filesystem::temp_directory_path() / "qiusuo-tests";
  std::filesystem::create_directories(base);
  std::string tmpl = (base / (tag + "-XXXXXX")).string();
  char* p = mkdtemp(tmpl.data());
  return p ? std::string(p) : base.string();
}

std::string QiusuoBin() {
  const char* e = std::getenv("QIUSUO_BIN");
  return e ? e : "./qiusuo";
}

int RunCommand(const std::string& cmd, std::string* output) {
  std::string full = "(" + cmd + ") 2>&1";
  FILE* p = popen(full.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  output->clear();
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) output->append(buf, n);
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

}  // namespace qs::test
