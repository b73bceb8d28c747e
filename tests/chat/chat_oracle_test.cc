// Differential tests against Python's jinja2, configured as transformers configures it
// (chat_oracle.py): every chat template over many generated conversations, and a corpus of small
// templates (jinja_snippets.txt) exercising the interpreter. Outputs must match byte for byte;
// where jinja2 raises, our engine must return an error too.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "testutil.h"
#include "chat/chat_template.h"
#include "jinja/jinja.h"

namespace qs {
namespace {

using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

const std::string kTestDir = QS_CHAT_TEST_DIR;

// Debian's python3-jinja2 by default; QIUSUO_PYTHON overrides. Empty if jinja2 is unavailable.
std::string Python() {
  std::string py = "python3";
  std::error_code ec;
  if (fs::exists("/usr/bin/python3", ec)) py = "/usr/bin/python3";
  if (const char* e = std::getenv("QIUSUO_PYTHON")) py = e;
  std::string out;
  if (test::RunCommand(py + " -c 'import jinja2'", &out) != 0) return "";
  return py;
}

#define QS_REQUIRE_JINJA2(py) \
  std::string py = Python();  \
  if (py.empty()) GTEST_SKIP() << "python3 with jinja2 not found (apt install python3-jinja2)"

json RunOracle(const std::string& args) {
  std::string dir = test::TempDir("chat-oracle");
  std::string out_path = dir + "/out.json", log;
  int rc = test::RunCommand(args + " > " + out_path, &log);
  EXPECT_EQ(rc, 0) << args << "\n" << log;
  return json::parse(test::ReadFileOrDie(out_path));
}

std::vector<std::pair<std::string, std::string>> AllTemplates() {
  std::vector<std::pair<std::string, std::string>> t;
  std::string fx = test::FixturesDir();
  if (!fx.empty()) {
    for (const auto& e : fs::directory_iterator(fx + "/chat-templates"))
      if (e.path().extension() == ".jinja") t.emplace_back(e.path().stem().string(), e.path().string());
  }
  for (const auto& e : fs::directory_iterator(kTestDir + "/templates"))
    if (e.path().extension() == ".jinja") t.emplace_back(e.path().stem().string(), e.path().string());
  std::sort(t.begin(), t.end());
  return t;
}

TEST(ChatOracle, GeneratedConversationsMatchJinja2) {
  QS_REQUIRE_JINJA2(py);
  const char* seed = std::getenv("QIUSUO_ORACLE_SEED");
  const char* count = std::getenv("QIUSUO_ORACLE_COUNT");
  std::string cmd = py + " " + kTestDir + "/chat_oracle.py gen --seed " + (seed ? seed : "20250101") + " --count " +
                    (count ? count : "150");
  auto templates = AllTemplates();
  ASSERT_GE(templates.size(), 2u);
  for (const auto& [name, path] : templates) cmd += " --template " + name + "=" + path;
  json cases = RunOracle(cmd);
  std::map<std::string, ChatTemplate> compiled;
  int renders = 0, errors = 0, mismatches = 0;
  std::map<std::string, int> per_template;
  for (const auto& c : cases) {
    const std::string path = c["template"].get<std::string>();
    if (!compiled.count(path)) {
      auto t = ChatTemplate::Compile(test::ReadFileOrDie(path));
      ASSERT_TRUE(t.ok()) << path << ": " << t.status().message();
      compiled.emplace(path, std::move(t).value());
    }
    ChatRenderOptions opt;
    opt.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    if (c["bos_token"].is_string()) opt.bos_token = c["bos_token"].get<std::string>();
    if (c["eos_token"].is_string()) opt.eos_token = c["eos_token"].get<std::string>();
    opt.extra_context = c["extra_context"];
    auto r = compiled.at(path).Render(c["messages"], c["tools"], opt);
    const std::string id = c["id"].get<std::string>();
    if (c.contains("expected")) {
      if (!r.ok()) {
        ++mismatches;
        ADD_FAILURE() << id << ": jinja2 rendered, we failed: " << r.status().message()
                      << "\nmessages: " << c["messages"].dump();
      } else if (r.value() != c["expected"].get<std::string>()) {
        ++mismatches;
        ADD_FAILURE() << id << "\nmessages: " << c["messages"].dump() << "\n--- jinja2 ---\n"
                      << c["expected"].get<std::string>() << "\n--- ours ---\n"
                      << r.value();
      } else {
        ++renders;
        ++per_template[id.substr(0, id.find('/'))];
      }
    } else {
      if (r.ok()) {
        ++mismatches;
        ADD_FAILURE() << id << ": jinja2 failed (" << c["error"].get<std::string>() << ") but we rendered:\n"
                      << r.value() << "\nmessages: " << c["messages"].dump();
      } else {
        ++errors;
      }
    }
    if (mismatches > 20) break;
  }
  std::printf(
      "[ oracle ] %zu generated conversations x %zu templates: %d identical renders, %d errors on both "
      "sides, %d mismatches\n",
      cases.size(), templates.size(), renders, errors, mismatches);
  for (const auto& [t, n] : per_template) std::printf("[ oracle ]   %-48s %d renders\n", t.c_str(), n);
  EXPECT_EQ(mismatches, 0);
  EXPECT_GT(renders, static_cast<int>(cases.size()) / 2);
}

TEST(ChatOracle, JinjaSnippetsMatchJinja2) {
  QS_REQUIRE_JINJA2(py);
  json out = RunOracle(py + " " + kTestDir + "/chat_oracle.py snippets " + kTestDir + "/jinja_snippets.txt");
  const json& ctx = out["context"];
  int same = 0, both_fail = 0, bad = 0;
  for (const auto& r : out["results"]) {
    const std::string src = r["template"].get<std::string>();
    auto t = jinja::Template::Parse(src);
    Result<std::string> got = t.ok() ? t->RenderJson(ctx) : Result<std::string>(t.status());
    if (r.contains("expected")) {
      if (!got.ok()) {
        ++bad;
        ADD_FAILURE() << "template:\n"
                      << src << "\njinja2: " << json(r["expected"]).dump()
                      << "\nours failed: " << got.status().message();
      } else if (got.value() != r["expected"].get<std::string>()) {
        ++bad;
        ADD_FAILURE() << "template:\n"
                      << src << "\njinja2: " << json(r["expected"]).dump() << "\nours:   " << json(got.value()).dump();
      } else {
        ++same;
      }
    } else if (got.ok()) {
      ++bad;
      ADD_FAILURE() << "template:\n"
                    << src << "\njinja2 failed: " << r["error"].get<std::string>()
                    << "\nours:   " << json(got.value()).dump();
    } else {
      ++both_fail;
    }
  }
  std::printf("[ oracle ] %zu snippets: %d identical, %d errors on both sides, %d mismatches\n", out["results"].size(),
              same, both_fail, bad);
  EXPECT_EQ(bad, 0);
}

}  // namespace
}  // namespace qs
