// End to end, the real binary: the prefix cache on disk (--cache-dir) survives a restart (hits in
// usage after it, the same answer), is per API key / user, and damaged files are dropped (a miss,
// the same answer as uncached); web search (--web-search-index): `qiusuo search-index add`, then
// a chat request with web_search searches, feeds the results back and returns citations
// (streamed and not), and is refused when the server has no index.
#include <httplib.h>

#include <gtest/gtest.h>

#include <filesystem>

#include "e2e_util.h"
#include "testutil.h"

namespace qs::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json Post(int port, const json& body, int* status, const std::string& key = "") {
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(120, 0);
  httplib::Headers h;
  if (!key.empty()) h.emplace("Authorization", "Bearer " + key);
  auto r = cli.Post("/v1/chat/completions", h, body.dump(), "application/json");
  if (!r) {
    *status = -1;
    return json();
  }
  *status = r->status;
  if (body.value("stream", false) && r->status == 200) return json{{"sse", r->body}};
  return json::parse(r->body, nullptr, false);
}

std::string LongText() {
  std::string s = "Please summarise the following notes. ";
  for (int i = 0; i < 40; ++i) s += "Note " + std::to_string(i) + ": the river rises in spring and falls in autumn. ";
  return s;
}

using E2ECtxCache = TinyV3ServerTest;

TEST_F(E2ECtxCache, DiskCacheSurvivesRestartIsPerKeyAndDropsDamage) {
  const std::string dir = TempDir("e2e-diskcache");
  const std::vector<std::string> args = {"--ctx", "2048", "--cache-dir", dir + "/kv", "--cache-dir-bytes", "64MiB"};
  const json body = {{"messages", json::array({{{"role", "user"}, {"content", LongText()}}})},
                     {"max_tokens", 8}, {"temperature", 0}};
  // Without any cache: the reference answer.
  json plain;
  {
    ServerProcess s;
    std::string err;
    ASSERT_TRUE(s.Start(model_, {"--ctx", "2048", "--cache-mb", "0"}, &err)) << err;
    int st = 0;
    plain = Post(s.port(), body, &st);
    ASSERT_EQ(st, 200) << plain.dump();
  }
  const int64_t prompt = plain["usage"]["prompt_tokens"];
  ASSERT_GT(prompt, 300);
  {
    ServerProcess s;
    std::string err;
    ASSERT_TRUE(s.Start(model_, args, &err)) << err;
    int st = 0;
    json a = Post(s.port(), body, &st, "key-a");
    ASSERT_EQ(st, 200) << a.dump();
    EXPECT_EQ(a["usage"]["prompt_cache_hit_tokens"], 0);
    EXPECT_EQ(a["choices"][0]["message"]["content"], plain["choices"][0]["message"]["content"]);
  }  // SIGTERM: queued writes are finished before exit
  {
    ServerProcess s;  // restarted: the memory cache is empty, the disk has the prompt
    std::string err;
    ASSERT_TRUE(s.Start(model_, args, &err)) << err;
    int st = 0;
    json b = Post(s.port(), body, &st, "key-a");
    ASSERT_EQ(st, 200) << b.dump();
    EXPECT_EQ(b["usage"]["prompt_cache_hit_tokens"], prompt - 1);
    EXPECT_EQ(b["choices"][0]["message"]["content"], plain["choices"][0]["message"]["content"]);
    // Another key, or the same key with another user: nothing from key-a's files.
    json c = Post(s.port(), body, &st, "key-b");
    ASSERT_EQ(st, 200);
    EXPECT_EQ(c["usage"]["prompt_cache_hit_tokens"], 0);
    json u = body;
    u["user"] = "someone-else";
    json d = Post(s.port(), u, &st, "key-a");
    ASSERT_EQ(st, 200);
    EXPECT_EQ(d["usage"]["prompt_cache_hit_tokens"], 0);
    httplib::Client cli("127.0.0.1", s.port());
    auto m = cli.Get("/metrics");
    ASSERT_TRUE(m);
    EXPECT_NE(m->body.find("qiusuo_disk_cache_hit_tokens_total " + std::to_string(prompt - 1)), std::string::npos)
        << m->body;
  }
  // Damage every file (a flipped byte in the payload, and one truncated): all dropped, a miss, the
  // same answer as without a cache.
  int n = 0;
  for (auto& e : fs::recursive_directory_iterator(dir + "/kv")) {
    if (!e.is_regular_file()) continue;
    std::string bytes = ReadFileOrDie(e.path().string());
    if (n++ % 2) bytes.resize(bytes.size() / 2);
    else bytes[bytes.size() - 100] = static_cast<char>(bytes[bytes.size() - 100] ^ 0x10);
    WriteFile(e.path().string(), bytes);
  }
  ASSERT_GE(n, 3);
  {
    ServerProcess s;
    std::string err;
    ASSERT_TRUE(s.Start(model_, args, &err)) << err;
    int st = 0;
    json b = Post(s.port(), body, &st, "key-a");
    ASSERT_EQ(st, 200) << b.dump();
    EXPECT_EQ(b["usage"]["prompt_cache_hit_tokens"], 0);
    EXPECT_EQ(b["choices"][0]["message"]["content"], plain["choices"][0]["message"]["content"]);
  }
  fs::remove_all(dir);
}

TEST_F(E2ECtxCache, WebSearchCallsTheIndexAndCites) {
  const std::string dir = TempDir("e2e-websearch");
  fs::create_directories(dir + "/docs");
  WriteFile(dir + "/docs/westlake.md", "# West Lake\n\nWest Lake is a freshwater lake in Hangzhou.");
  WriteFile(dir + "/docs/river.md", "# Qiantang\n\nThe Qiantang River has the largest tidal bore.");
  std::string out;
  int rc = RunCommand(QiusuoBin() + " search-index add --index " + dir + "/idx.db " + dir + "/docs", &out);
  if (rc != 0 && out.find("without SQLite") != std::string::npos) GTEST_SKIP() << "built without SQLite";
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("added 2 documents"), std::string::npos) << out;
  rc = RunCommand(QiusuoBin() + " search-index search --index " + dir + "/idx.db 'lake in Hangzhou'", &out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("[1]"), std::string::npos);
  EXPECT_NE(out.find("West Lake"), std::string::npos) << out;

  ServerProcess s;
  std::string err;
  ASSERT_TRUE(s.Start(model_, {"--ctx", "2048", "--web-search-index", dir + "/idx.db"}, &err)) << err;
  // Random weights never call a tool on their own: the request forces the first round's call.
  // The call is cut off by max_tokens, so its query is the user's question.
  json body = {{"messages", json::array({{{"role", "user"}, {"content", "Which lake is in Hangzhou?"}}})},
               {"tools", json::array({{{"type", "web_search"}}})},
               {"tool_choice", {{"type", "function"}, {"function", {{"name", "web_search"}}}}},
               {"max_tokens", 6}, {"temperature", 0}};
  int st = 0;
  json a = Post(s.port(), body, &st);
  ASSERT_EQ(st, 200) << a.dump();
  const json& msg = a["choices"][0]["message"];
  ASSERT_TRUE(msg["citations"].is_array()) << a.dump();
  ASSERT_FALSE(msg["citations"].empty()) << a.dump();
  EXPECT_EQ(msg["citations"][0]["index"], 1);
  EXPECT_EQ(msg["citations"][0]["title"], "West Lake");
  EXPECT_EQ(msg["citations"][0]["query"], "Which lake is in Hangzhou?");
  EXPECT_EQ(msg["citations"][0]["url"].get<std::string>().rfind("file://", 0), 0u);
  EXPECT_FALSE(msg.contains("tool_calls")) << a.dump();  // the server ran it; nothing for the client
  // Two rounds: the second prompt holds the first plus the call and its results, and reuses the
  // first's rows from the prefix cache.
  const json& u = a["usage"];
  EXPECT_GT(u["prompt_tokens"].get<int64_t>(), 0);
  EXPECT_GT(u["prompt_cache_hit_tokens"].get<int64_t>(), 0) << a.dump();
  EXPECT_GE(u["completion_tokens"].get<int64_t>(), 7);

  // Streamed: role first, then the answer, citations in a delta, finish, [DONE].
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  json sse = Post(s.port(), body, &st);
  ASSERT_EQ(st, 200);
  SseResult r = ParseSse(sse["sse"]);
  ASSERT_TRUE(r.error.empty() && r.done) << sse.dump();
  bool cited = false;
  std::string finish;
  for (auto& e : r.events) {
    if (e["choices"].empty()) continue;
    const json& d = e["choices"][0]["delta"];
    if (d.contains("citations")) cited = d["citations"][0]["title"] == "West Lake";
    if (!e["choices"][0]["finish_reason"].is_null()) finish = e["choices"][0]["finish_reason"];
  }
  EXPECT_TRUE(cited) << sse.dump();
  EXPECT_FALSE(finish.empty());
  EXPECT_TRUE(r.events.back()["usage"].is_object());

  // "web_search": false is a normal request; a wrong type is 400.
  json plain = {{"messages", json::array({{{"role", "user"}, {"content", "Hi"}}})}, {"max_tokens", 2},
                {"web_search", false}};
  json p = Post(s.port(), plain, &st);
  ASSERT_EQ(st, 200);
  EXPECT_FALSE(p["choices"][0]["message"].contains("citations"));
  plain["web_search"] = "yes";
  Post(s.port(), plain, &st);
  EXPECT_EQ(st, 400);

  // A server without an index refuses the opt-in (400, param web_search).
  ServerProcess s2;
  ASSERT_TRUE(s2.Start(model_, {"--ctx", "1024"}, &err)) << err;
  plain["web_search"] = true;
  json e = Post(s2.port(), plain, &st);
  EXPECT_EQ(st, 400);
  EXPECT_EQ(e["error"]["param"], "web_search");
  // A missing index file is a start-up error (the message names the flag and the file).
  ServerProcess s3;
  EXPECT_FALSE(s3.Start(model_, {"--web-search-index", dir + "/missing.db"}, &err));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace qs::test
