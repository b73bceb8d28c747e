// The web_search tool without a model: the FTS5 index (ranking, CJK, queries that look like FTS5
// syntax, replace by url, persistence), the request opt-in shapes, and the server-side loop driven
// by scripted model rounds: the search runs, its results come back as a tool message that each
// family's template renders in its tool-result format, citations are numbered across searches,
// and the loop stops at the limit or at a client's own call.
#include "server/web_search.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "chat/chat_template.h"
#include "testutil.h"

namespace qs::server {
namespace {

using ojson = nlohmann::ordered_json;
namespace fs = std::filesystem;

class WebSearchIndex : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::TempDir("websearch");
    auto idx = Fts5Index::Open(dir_ + "/index.db", true);
    if (!idx.ok() && idx.status().code() == ErrorCode::kUnsupported) GTEST_SKIP() << "built without SQLite";
    ASSERT_TRUE(idx.ok()) << idx.status().message();
    index_ = std::move(*idx);
    ASSERT_TRUE(index_->Add({"West Lake", "https://example.org/westlake",
                             "West Lake is a freshwater lake in Hangzhou, China.\n\nIt is famous for its causeways."}).ok());
    ASSERT_TRUE(index_->Add({"Qiantang River", "https://example.org/qiantang",
                             "The Qiantang River tidal bore is the largest in the world."}).ok());
    ASSERT_TRUE(index_->Add({"杭州天气", "https://example.org/weather", "杭州今天晴，气温二十一度。"}).ok());
  }
  void TearDown() override {
    index_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string dir_;
  std::unique_ptr<Fts5Index> index_;
};

TEST_F(WebSearchIndex, RanksMatchesAndReadsAnyQuery) {
  auto h = index_->Search("Which lake is in Hangzhou?", 5);
  ASSERT_TRUE(h.ok()) << h.status().message();
  ASSERT_FALSE(h->empty());
  EXPECT_EQ((*h)[0].url, "https://example.org/westlake");
  EXPECT_EQ((*h)[0].title, "West Lake");
  EXPECT_NE((*h)[0].snippet.find("freshwater"), std::string::npos);
  // CJK: single characters are words, so a two-character query finds a longer text.
  auto z = index_->Search("杭州", 5);
  ASSERT_TRUE(z.ok());
  ASSERT_FALSE(z->empty());
  EXPECT_EQ((*z)[0].url, "https://example.org/weather");
  // Text a model might write is never FTS5 syntax: quotes, operators, stars, columns, nothing.
  for (const char* q : {"\"tidal", "bore AND OR NOT", "NEAR(a b)", "ti*", "body:lake", "^x", "", "  ", "-(", "\xff"}) {
    auto r = index_->Search(q, 3);
    EXPECT_TRUE(r.ok()) << q << ": " << r.status().message();
  }
  EXPECT_FALSE(index_->Search("tidal bore", 3)->empty());
  EXPECT_TRUE(index_->Search("zebra", 3)->empty());
}

TEST_F(WebSearchIndex, ReplaceByUrlAndReopen) {
  ASSERT_TRUE(index_->Add({"West Lake", "https://example.org/westlake", "Now about pagodas."}).ok());
  EXPECT_TRUE(index_->Search("causeways", 3)->empty());
  EXPECT_EQ(index_->PassageCount().value(), 3);
  index_.reset();
  auto again = Fts5Index::Open(dir_ + "/index.db", false);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->Search("pagodas", 3)->size(), 1u);
  EXPECT_FALSE(Fts5Index::Open(dir_ + "/missing.db", false).ok());
  test::WriteFile(dir_ + "/not-a-db", "hello, this is not SQLite");
  EXPECT_FALSE(Fts5Index::Open(dir_ + "/not-a-db", false).ok());
}

TEST(WebSearchDocuments, FilesDirectoriesJsonlAndPassages) {
  const std::string dir = test::TempDir("websearch-docs");
  fs::create_directories(dir + "/sub");
  test::WriteFile(dir + "/a.md", "# Title A\n\nBody of A.");
  test::WriteFile(dir + "/sub/b.txt", "\n\nSecond doc");
  test::WriteFile(dir + "/c.jsonl", "{\"title\": \"T\", \"url\": \"https://x/1\", \"text\": \"one\"}\nnot json\n");
  test::WriteFile(dir + "/bin.dat", std::string("\x00\x01\x02", 3));
  std::vector<std::string> skipped;
  auto d = ReadSearchDocuments(dir, &skipped);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->size(), 3u);
  EXPECT_EQ((*d)[0].title, "Title A");
  EXPECT_EQ((*d)[0].url.rfind("file://", 0), 0u);
  EXPECT_EQ((*d)[1].url, "https://x/1");
  EXPECT_EQ((*d)[2].title, "Second doc");
  EXPECT_EQ(skipped.size(), 2u);  // the binary file and the bad JSONL line
  EXPECT_FALSE(ReadSearchDocuments(dir + "/nope", &skipped).ok());
  // Passages: about the target size, paragraphs kept whole, long ones cut on UTF-8 boundaries.
  std::string text;
  for (int i = 0; i < 30; ++i) text += "Paragraph " + std::to_string(i) + " " + std::string(90, 'x') + "\n\n";
  text += std::string(3000, 'y') + "中文";
  auto p = SplitPassages(text, 500);
  ASSERT_GT(p.size(), 5u);
  size_t total = 0;
  for (auto& s : p) {
    EXPECT_LE(s.size(), 1100u);
    total += s.size();
  }
  EXPECT_GT(total, text.size() - 200);
  EXPECT_NE(p.back().find("中文"), std::string::npos);
  fs::remove_all(dir);
}

TEST(WebSearchRequest, OptInShapes) {
  bool on = false, forced = false;
  ojson b = ojson::parse(R"({"messages": [], "web_search": true})");
  EXPECT_FALSE(ExtractWebSearch(&b, &on, &forced));
  EXPECT_TRUE(on);
  EXPECT_FALSE(forced);
  EXPECT_FALSE(b.contains("web_search"));
  b = ojson::parse(R"({"tools": [{"type": "web_search"}, {"type": "function", "function": {"name": "f"}}],
                       "tool_choice": {"type": "function", "function": {"name": "web_search"}}})");
  EXPECT_FALSE(ExtractWebSearch(&b, &on, &forced));
  EXPECT_TRUE(on && forced);
  EXPECT_EQ(b["tools"].size(), 1u);
  EXPECT_FALSE(b.contains("tool_choice"));
  b = ojson::parse(R"({"tools": [{"type": "web_search"}]})");
  EXPECT_FALSE(ExtractWebSearch(&b, &on, &forced));
  EXPECT_TRUE(b["tools"].is_null());
  b = ojson::parse(R"({"web_search": false})");
  EXPECT_FALSE(ExtractWebSearch(&b, &on, &forced));
  EXPECT_FALSE(on);
  b = ojson::parse(R"({"web_search": "yes"})");
  auto e = ExtractWebSearch(&b, &on, &forced);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 400);
  EXPECT_EQ(e->param, "web_search");
}

// A backend that records its queries.
struct FakeBackend : SearchBackend {
  std::vector<std::string> queries;
  Result<std::vector<SearchHit>> Search(const std::string& q, int k) override {
    queries.push_back(q);
    std::vector<SearchHit> h;
    for (int i = 0; i < std::min(k, 2); ++i)
      h.push_back({"Doc " + q + " " + std::to_string(i), "https://ex/" + std::to_string(queries.size()) + "/" + std::to_string(i),
                   "About " + q + ".", 1.0});
    return h;
  }
};

chat::ToolCall Call(const std::string& name, const std::string& args) { return {"call_0", name, args}; }

TEST(WebSearchLoop, SearchesFeedsResultsBackAndCites) {
  FakeBackend backend;
  std::vector<ojson> seen_msgs, seen_tools;
  std::vector<bool> forced;
  int n = 0;
  auto round = [&](const ojson& msgs, const ojson& tools, bool force, SearchRound* out) {
    seen_msgs.push_back(msgs);
    seen_tools.push_back(tools);
    forced.push_back(force);
    out->prompt_tokens = 100 * (n + 1);
    out->completion_tokens = 5;
    out->cache_hit_tokens = n ? 90 : 0;
    out->reasoning = "think " + std::to_string(n);
    if (n == 0) out->calls = {Call("web_search", R"({"query": "west lake"})")};
    else if (n == 1) out->calls = {Call("web_search", "garbage, not json")};  // cut off: the user's question
    else out->content = "West Lake is in Hangzhou [1].";
    out->finish_reason = out->calls.empty() ? "stop" : "tool_calls";
    ++n;
    return true;
  };
  const ojson msgs = ojson::parse(R"([{"role": "user", "content": "Where is West Lake?"}])");
  WebSearchOptions opt;
  opt.results = 2;
  SearchLoopResult r;
  ASSERT_TRUE(RunWebSearchLoop(msgs, nullptr, /*force_first=*/true, backend, opt, round, &r));
  EXPECT_EQ(r.rounds, 3);
  EXPECT_EQ(backend.queries, (std::vector<std::string>{"west lake", "Where is West Lake?"}));
  EXPECT_EQ(forced, (std::vector<bool>{true, false, false}));
  // The tool is declared to the model while it may search.
  ASSERT_TRUE(seen_tools[0].is_array());
  EXPECT_EQ(seen_tools[0].back()["function"]["name"], "web_search");
  // Round 2 saw the first call and its numbered results; round 3 both searches', numbered on.
  const ojson& m2 = seen_msgs[1];
  ASSERT_EQ(m2.size(), 3u);
  EXPECT_EQ(m2[1]["role"], "assistant");
  EXPECT_EQ(m2[1]["tool_calls"][0]["function"]["name"], "web_search");
  EXPECT_EQ(m2[1]["tool_calls"][0]["function"]["arguments"], R"({"query":"west lake"})");
  EXPECT_EQ(m2[1]["reasoning_content"], "think 0");
  EXPECT_EQ(m2[2]["role"], "tool");
  EXPECT_EQ(m2[2]["tool_call_id"], m2[1]["tool_calls"][0]["id"]);
  EXPECT_EQ(m2[2]["content"].get<std::string>().rfind("[1] Doc west lake 0\nURL: https://ex/1/0\nAbout west lake.", 0), 0u);
  EXPECT_NE(seen_msgs[2][4]["content"].get<std::string>().find("[3] Doc Where is West Lake? 0"), std::string::npos);
  // The answer: the last round's content, every round's reasoning, usage summed, four citations.
  EXPECT_EQ(r.answer.content, "West Lake is in Hangzhou [1].");
  EXPECT_EQ(r.answer.reasoning, "think 0\n\nthink 1\n\nthink 2");
  EXPECT_EQ(r.answer.prompt_tokens, 600);
  EXPECT_EQ(r.answer.completion_tokens, 15);
  EXPECT_EQ(r.answer.cache_hit_tokens, 180);
  EXPECT_EQ(r.answer.finish_reason, "stop");
  ASSERT_EQ(r.citations.size(), 4u);
  EXPECT_EQ(r.citations[0].index, 1);
  EXPECT_EQ(r.citations[3].index, 4);
  EXPECT_EQ(r.citations[3].query, "Where is West Lake?");
  auto cj = CitationsJson(r.citations);
  EXPECT_EQ(cj[0]["url"], "https://ex/1/0");
}

TEST(WebSearchLoop, StopsAtTheLimitAndAtClientCalls) {
  FakeBackend backend;
  int n = 0;
  std::vector<ojson> tools_seen;
  auto always_search = [&](const ojson&, const ojson& tools, bool, SearchRound* out) {
    tools_seen.push_back(tools);
    out->calls = {Call("web_search", R"({"query": "q"})")};
    out->finish_reason = "tool_calls";
    ++n;
    return true;
  };
  WebSearchOptions opt;
  opt.max_searches = 2;
  SearchLoopResult r;
  const ojson msgs = ojson::parse(R"([{"role": "user", "content": "x"}])");
  const ojson client_tools = ojson::parse(R"([{"type": "function", "function": {"name": "f"}}])");
  ASSERT_TRUE(RunWebSearchLoop(msgs, client_tools, false, backend, opt, always_search, &r));
  EXPECT_EQ(n, 3);  // two searches, then a round without the tool
  EXPECT_EQ(backend.queries.size(), 2u);
  EXPECT_EQ(tools_seen[2], client_tools);  // web_search no longer declared
  EXPECT_TRUE(r.answer.calls.empty());     // a web_search call past the limit is not the client's
  EXPECT_EQ(r.answer.finish_reason, "stop");
  // A client's function ends the loop: its call goes back to the client, web_search beside it is not run.
  FakeBackend b2;
  auto client_call = [&](const ojson&, const ojson&, bool, SearchRound* out) {
    out->calls = {Call("web_search", R"({"query": "q"})"), Call("f", "{}")};
    out->finish_reason = "tool_calls";
    return true;
  };
  SearchLoopResult r2;
  ASSERT_TRUE(RunWebSearchLoop(msgs, client_tools, false, b2, opt, client_call, &r2));
  EXPECT_TRUE(b2.queries.empty());
  ASSERT_EQ(r2.answer.calls.size(), 1u);
  EXPECT_EQ(r2.answer.calls[0].name, "f");
  EXPECT_EQ(r2.answer.finish_reason, "tool_calls");
  // A failing round stops the loop.
  SearchLoopResult r3;
  EXPECT_FALSE(RunWebSearchLoop(msgs, nullptr, false, b2, opt, [](const ojson&, const ojson&, bool, SearchRound*) { return false; }, &r3));
}

// The results reach the model in its own tool-result format: the tool message the loop appends,
// rendered by each released template.
TEST(WebSearchLoop, ResultsRenderInEachFamilysToolFormat) {
  QS_REQUIRE_FIXTURES();
  FakeBackend backend;
  ojson second;
  int n = 0;
  auto round = [&](const ojson& msgs, const ojson&, bool, SearchRound* out) {
    if (n++ == 0) out->calls = {Call("web_search", R"({"query": "west lake"})")};
    else second = msgs;
    return true;
  };
  SearchLoopResult r;
  ASSERT_TRUE(RunWebSearchLoop(ojson::parse(R"([{"role": "user", "content": "Where?"}])"), nullptr, false, backend, {},
                               round, &r));
  struct Case {
    const char* file;
    const char* before;  // what the template writes around a tool result
  } cases[] = {{"deepseek-v3.jinja", "<｜tool▁output▁begin｜>[1] Doc west lake 0"},
               {"deepseek-ai-DeepSeek-V3.1.jinja", "<｜tool▁output▁begin｜>[1] Doc west lake 0"},
               {"deepseek-ai-DeepSeek-V3.2.jinja", "[1] Doc west lake 0"},
               {"deepseek-ai-DeepSeek-V4.jinja", "<tool_result>[1] Doc west lake 0"}};
  for (const auto& c : cases) {
    std::string src = test::ReadFileOrDie(test::FixturesDir() + "/chat-templates/" + c.file);
    ChatRenderOptions ro;
    ro.add_generation_prompt = true;
    ro.bos_token = "<｜begin▁of▁sentence｜>";
    auto out = RenderChatTemplate(src, second, ojson::array({WebSearchToolJson()}), ro);
    ASSERT_TRUE(out.ok()) << c.file << ": " << out.status().message();
    EXPECT_NE(out->find(c.before), std::string::npos) << c.file << ":\n" << *out;
    EXPECT_NE(out->find("web_search"), std::string::npos) << c.file;
  }
}

}  // namespace
}  // namespace qs::server
