// End-to-end: hostile clients. A request nested 10^5 levels deep is a 400, not a crash; API keys
// are compared exactly and may come from a file or QIUSUO_API_KEY; CORS only for the origins
// named; max_tokens beyond the context and unknown model names are 400; and one client cannot
// learn from prompt_cache_hit_tokens what another client's prompt began with.
#include <httplib.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "e2e_util.h"
#include "testutil.h"

namespace qs::test {
namespace {

using nlohmann::json;

struct Reply {
  int status = -1;
  json body;
  httplib::Headers headers;
};

Reply PostRaw(int port, const std::string& body, const httplib::Headers& headers = {},
              const std::string& path = "/v1/chat/completions") {
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(60, 0);
  Reply r;
  auto res = cli.Post(path.c_str(), headers, body, "application/json");
  if (!res) return r;
  r.status = res->status;
  r.body = json::parse(res->body, nullptr, false);
  r.headers = res->headers;
  return r;
}

json Chat(const std::string& system, const std::string& user, json extra = json::object()) {
  json b = {{"messages", json::array({{{"role", "system"}, {"content", system}}, {{"role", "user"}, {"content", user}}})},
            {"max_tokens", 1},
            {"temperature", 0}};
  b.update(extra);
  return b;
}

httplib::Headers Bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }

int GetStatus(int port, const std::string& path, const httplib::Headers& headers = {}) {
  httplib::Client cli("127.0.0.1", port);
  auto r = cli.Get(path.c_str(), headers);
  return r ? r->status : -1;
}

class Hostile : public TinyV3ServerTest {
 protected:
  // The server still answers: /health and an ordinary chat request.
  void ExpectServing(int port) {
    EXPECT_EQ(GetStatus(port, "/health"), 200);
    EXPECT_EQ(PostRaw(port, Chat("Be brief.", "hi").dump()).status, 200);
  }
};

// The reproducers that used to overflow the stack: message content and tool parameters nested
// 10^5 levels deep (and a field the server does not even read).
TEST_F(Hostile, DeeplyNestedJsonIsRefused) {
  ServerProcess s;
  std::string err;
  ASSERT_TRUE(s.Start(model_, {"--ctx", "512"}, &err)) << err;
  const std::string deep_arr = std::string(100000, '[') + std::string(100000, ']');
  std::string deep_obj;
  for (int i = 0; i < 100000; ++i) deep_obj += R"({"a":)";
  deep_obj += "1" + std::string(100000, '}');
  const std::string msgs = R"("messages":[{"role":"user","content":"hi"}])";
  const std::vector<std::string> bodies = {
      R"({"messages":[{"role":"user","content":)" + deep_arr + "}]}",
      "{" + msgs + R"(,"tools":[{"type":"function","function":{"name":"f","parameters":)" + deep_obj + "}}]}",
      "{" + msgs + R"(,"response_format":)" + deep_obj + "}",
      "{" + msgs + R"(,"unknown_field":)" + deep_arr + "}",
  };
  for (const std::string& b : bodies) {
    Reply r = PostRaw(s.port(), b);
    ASSERT_EQ(r.status, 400) << r.body.dump();
    EXPECT_EQ(r.body["error"]["type"], "invalid_request_error");
    EXPECT_NE(r.body["error"]["message"].get<std::string>().find("128"), std::string::npos) << r.body.dump();
  }
  Reply c = PostRaw(s.port(), R"({"prompt":"x","suffix":)" + deep_arr + "}", {}, "/v1/completions");
  EXPECT_EQ(c.status, 400);
  ExpectServing(s.port());
  // A real tool schema, a few levels deep, is fine.
  json tools = json::array({{{"type", "function"},
                             {"function", {{"name", "lookup"},
                                           {"parameters", {{"type", "object"},
                                                           {"properties", {{"q", {{"type", "array"}, {"items", {{"type", "string"}}}}}}}}}}}}});
  EXPECT_EQ(PostRaw(s.port(), Chat("s", "find", {{"tools", tools}}).dump()).status, 200);
}

TEST_F(Hostile, MaxJsonDepthFlag) {
  ServerProcess s;
  std::string err;
  ASSERT_TRUE(s.Start(model_, {"--ctx", "512", "--max-json-depth", "8"}, &err)) << err;
  // body 1, messages 2, message 3, then five more levels: 8 passes, 9 does not.
  auto nested = [](int extra) {
    return R"({"messages":[{"role":"user","content":"hi","x":)" + std::string(extra, '[') + "1" +
           std::string(extra, ']') + "}]}";
  };
  EXPECT_EQ(PostRaw(s.port(), nested(5)).status, 200);
  Reply r = PostRaw(s.port(), nested(6));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body["error"]["message"].get<std::string>().find("nested more than 8"), std::string::npos) << r.body.dump();
  // A limit deep enough to overflow the stack again is not accepted.
  ServerProcess t;
  EXPECT_FALSE(t.Start(model_, {"--ctx", "512", "--max-json-depth", "100000"}, &err));
}

// --api-key-file, QIUSUO_API_KEY, exact comparison, and the key kept off the command line.
TEST_F(Hostile, ApiKeyFromFileOrEnvironmentComparedExactly) {
  const std::string dir = ::testing::TempDir() + "qs-hostile-keys-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  const std::string good = dir + "/key", spaced = dir + "/spaced";
  std::ofstream(good) << "sk-file-key\n";
  std::ofstream(spaced) << "sk-file-key \n";
  std::string err;
  {
    ServerProcess s;
    ASSERT_TRUE(s.Start(model_, {"--ctx", "512", "--api-key-file", good}, &err)) << err;
    EXPECT_EQ(GetStatus(s.port(), "/v1/models", Bearer("sk-file-key")), 200);
    for (const std::string& wrong : {"sk-file-ke", "sk-file-keyx", " sk-file-key", "sk-file-key x", "SK-FILE-KEY", ""})
      EXPECT_EQ(GetStatus(s.port(), "/v1/models", Bearer(wrong)), 401) << "'" << wrong << "'";
    EXPECT_EQ(GetStatus(s.port(), "/v1/models", {{"Authorization", "sk-file-key"}}), 401);  // no scheme
    EXPECT_EQ(GetStatus(s.port(), "/v1/models"), 401);
    EXPECT_EQ(GetStatus(s.port(), "/health"), 200);
    // The key is not on the command line (ps shows it to every local user).
    std::ifstream cmdline("/proc/" + std::to_string(s.pid()) + "/cmdline");
    std::string args((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    EXPECT_EQ(args.find("sk-file-key"), std::string::npos);
  }
  {
    // A key with a trailing space could never be matched exactly (HTTP drops the space around a
    // header value), so the server refuses to start with it rather than trimming it.
    ServerProcess s;
    EXPECT_FALSE(s.Start(model_, {"--ctx", "512", "--api-key-file", spaced}, &err));
    ServerProcess t;
    EXPECT_FALSE(t.Start(model_, {"--ctx", "512", "--api-key", "sk-a b"}, &err));
    ServerProcess u;  // two sources of the key: ambiguous, refused
    EXPECT_FALSE(u.Start(model_, {"--ctx", "512", "--api-key", "sk-a", "--api-key-file", good}, &err));
  }
  {
    setenv("QIUSUO_API_KEY", "sk-env-key", 1);
    ServerProcess s;
    bool started = s.Start(model_, {"--ctx", "512"}, &err);
    unsetenv("QIUSUO_API_KEY");
    ASSERT_TRUE(started) << err;
    EXPECT_EQ(GetStatus(s.port(), "/v1/models", Bearer("sk-env-key")), 200);
    EXPECT_EQ(GetStatus(s.port(), "/v1/models", Bearer("sk-env-ke")), 401);
  }
  std::filesystem::remove_all(dir);
}

// Same-origin only by default; --cors-origin names the origins (or *) that may call from a page.
TEST_F(Hostile, CorsOnlyForNamedOrigins) {
  const std::string body = Chat("s", "hi").dump();
  std::string err;
  {
    ServerProcess s;
    ASSERT_TRUE(s.Start(model_, {"--ctx", "512"}, &err)) << err;
    Reply r = PostRaw(s.port(), body, {{"Origin", "https://evil.example"}});
    EXPECT_EQ(r.status, 200);  // the request itself is served; the browser withholds the answer
    EXPECT_EQ(r.headers.count("Access-Control-Allow-Origin"), 0u);
  }
  {
    ServerProcess s;
    ASSERT_TRUE(s.Start(model_, {"--ctx", "512", "--cors-origin", "https://a.example,https://b.example",
                                 "--cors-origin", "http://localhost:3000"}, &err))
        << err;
    for (const char* ok : {"https://a.example", "https://b.example", "http://localhost:3000"}) {
      Reply r = PostRaw(s.port(), body, {{"Origin", ok}});
      EXPECT_EQ(r.status, 200);
      auto it = r.headers.find("Access-Control-Allow-Origin");
      ASSERT_NE(it, r.headers.end()) << ok;
      EXPECT_EQ(it->second, ok);
    }
    Reply r = PostRaw(s.port(), body, {{"Origin", "https://evil.example"}});
    EXPECT_EQ(r.headers.count("Access-Control-Allow-Origin"), 0u);
  }
  {
    ServerProcess s;
    ASSERT_TRUE(s.Start(model_, {"--ctx", "512", "--cors-origin", "*"}, &err)) << err;
    Reply r = PostRaw(s.port(), body, {{"Origin", "https://any.example"}});
    auto it = r.headers.find("Access-Control-Allow-Origin");
    ASSERT_NE(it, r.headers.end());
    EXPECT_EQ(it->second, "*");
  }
}

// max_tokens the context cannot hold and unknown model names are 400 (as DeepSeek answers);
// the served id and DeepSeek's names are accepted.
TEST_F(Hostile, MaxTokensAndModelAreChecked) {
  ServerProcess s;
  std::string err;
  ASSERT_TRUE(s.Start(model_, {"--ctx", "512", "--model-id", "tiny-v3"}, &err)) << err;
  Reply r = PostRaw(s.port(), Chat("s", "hi", {{"max_tokens", 100000}}).dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["type"], "invalid_request_error");
  EXPECT_EQ(r.body["error"]["param"], "max_tokens");
  r = PostRaw(s.port(), Chat("s", "hi", {{"max_tokens", 510}}).dump());  // 510 + the 5-token prompt > 512
  EXPECT_EQ(r.status, 400) << r.body.dump();
  r = PostRaw(s.port(), json{{"prompt", "Once"}, {"max_tokens", 600}}.dump(), {}, "/v1/completions");
  EXPECT_EQ(r.status, 400) << r.body.dump();
  EXPECT_EQ(PostRaw(s.port(), Chat("s", "hi", {{"max_tokens", 400}}).dump()).status, 200);
  for (const char* m : {"tiny-v3", "deepseek-chat", "deepseek-reasoner"})
    EXPECT_EQ(PostRaw(s.port(), Chat("s", "hi", {{"model", m}}).dump()).status, 200) << m;
  r = PostRaw(s.port(), Chat("s", "hi", {{"model", "gpt-4o"}}).dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["code"], "model_not_found");
  EXPECT_EQ(r.body["error"]["param"], "model");
  r = PostRaw(s.port(), json{{"prompt", "Once"}, {"model", "nope"}}.dump(), {}, "/v1/completions");
  EXPECT_EQ(r.status, 400);
}

int64_t HitTokens(const Reply& r) {
  EXPECT_EQ(r.status, 200) << r.body.dump();
  return r.status == 200 ? r.body["usage"]["prompt_cache_hit_tokens"].get<int64_t>() : -1;
}

// The cache-guessing attack: Bob sends Alice's (guessed) system prompt and reads
// prompt_cache_hit_tokens. By default he gets 0; Alice herself still hits.
TEST_F(Hostile, PrefixCacheIsPerKeyAndUser) {
  const std::string secret = "The launch code is 7431. Never reveal it. Answer every question politely and briefly.";
  std::string err;
  {
    ServerProcess s;
    ASSERT_TRUE(s.Start(model_, {"--ctx", "512"}, &err)) << err;
    EXPECT_EQ(HitTokens(PostRaw(s.port(), Chat(secret, "hello").dump(), Bearer("sk-alice"))), 0);
    EXPECT_EQ(HitTokens(PostRaw(s.port(), Chat(secret, "what is it?").dump(), Bearer("sk-bob"))), 0);
    EXPECT_EQ(HitTokens(PostRaw(s.port(), Chat(secret, "what is it?").dump())), 0);  // no key at all
    EXPECT_GT(HitTokens(PostRaw(s.port(), Chat(secret, "what is it?").dump(), Bearer("sk-alice"))), 10);
    // The same key with different `user`s does not share either; the same user does.
    EXPECT_EQ(HitTokens(PostRaw(s.port(), Chat(secret, "a", {{"user", "u1"}}).dump(), Bearer("sk-alice"))), 0);
    EXPECT_EQ(HitTokens(PostRaw(s.port(), Chat(secret, "b", {{"user", "u2"}}).dump(), Bearer("sk-alice"))), 0);
    EXPECT_GT(HitTokens(PostRaw(s.port(), Chat(secret, "c", {{"user", "u1"}}).dump(), Bearer("sk-alice"))), 10);
  }
  {
    // With --api-key every client holds the same key: `user` still separates them.
    ServerProcess s;
    ASSERT_TRUE(s.Start(model_, {"--ctx", "512", "--api-key", "sk-shared"}, &err)) << err;
    EXPECT_EQ(HitTokens(PostRaw(s.port(), Chat(secret, "a", {{"user", "alice"}}).dump(), Bearer("sk-shared"))), 0);
    EXPECT_EQ(HitTokens(PostRaw(s.port(), Chat(secret, "b", {{"user", "bob"}}).dump(), Bearer("sk-shared"))), 0);
    EXPECT_GT(HitTokens(PostRaw(s.port(), Chat(secret, "c", {{"user", "alice"}}).dump(), Bearer("sk-shared"))), 10);
  }
  {
    // --shared-prefix-cache: one cache for all (and the side channel it opens).
    ServerProcess s;
    ASSERT_TRUE(s.Start(model_, {"--ctx", "512", "--shared-prefix-cache"}, &err)) << err;
    EXPECT_EQ(HitTokens(PostRaw(s.port(), Chat(secret, "hello").dump(), Bearer("sk-alice"))), 0);
    EXPECT_GT(HitTokens(PostRaw(s.port(), Chat(secret, "what is it?").dump(), Bearer("sk-bob"))), 10);
  }
}

}  // namespace
}  // namespace qs::test
