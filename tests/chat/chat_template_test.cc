// Chat templates: every render in shared/fixtures/chat-templates/cases.json (what transformers
// produced), loading templates and special tokens from model directories and GGUF files, the
// built-in fallback, and the `qiusuo chat-template` command.
#include "chat/chat_template.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "io/gguf_writer.h"
#include "testutil.h"

namespace qs {
namespace {

using json = nlohmann::ordered_json;

std::string ChatFixtures() { return test::FixturesDir() + "/chat-templates"; }

json LoadCases() { return json::parse(test::ReadFileOrDie(ChatFixtures() + "/cases.json")); }

ChatRenderOptions OptionsFor(const json& c) {
  ChatRenderOptions opt;
  opt.add_generation_prompt = c.value("add_generation_prompt", false);
  if (c.contains("bos_token") && c["bos_token"].is_string()) opt.bos_token = c["bos_token"].get<std::string>();
  if (c.contains("eos_token") && c["eos_token"].is_string()) opt.eos_token = c["eos_token"].get<std::string>();
  if (c.contains("extra_context")) opt.extra_context = c["extra_context"];
  return opt;
}

TEST(ChatTemplateFixtures, AllCasesRenderExactly) {
  QS_REQUIRE_FIXTURES();
  json cases = LoadCases();
  ASSERT_GT(cases.size(), 100u);
  int passed = 0;
  for (const auto& c : cases) {
    const std::string id = c["id"].get<std::string>();
    std::string tmpl = test::ReadFileOrDie(ChatFixtures() + "/" + c["template"].get<std::string>());
    json tools = c.contains("tools") ? c["tools"] : json();
    auto r = RenderChatTemplate(tmpl, c["messages"], tools, OptionsFor(c));
    if (!r.ok()) {
      ADD_FAILURE() << id << ": " << r.status().message();
      continue;
    }
    if (r.value() == c["expected"].get<std::string>()) {
      ++passed;
    } else {
      ADD_FAILURE() << id << "\n--- expected ---\n"
                    << c["expected"].get<std::string>() << "\n--- got ---\n"
                    << r.value();
    }
  }
  std::printf("[ fixtures ] %d / %zu chat-template cases render byte-identically\n", passed, cases.size());
  EXPECT_EQ(passed, static_cast<int>(cases.size()));
}

// Each fixture template compiles once and renders every case of its own (the server's path).
TEST(ChatTemplateFixtures, CompiledTemplateIsReusable) {
  QS_REQUIRE_FIXTURES();
  json cases = LoadCases();
  std::map<std::string, ChatTemplate> compiled;
  for (const auto& c : cases) {
    const std::string name = c["template"].get<std::string>();
    if (!compiled.count(name)) {
      auto t = ChatTemplate::Compile(test::ReadFileOrDie(ChatFixtures() + "/" + name));
      ASSERT_TRUE(t.ok()) << t.status().message();
      compiled.emplace(name, std::move(t).value());
    }
    json tools = c.contains("tools") ? c["tools"] : json();
    auto r = compiled.at(name).Render(c["messages"], tools, OptionsFor(c));
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r.value(), c["expected"].get<std::string>()) << c["id"];
  }
}

const json kConversation = json::parse(R"([{"role": "system", "content": "Be brief."},
                                           {"role": "user", "content": "Hi"}])");
const char kBos[] = "<｜begin▁of▁sentence｜>";
const char kEos[] = "<｜end▁of▁sentence｜>";

TEST(ChatTemplateLoad, TokenizerConfigStringTemplateAndTokenObjects) {
  std::string dir = test::TempDir("chat-load");
  json cfg;
  cfg["bos_token"] = {{"__type", "AddedToken"}, {"content", kBos}, {"lstrip", false}};
  cfg["eos_token"] = kEos;
  cfg["chat_template"] = "{{ bos_token }}{{ messages[-1]['content'] }}{{ eos_token }}";
  test::WriteFile(dir + "/tokenizer_config.json", cfg.dump());
  auto m = LoadChatTemplate(dir);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_FALSE(m->is_fallback);
  ASSERT_TRUE(m->bos_token.has_value());
  EXPECT_EQ(*m->bos_token, kBos);
  EXPECT_EQ(*m->eos_token, kEos);
  ChatRenderOptions opt;
  opt.bos_token = m->bos_token;
  opt.eos_token = m->eos_token;
  auto r = RenderChatTemplate(m->source, kConversation, json(), opt);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), std::string(kBos) + "Hi" + kEos);
}

TEST(ChatTemplateLoad, ListFormPicksDefaultAndNullBosIsUndefined) {
  std::string dir = test::TempDir("chat-load");
  json cfg;
  cfg["bos_token"] = nullptr;
  cfg["eos_token"] = "<|im_end|>";
  cfg["chat_template"] = json::array({{{"name", "tool_use"}, {"template", "TOOLS"}},
                                      {{"name", "default"}, {"template", "{{ bos_token is defined }}"}}});
  test::WriteFile(dir + "/tokenizer_config.json", cfg.dump());
  auto m = LoadChatTemplate(dir);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_FALSE(m->bos_token.has_value());
  auto r = RenderChatTemplate(m->source, kConversation, json(), ChatRenderOptions{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), "False");
}

TEST(ChatTemplateLoad, ChatTemplateJinjaFileWins) {
  std::string dir = test::TempDir("chat-load");
  test::WriteFile(dir + "/tokenizer_config.json", R"({"chat_template": "config", "eos_token": "E"})");
  test::WriteFile(dir + "/chat_template.jinja", "file\n");
  auto m = LoadChatTemplate(dir);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->source, "file\n");
  EXPECT_EQ(*m->eos_token, "E");
}

TEST(ChatTemplateLoad, MissingTemplateFallsBackToDeepSeekV3) {
  std::string dir = test::TempDir("chat-load");
  test::WriteFile(dir + "/tokenizer_config.json", std::string(R"({"bos_token": ")") + kBos + "\"}");
  auto m = LoadChatTemplate(dir);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->is_fallback);
  EXPECT_EQ(m->origin, "built-in");
  if (!test::FixturesDir().empty()) {
    EXPECT_EQ(m->source, test::ReadFileOrDie(ChatFixtures() + "/deepseek-v3.jinja"));
  }
  ChatRenderOptions opt;
  opt.bos_token = m->bos_token;
  opt.add_generation_prompt = true;
  auto r = RenderChatTemplate(m->source, kConversation, json(), opt);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), std::string(kBos) + "Be brief.<｜User｜>Hi<｜Assistant｜>");
}

TEST(ChatTemplateLoad, MalformedConfigIsAnError) {
  std::string dir = test::TempDir("chat-load");
  test::WriteFile(dir + "/tokenizer_config.json", "{not json");
  auto m = LoadChatTemplate(dir);
  EXPECT_FALSE(m.ok());
  EXPECT_FALSE(LoadChatTemplate(dir + "/nope").ok());
}

TEST(ChatTemplateLoad, Gguf) {
  std::string dir = test::TempDir("chat-gguf");
  std::string path = dir + "/m.gguf";
  {
    GgufWriter w;
    w.SetString("general.architecture", "deepseek2");
    w.SetString("tokenizer.chat_template", "{{ bos_token }}[{{ messages[0].content }}]{{ eos_token }}");
    w.SetStringArray("tokenizer.ggml.tokens", std::vector<std::string>{"<unk>", kBos, kEos, "x"});
    w.SetU32("tokenizer.ggml.bos_token_id", 1);
    w.SetU32("tokenizer.ggml.eos_token_id", 2);
    Status st = w.Begin(path);
    ASSERT_TRUE(st.ok()) << st.message();
    st = w.Finish();
    ASSERT_TRUE(st.ok()) << st.message();
  }
  auto m = LoadChatTemplate(path);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_FALSE(m->is_fallback);
  EXPECT_EQ(*m->bos_token, kBos);
  EXPECT_EQ(*m->eos_token, kEos);
  ChatRenderOptions opt;
  opt.bos_token = m->bos_token;
  opt.eos_token = m->eos_token;
  auto r = RenderChatTemplate(m->source, kConversation, json(), opt);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), std::string(kBos) + "[Be brief.]" + kEos);
}

TEST(ChatTemplateRender, RejectsBadInputs) {
  ChatRenderOptions opt;
  EXPECT_FALSE(RenderChatTemplate("x", json::object(), json(), opt).ok());
  EXPECT_FALSE(RenderChatTemplate("x", json::array(), json::object(), opt).ok());
  opt.extra_context = {{"messages", 1}};
  EXPECT_FALSE(RenderChatTemplate("x", json::array(), json(), opt).ok());
  auto r = RenderChatTemplate("{% for %}", json::array(), json(), ChatRenderOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("line 1, column"), std::string::npos) << r.status().message();
}

// ---- the CLI ----

bool HaveBinary() {
  std::error_code ec;
  return std::filesystem::exists(test::QiusuoBin(), ec);
}

TEST(ChatTemplateCli, TemplateFileMatchesFixtures) {
  QS_REQUIRE_FIXTURES();
  if (!HaveBinary()) GTEST_SKIP() << "qiusuo binary not built";
  std::string dir = test::TempDir("chat-cli");
  int checked = 0;
  for (const auto& c : LoadCases()) {
    if (checked >= 12 || c.contains("extra_context")) continue;
    ++checked;
    test::WriteFile(dir + "/m.json", c["messages"].dump());
    std::string cmd = test::QiusuoBin() + " chat-template --template " + ChatFixtures() + "/" +
                      c["template"].get<std::string>() + " --messages " + dir + "/m.json";
    if (c.contains("tools")) {
      test::WriteFile(dir + "/t.json", c["tools"].dump());
      cmd += " --tools " + dir + "/t.json";
    }
    if (c["bos_token"].is_string()) {
      test::WriteFile(dir + "/bos", c["bos_token"].get<std::string>());
      cmd += " --bos-token \"$(cat " + dir + "/bos)\"";
    }
    test::WriteFile(dir + "/eos", c["eos_token"].get<std::string>());
    cmd += " --eos-token \"$(cat " + dir + "/eos)\"";
    if (c["add_generation_prompt"].get<bool>()) cmd += " --add-generation-prompt";
    std::string out;
    int rc = test::RunCommand(cmd + " 2>/dev/null", &out);
    EXPECT_EQ(rc, 0) << cmd;
    EXPECT_EQ(out, c["expected"].get<std::string>()) << c["id"];
  }
}

TEST(ChatTemplateCli, ModelDirectoryAndErrors) {
  if (!HaveBinary()) GTEST_SKIP() << "qiusuo binary not built";
  std::string dir = test::TempDir("chat-cli");
  json cfg = {{"bos_token", {{"content", kBos}}},
              {"eos_token", kEos},
              {"chat_template",
               "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
               "{% if add_generation_prompt %}<gen>{% endif %}{{ eos_token }}"}};
  test::WriteFile(dir + "/tokenizer_config.json", cfg.dump());
  test::WriteFile(dir + "/m.json", kConversation.dump());
  std::string out;
  int rc = test::RunCommand(test::QiusuoBin() + " chat-template --model " + dir + " --messages " + dir +
                                "/m.json --add-generation-prompt 2>/dev/null",
                            &out);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, std::string(kBos) + "<system>Be brief.<user>Hi<gen>" + kEos);
  test::WriteFile(dir + "/bad.jinja", "{% if %}");
  rc = test::RunCommand(
      test::QiusuoBin() + " chat-template --template " + dir + "/bad.jinja --messages " + dir + "/m.json", &out);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("line 1"), std::string::npos) << out;
}

}  // namespace
}  // namespace qs
