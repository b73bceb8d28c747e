// runtime/model_package.h and runtime/engine.h on the fixtures: a GGUF file yields model,
// tokenizer and template from one open; a directory without tokenizer.json still yields its
// model when only the model is asked for; errors name the path; the Engine's greedy stream
// equals the single-sequence Generator's, and cancelling ends a request with "cancelled".
#include "runtime/engine.h"

#include <gtest/gtest.h>

#include "base/thread_pool.h"
#include "runtime/generator.h"
#include "runtime/model_package.h"
#include "testutil.h"

namespace qs {
namespace {

std::string Gguf() { return test::FixturesDir() + "/dense-golden/qwen2-tiny/gguf/qwen2-tiny-Q8_0.gguf"; }
std::string Dir() { return test::FixturesDir() + "/deepseek-golden/v2-tiny/checkpoint"; }

TEST(ModelPackage, GgufYieldsEverythingFromOneFile) {
  QS_REQUIRE_FIXTURES();
  ModelPackageOptions o;
  o.chat_template = true;
  int inspected = 0;
  o.inspect_gguf = [&](const GgufFile&) { return ++inspected, Status::Ok(); };
  auto p = OpenModelPackage(Gguf(), o);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->format, ModelFormat::kGguf);
  EXPECT_EQ(inspected, 1);
  ASSERT_TRUE(p->model && p->tokenizer && p->chat_template);
  EXPECT_LE(static_cast<int64_t>(p->tokenizer->vocab_size()), p->config().vocab_size);
  EXPECT_FALSE(p->chat_template->source.empty());
  auto ids = p->tokenizer->Encode("hello", false, false);
  ASSERT_TRUE(ids.ok());
  EXPECT_FALSE(ids->empty());
  // The inspect hook can stop the open (info's validator does).
  o.inspect_gguf = [](const GgufFile&) { return InvalidArgument("rejected"); };
  EXPECT_FALSE(OpenModelPackage(Gguf(), o).ok());
}

TEST(ModelPackage, DirectoryAndErrors) {
  QS_REQUIRE_FIXTURES();
  auto p = OpenModelPackage(Dir(), ModelPackageOptions::ModelOnly());
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->format, ModelFormat::kDirectory);
  EXPECT_TRUE(p->model);
  EXPECT_FALSE(p->tokenizer);
  auto with_tok = OpenModelPackage(Dir());  // this checkpoint has no tokenizer.json
  ASSERT_FALSE(with_tok.ok());
  EXPECT_NE(with_tok.status().message().find("tokenizer.json"), std::string::npos) << with_tok.status().message();
  auto missing = OpenModelPackage("/nonexistent/model");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/model"), std::string::npos);
  const std::string cfg = Dir() + "/config.json";  // a file, but no GGUF
  auto not_gguf = OpenModelPackage(cfg, ModelPackageOptions::ModelOnly());
  ASSERT_FALSE(not_gguf.ok());
  EXPECT_NE(not_gguf.status().message().find(cfg), std::string::npos) << not_gguf.status().message();
}

TEST(Engine, GreedyStreamMatchesGeneratorAndCancels) {
  QS_REQUIRE_FIXTURES();
  EngineOptions eo;
  eo.scheduler.ctx = 256;
  eo.scheduler.threads = 2;
  auto engine = Engine::Open(Gguf(), eo);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  Engine& e = **engine;
  const std::vector<int32_t> prompt = {5, 17, 42, 7, 99, 3};
  GenRequest g;
  g.prompt = prompt;
  g.sampling.temperature = 0;
  g.max_tokens = 12;
  std::vector<int32_t> got;
  auto done = e.Generate(g, [&](const GenEvent& ev) {
    if (ev.kind == GenEvent::kToken) got.push_back(ev.token);
  });
  ASSERT_TRUE(done.ok()) << done.status().message();
  ASSERT_TRUE(done->error.ok()) << done->error.message();

  auto ref_model = LoadModel(Gguf());
  ASSERT_TRUE(ref_model.ok());
  ThreadPool pool(2);
  Generator gen(ref_model->get(), &pool, 256);
  ASSERT_TRUE(gen.Feed(prompt).ok());
  auto want = gen.GreedyContinue(12, /*ignore_eos=*/true);
  ASSERT_TRUE(want.ok());
  // The engine stops at an end-of-sequence token (not sent as kToken); compare what it produced.
  ASSERT_FALSE(got.empty());
  ASSERT_LE(got.size(), want->size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], (*want)[i]) << i;
  if (done->finish_reason == "length") EXPECT_EQ(got.size(), 12u);

  GenRequest c = g;
  c.max_tokens = 200;
  auto cancelled = e.Generate(c, nullptr, [] { return true; });
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->finish_reason, "cancelled");

  GenRequest too_long = g;
  too_long.prompt.assign(300, 5);
  EXPECT_FALSE(e.Generate(too_long, nullptr).ok());
}

}  // namespace
}  // namespace qs
