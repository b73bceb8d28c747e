// Speculative decoding over HTTP: `serve --spec-tokens 3 --draft-model M` (the tiny model drafting
// for itself, so every unconstrained draft is right) answers greedy requests — plain, streamed,
// cut by a stop string, in JSON mode — with the text of a server without speculation, from several
// concurrent slots; /metrics counts the drafts. A model without an MTP module and no draft model,
// or a draft model with another vocabulary, is refused at start-up with a clear message.
#include <httplib.h>

#include <gtest/gtest.h>

#include <future>

#include "e2e_util.h"
#include "testutil.h"

namespace qs::test {
namespace {

using nlohmann::json;

class E2ESpec : public TinyV3ServerTest {
 protected:
  static json Post(int port, const json& body) {
    httplib::Client cli("127.0.0.1", port);
    cli.set_read_timeout(120, 0);
    auto r = cli.Post("/v1/chat/completions", body.dump(), "application/json");
    if (!r) return json{{"http_error", true}};
    if (body.value("stream", false)) {
      SseResult s = ParseSse(r->body);
      std::string text;
      for (const json& e : s.events)
        if (e.contains("choices") && !e["choices"].empty() && e["choices"][0]["delta"].contains("content") &&
            e["choices"][0]["delta"]["content"].is_string())
          text += e["choices"][0]["delta"]["content"].get<std::string>();
      return json{{"status", r->status}, {"text", text}};
    }
    json j = json::parse(r->body, nullptr, false);
    return json{{"status", r->status},
                {"text", j.is_object() && j.contains("choices") ? j["choices"][0]["message"]["content"] : json()},
                {"finish", j.is_object() && j.contains("choices") ? j["choices"][0]["finish_reason"] : json()}};
  }
  static double Metric(int port, const std::string& name) {
    httplib::Client cli("127.0.0.1", port);
    auto r = cli.Get("/metrics");
    if (!r) return -1;
    size_t p = r->body.find("\n" + name + " ");
    return p == std::string::npos ? -1 : std::atof(r->body.c_str() + p + name.size() + 2);
  }
};

std::vector<json> Requests() {
  std::vector<json> rs;
  const char* prompts[] = {"Write a haiku about the sea", "1, 2, 3, 4,", "Why is the sky blue?", "你好"};
  for (const char* p : prompts) {
    json b = {{"model", "m"}, {"messages", json::array({{{"role", "user"}, {"content", p}}})},
              {"max_tokens", 24}, {"temperature", 0}};
    rs.push_back(b);
    json s = b;
    s["stream"] = true;
    rs.push_back(s);
  }
  json j = rs[0];
  j["response_format"] = {{"type", "json_object"}};
  rs.push_back(j);
  return rs;
}

TEST_F(E2ESpec, GreedyAnswersMatchPlainServer) {
  ServerProcess plain, spec;
  std::string err;
  ASSERT_TRUE(plain.Start(model_, {"--parallel", "3", "--ctx", "1024", "--chunk", "7"}, &err)) << err;
  ASSERT_TRUE(spec.Start(model_, {"--parallel", "3", "--ctx", "1024", "--chunk", "7", "--spec-tokens", "3",
                                  "--draft-model", model_},
                         &err))
      << err;
  auto reqs = Requests();
  std::vector<json> want;
  for (const json& r : reqs) want.push_back(Post(plain.port(), r));
  // A stop string cut out of the plain answer's middle.
  json stop = reqs[0];
  const std::string full = want[0]["text"].is_string() ? want[0]["text"].get<std::string>() : "";
  for (size_t i = full.size() / 3; i + 2 < full.size(); ++i)
    if (static_cast<unsigned char>(full[i]) < 0x80 && static_cast<unsigned char>(full[i + 1]) < 0x80) {
      stop["stop"] = json::array({full.substr(i, 2)});  // whole characters (valid UTF-8)
      reqs.push_back(stop);
      want.push_back(Post(plain.port(), stop));
      break;
    }
  // All at once on the speculative server: the slots verify drafts side by side.
  std::vector<std::future<json>> got;
  for (const json& r : reqs) got.push_back(std::async(std::launch::async, [&, r] { return Post(spec.port(), r); }));
  for (size_t i = 0; i < reqs.size(); ++i) {
    json g = got[i].get();
    EXPECT_EQ(g["status"], 200) << i;
    EXPECT_EQ(g["text"], want[i]["text"]) << i << " " << reqs[i].dump();
    if (want[i].contains("finish")) {
      EXPECT_EQ(g["finish"], want[i]["finish"]) << i;
    }
  }
  const double drafted = Metric(spec.port(), "qiusuo_spec_drafted_tokens_total");
  const double accepted = Metric(spec.port(), "qiusuo_spec_accepted_tokens_total");
  EXPECT_GT(drafted, 0);
  EXPECT_GT(accepted, 0);
  EXPECT_LE(accepted, drafted);
  EXPECT_GT(Metric(spec.port(), "qiusuo_spec_verify_steps_total"), 0);
  EXPECT_EQ(Metric(plain.port(), "qiusuo_spec_drafted_tokens_total"), 0);
}

TEST_F(E2ESpec, RefusedWithoutDrafterOrWithOtherVocabulary) {
  std::string out;
  int rc = RunCommand(QiusuoBin() + " serve --model " + model_ + " --port 0 --spec-tokens 2 2>&1", &out);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("multi-token-prediction"), std::string::npos) << out;
  std::string other;
  std::string e = SharedTinyModel("v3-small-vocab", "", &other, 1000);
  ASSERT_TRUE(e.empty()) << e;
  // Same tokenizer files but the model's vocab_size differs a lot: refused before serving.
  rc = RunCommand(QiusuoBin() + " serve --model " + model_ + " --port 0 --spec-tokens 2 --draft-model " + other + " 2>&1",
                  &out);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("vocabulary"), std::string::npos) << out;
}

}  // namespace
}  // namespace qs::test
