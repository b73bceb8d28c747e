// The scheduler against the single-sequence Generator on a tiny random model: chunked prefill,
// prefix-cache reuse and interleaved slots must not change greedy output.
#include "runtime/scheduler.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "base/thread_pool.h"
#include "convert/synth.h"
#include "runtime/generator.h"
#include "testutil.h"

namespace qs {
namespace {

class SchedulerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(test::TempDir("sched"));
    std::ofstream(*dir_ + "/config.json") << R"({"architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
      "vocab_size": 300, "hidden_size": 32, "intermediate_size": 64, "moe_intermediate_size": 16,
      "num_hidden_layers": 2, "first_k_dense_replace": 1, "n_routed_experts": 4, "num_experts_per_tok": 2,
      "n_shared_experts": 1, "n_group": 2, "topk_group": 1, "topk_method": "noaux_tc", "scoring_func": "sigmoid",
      "norm_topk_prob": true, "routed_scaling_factor": 2.5, "kv_lora_rank": 16, "q_lora_rank": 24,
      "qk_nope_head_dim": 8, "qk_rope_head_dim": 8, "v_head_dim": 8, "num_attention_heads": 2,
      "num_key_value_heads": 2, "max_position_embeddings": 512, "rms_norm_eps": 1e-6, "rope_theta": 10000,
      "bos_token_id": 0, "eos_token_id": 1, "tie_word_embeddings": false, "moe_layer_freq": 1,
      "num_nextn_predict_layers": 0, "hidden_act": "silu"})";
    SynthOptions so;
    so.config_path = *dir_ + "/config.json";
    so.dtype = "f32";
    so.seed = 3;
    so.out_dir = *dir_ + "/m";
    Status st = SynthesizeCheckpoint(so);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    std::filesystem::remove_all(*dir_, ec);  // each test process makes its own copy
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    auto m = LoadModel(*dir_ + "/m");
    ASSERT_TRUE(m.ok()) << m.status().message();
    model_ = std::move(*m);
  }
  std::vector<int32_t> Reference(const std::vector<int32_t>& prompt, int n) {
    ThreadPool pool(1);
    Generator g(model_.get(), &pool, 256);
    EXPECT_TRUE(g.Feed(prompt).ok());
    auto out = g.GreedyContinue(n, /*ignore_eos=*/true);
    return out.ok() ? *out : std::vector<int32_t>{};
  }
  static GenRequest Greedy(const std::vector<int32_t>& prompt, int n) {
    GenRequest r;
    r.prompt = prompt;
    r.sampling.temperature = 0;
    r.max_tokens = n;
    return r;
  }
  struct Got {
    std::vector<int32_t> tokens;
    int64_t hit = -1;
    std::string finish;
  };
  static Got Collect(RequestHandle& h) {
    Got g;
    for (;;) {
      GenEvent ev;
      if (!h.Next(&ev, std::chrono::seconds(30))) {
        ADD_FAILURE() << "timeout";
        return g;
      }
      if (ev.kind == GenEvent::kStarted) g.hit = ev.cache_hit_tokens;
      if (ev.kind == GenEvent::kToken) g.tokens.push_back(ev.token);
      if (ev.kind == GenEvent::kDone) {
        g.finish = ev.finish_reason;
        return g;
      }
    }
  }
  static std::string* dir_;
  std::unique_ptr<Model> model_;
};
std::string* SchedulerTest::dir_ = nullptr;

std::vector<int32_t> Prompt(int n, int salt) {
  std::vector<int32_t> p;
  for (int i = 0; i < n; ++i) p.push_back(2 + (i * 37 + salt * 11) % 290);
  return p;
}

TEST_F(SchedulerTest, ChunkedPrefillAndPrefixCacheMatchGenerator) {
  SchedulerOptions o;
  o.parallel = 1;
  o.ctx = 256;
  o.chunk = 3;  // many chunks
  o.threads = 1;
  Scheduler s(model_.get(), o);
  auto p = Prompt(20, 1);
  auto ref = Reference(p, 8);
  Scheduler::SubmitError e;
  auto h = s.Submit(Greedy(p, 8), &e);
  ASSERT_TRUE(h);
  Got a = Collect(*h);
  EXPECT_EQ(a.tokens, ref);
  EXPECT_EQ(a.hit, 0);
  EXPECT_EQ(a.finish, "length");
  // Same prompt again: all but the last prompt token come from the prefix cache.
  h = s.Submit(Greedy(p, 8), &e);
  Got b = Collect(*h);
  EXPECT_EQ(b.hit, 19);
  EXPECT_EQ(b.tokens, ref);
  // A prompt sharing 12 tokens.
  auto q = p;
  q.resize(12);
  q.push_back(5);
  q.push_back(6);
  h = s.Submit(Greedy(q, 5), &e);
  Got c = Collect(*h);
  EXPECT_EQ(c.hit, 12);
  EXPECT_EQ(c.tokens, Reference(q, 5));
  EXPECT_EQ(s.Stats().cache_hit_tokens, 31u);
}

TEST_F(SchedulerTest, ConcurrentSlotsMatchSequential) {
  SchedulerOptions o;
  o.parallel = 3;
  o.ctx = 128;
  o.chunk = 4;
  o.threads = 1;
  o.cache_bytes = 0;  // no reuse: pure interleaving
  // References first: the Model is not thread-safe (its forward keeps scratch buffers), so it must
  // not run here while the scheduler thread runs it.
  std::vector<std::vector<int32_t>> prompts, refs;
  for (int i = 0; i < 5; ++i) {
    prompts.push_back(Prompt(5 + 3 * i, i));
    refs.push_back(Reference(prompts.back(), 6));
  }
  Scheduler s(model_.get(), o);
  std::vector<std::shared_ptr<RequestHandle>> hs;
  for (int i = 0; i < 5; ++i) {  // more requests than slots: two wait in the queue
    Scheduler::SubmitError e;
    hs.push_back(s.Submit(Greedy(prompts[i], 6), &e));
    ASSERT_TRUE(hs.back());
  }
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Collect(*hs[i]).tokens, refs[i]) << i;
}

TEST_F(SchedulerTest, SeededSamplingIsReproducible) {
  SchedulerOptions o;
  o.threads = 1;
  o.ctx = 128;
  Scheduler s(model_.get(), o);
  auto run = [&] {
    GenRequest r = Greedy(Prompt(6, 2), 12);
    r.sampling.temperature = 1.5f;
    r.sampling.seed = 99;
    r.sampling.has_seed = true;
    Scheduler::SubmitError e;
    auto h = s.Submit(std::move(r), &e);
    return Collect(*h).tokens;
  };
  auto a = run(), b = run();
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), 12u);
}

TEST_F(SchedulerTest, CancelFreesSlotAndQueueLimits) {
  SchedulerOptions o;
  o.parallel = 1;
  o.max_queue = 1;
  o.ctx = 4096;  // the long request runs for a while (tenths of a second), no race with Submit
  o.threads = 1;
  Scheduler s(model_.get(), o);
  Scheduler::SubmitError e;
  auto long_req = s.Submit(Greedy(Prompt(4, 0), 4000), &e);
  ASSERT_TRUE(long_req);
  GenEvent ev;
  ASSERT_TRUE(long_req->Next(&ev, std::chrono::seconds(10)));  // started: the queue is empty again
  auto waiting = s.Submit(Greedy(Prompt(4, 1), 2), &e);
  ASSERT_TRUE(waiting);
  auto rejected = s.Submit(Greedy(Prompt(4, 2), 2), &e);
  EXPECT_FALSE(rejected);
  EXPECT_EQ(e, Scheduler::SubmitError::kQueueFull);
  EXPECT_FALSE(s.Submit(Greedy(Prompt(4096, 2), 2), &e));
  EXPECT_EQ(e, Scheduler::SubmitError::kTooLong);
  long_req->Cancel();
  Got w = Collect(*waiting);  // runs once the cancelled one left its slot
  EXPECT_EQ(w.tokens.size(), 2u);
  Got l = Collect(*long_req);
  EXPECT_EQ(l.finish, "cancelled");
  EXPECT_LT(l.tokens.size(), 4000u);
}

}  // namespace
}  // namespace qs

namespace qs {
namespace {

// A long prompt is prefilled in chunks between the decode steps of a running stream, so the
// stream keeps producing a token every step.
TEST_F(SchedulerTest, LongPromptDoesNotStallStreams) {
  SchedulerOptions o;
  o.parallel = 2;
  o.ctx = 4096;
  o.chunk = 4;
  o.threads = 1;
  Scheduler s(model_.get(), o);
  Scheduler::SubmitError e;
  // A must still be generating when B's prefill ends, however fast the kernels are: a long
  // budget, and A is cancelled once B's first token is seen.
  auto a = s.Submit(Greedy(Prompt(3, 1), 4000), &e);
  ASSERT_TRUE(a);
  GenEvent ev;
  ASSERT_TRUE(a->Next(&ev, std::chrono::seconds(10)));  // A started
  auto b = s.Submit(Greedy(Prompt(200, 2), 2), &e);    // 50 chunks of prefill
  ASSERT_TRUE(b);
  std::vector<uint64_t> a_steps;
  uint64_t b_start = 0, b_first = 0;
  while (b_first == 0 && b->Next(&ev, std::chrono::seconds(10))) {
    if (ev.kind == GenEvent::kStarted) b_start = ev.step;
    if (ev.kind == GenEvent::kToken) b_first = ev.step;
  }
  ASSERT_GT(b_first, b_start);
  EXPECT_GE(b_first - b_start, 49u);  // B's prompt took 50 steps...
  while (a->Next(&ev, std::chrono::seconds(10)) && ev.kind != GenEvent::kDone) {
    a_steps.push_back(ev.step);
    if (ev.step >= b_first) break;
  }
  a->Cancel();
  size_t during = 0;
  for (uint64_t st : a_steps) during += st > b_start && st < b_first;
  EXPECT_EQ(during, b_first - b_start - 1);  // ...and A produced a token at every one of them
}

}  // namespace
}  // namespace qs

namespace qs {
namespace {

TEST_F(SchedulerTest, PromptIsSharedWhileItsRequestRuns) {
  SchedulerOptions o;
  o.parallel = 2;
  o.ctx = 4096;
  o.threads = 1;
  Scheduler s(model_.get(), o);
  Scheduler::SubmitError e;
  auto p = Prompt(30, 4);
  auto a = s.Submit(Greedy(p, 3000), &e);
  GenEvent ev;
  do ASSERT_TRUE(a->Next(&ev, std::chrono::seconds(10)));
  while (ev.kind != GenEvent::kToken);  // A finished its prompt and is generating
  auto b = s.Submit(Greedy(p, 2), &e);
  Got g = Collect(*b);
  EXPECT_EQ(g.hit, 29);
  a->Cancel();
}

}  // namespace
}  // namespace qs

namespace qs {
namespace {

// A request the model refuses (a token id outside its vocabulary) ends with "error" while the
// request batched with it runs on unchanged.
TEST_F(SchedulerTest, ForwardErrorFailsOnlyItsRequest) {
  SchedulerOptions o;
  o.parallel = 2;
  o.ctx = 256;
  o.threads = 1;
  o.cache_bytes = 0;
  Scheduler s(model_.get(), o);
  Scheduler::SubmitError e;
  auto p = Prompt(10, 5);
  auto good = s.Submit(Greedy(p, 30), &e);
  ASSERT_TRUE(good);
  GenEvent ev;
  do ASSERT_TRUE(good->Next(&ev, std::chrono::seconds(10)));
  while (ev.kind != GenEvent::kToken);
  std::vector<int32_t> tokens = {ev.token};
  auto bad = s.Submit(Greedy({2, 3, 999, 4}, 5), &e);  // vocab is 300
  ASSERT_TRUE(bad);
  Got b = Collect(*bad);
  EXPECT_EQ(b.finish, "error");
  EXPECT_TRUE(b.tokens.empty());
  Got g = Collect(*good);
  tokens.insert(tokens.end(), g.tokens.begin(), g.tokens.end());
  EXPECT_EQ(tokens, Reference(p, 30));
  EXPECT_EQ(g.finish, "length");
}

// A request that cannot get a slot within max_queue_wait ends "overloaded" without running; a
// queued request whose consumer cancelled gives its queue place back at the next step.
TEST_F(SchedulerTest, QueueWaitLimitAndCancelledQueuedRequests) {
  SchedulerOptions o;
  o.parallel = 1;
  o.max_queue = 1;
  o.ctx = 4096;
  o.threads = 1;
  o.max_queue_wait = std::chrono::milliseconds(150);
  Scheduler s(model_.get(), o);
  Scheduler::SubmitError e;
  auto hog = s.Submit(Greedy(Prompt(4, 0), 4000), &e);
  ASSERT_TRUE(hog);
  GenEvent ev;
  ASSERT_TRUE(hog->Next(&ev, std::chrono::seconds(10)));  // started
  auto t0 = std::chrono::steady_clock::now();
  auto late = s.Submit(Greedy(Prompt(4, 1), 2), &e);
  ASSERT_TRUE(late);
  Got l = Collect(*late);
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(l.finish, "overloaded");
  EXPECT_EQ(l.hit, -1);  // never admitted
  EXPECT_GE(waited, 0.15);
  EXPECT_LT(waited, 5.0);
  EXPECT_EQ(s.Stats().queue_timeouts, 1u);
  // The queue holds one: a cancelled waiter frees its place for the next request.
  auto w = s.Submit(Greedy(Prompt(4, 2), 2), &e);
  ASSERT_TRUE(w);
  EXPECT_FALSE(s.Submit(Greedy(Prompt(4, 3), 2), &e));
  EXPECT_EQ(e, Scheduler::SubmitError::kQueueFull);
  w->Cancel();
  EXPECT_EQ(Collect(*w).finish, "cancelled");
  auto x = s.Submit(Greedy(Prompt(4, 3), 2), &e);
  hog->Cancel();
  ASSERT_TRUE(x);
  EXPECT_EQ(Collect(*x).tokens.size(), 2u);
}

}  // namespace
}  // namespace qs
