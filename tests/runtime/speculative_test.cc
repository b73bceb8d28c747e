// Speculative decoding (runtime/speculative.h) through the continuous-batching scheduler:
//  * greedy output is token-for-token the output of plain decoding, for many prompts, with the
//    MTP module (the fixture deepseek-mtp-golden's v3-mtp-tiny, whose eh_proj was fitted so that
//    drafts are often right) and with a draft model (the same checkpoint: every draft right; a
//    different random model: nearly every draft wrong), k = 1..4, prompts that cross prefill chunk
//    boundaries, several concurrent slots, prefix-cache hits, stop tokens and length limits;
//  * the sampling rule (accept with min(1, p/q), else draw from the residual) reproduces the
//    target distribution: chi-square over a small vocabulary, fixed seeds;
//  * a draft model with another vocabulary is refused with a clear error.
#include "runtime/speculative.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "base/thread_pool.h"
#include "convert/synth.h"
#include "runtime/prefix_cache.h"
#include "runtime/scheduler.h"
#include "testutil.h"

namespace qs {
namespace {

std::string MtpTiny() { return test::FixturesDir() + "/deepseek-mtp-golden/v3-mtp-tiny/checkpoint"; }

GenRequest Greedy(const std::vector<int32_t>& prompt, int64_t n) {
  GenRequest r;
  r.prompt = prompt;
  r.sampling.temperature = 0;
  r.max_tokens = n;
  return r;
}

struct Got {
  std::vector<int32_t> tokens;
  std::string finish;
  int64_t hit = -1;
  uint64_t drafted = 0, accepted = 0;
};

Got Collect(RequestHandle& h) {
  Got g;
  for (;;) {
    GenEvent ev;
    if (!h.Next(&ev, std::chrono::seconds(60))) {
      ADD_FAILURE() << "timeout";
      return g;
    }
    if (ev.kind == GenEvent::kStarted) g.hit = ev.cache_hit_tokens;
    if (ev.kind == GenEvent::kToken) g.tokens.push_back(ev.token);
    if (ev.kind == GenEvent::kDone) {
      g.finish = ev.finish_reason;
      g.drafted = ev.drafted;
      g.accepted = ev.accepted;
      return g;
    }
  }
}

// Submits every request at once (more than the slots: some wait) and collects them in order.
std::vector<Got> RunAll(Scheduler& s, const std::vector<GenRequest>& reqs) {
  std::vector<std::shared_ptr<RequestHandle>> hs;
  for (const GenRequest& r : reqs) {
    Scheduler::SubmitError e;
    hs.push_back(s.Submit(r, &e));
    EXPECT_TRUE(hs.back()) << static_cast<int>(e);
  }
  std::vector<Got> out;
  for (auto& h : hs) out.push_back(h ? Collect(*h) : Got{});
  return out;
}

// Prompts of 1..40 tokens over the vocabulary [2, vocab), the fixture trace's prompt first.
std::vector<std::vector<int32_t>> Prompts(int64_t vocab, const std::vector<int32_t>& first) {
  std::vector<std::vector<int32_t>> ps;
  if (!first.empty()) ps.push_back(first);
  uint64_t x = 12345;
  for (int i = 0; i < 14; ++i) {
    std::vector<int32_t> p;
    const int n = 1 + (i * 7) % 40;
    for (int t = 0; t < n; ++t) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      p.push_back(static_cast<int32_t>(2 + (x >> 33) % static_cast<uint64_t>(vocab - 2)));
    }
    ps.push_back(p);
  }
  return ps;
}

SchedulerOptions Opts(int parallel, int64_t chunk, int spec) {
  SchedulerOptions o;
  o.parallel = parallel;
  o.ctx = 256;
  o.chunk = chunk;
  o.threads = 1;
  o.spec_tokens = spec;
  return o;
}

class SpecMtp : public ::testing::Test {
 protected:
  void SetUp() override {
    QS_REQUIRE_FIXTURES();
    auto m = LoadModel(MtpTiny());
    ASSERT_TRUE(m.ok()) << m.status().message();
    model_ = std::move(*m);
    auto j = nlohmann::json::parse(
        test::ReadFileOrDie(test::FixturesDir() + "/deepseek-mtp-golden/v3-mtp-tiny/golden/golden.json"));
    trace_prompt_ = j["trace"]["prompt"].get<std::vector<int32_t>>();
  }
  std::unique_ptr<Model> model_;
  std::vector<int32_t> trace_prompt_;
};

TEST_F(SpecMtp, GreedyIdenticalToPlainDecoding) {
  auto prompts = Prompts(model_->config().vocab_size, trace_prompt_);
  std::vector<GenRequest> reqs;
  for (const auto& p : prompts) reqs.push_back(Greedy(p, 24));
  std::vector<Got> ref;
  {
    Scheduler plain(model_.get(), Opts(3, 5, 0));
    ref = RunAll(plain, reqs);
  }
  auto drafter = Drafter::Mtp(model_.get());
  ASSERT_TRUE(drafter.ok()) << drafter.status().message();
  for (int k = 1; k <= 4; ++k) {
    Scheduler spec(model_.get(), Opts(3, 5, k), nullptr, drafter->get());
    auto got = RunAll(spec, reqs);
    for (size_t i = 0; i < reqs.size(); ++i) {
      EXPECT_EQ(got[i].tokens, ref[i].tokens) << "k=" << k << " prompt " << i;
      EXPECT_EQ(got[i].finish, ref[i].finish) << "k=" << k << " prompt " << i;
    }
    // The same prompts again hit the prefix cache (MTP rows restored beside the main rows).
    auto again = RunAll(spec, reqs);
    int64_t hits = 0;
    for (size_t i = 0; i < reqs.size(); ++i) {
      EXPECT_EQ(again[i].tokens, ref[i].tokens) << "k=" << k << " cached prompt " << i;
      hits += again[i].hit;
    }
    EXPECT_GT(hits, 0) << "k=" << k;
    SchedulerStats st = spec.Stats();
    EXPECT_GT(st.drafted_tokens, 0u);
    EXPECT_GT(st.accepted_tokens, 0u) << "k=" << k;  // the fitted eh_proj makes some drafts right
    EXPECT_LE(st.accepted_tokens, st.drafted_tokens);
    // The trace prompt: about 65% of one-step drafts are right (fixture README).
    if (k == 1) {
      EXPECT_GT(got[0].accepted * 3, got[0].drafted) << got[0].accepted << "/" << got[0].drafted;
    }
  }
}

// A prompt shared with a request still generating hits the prefix cache (the MTP rows of the
// prompt are stored with the main rows when the prompt is done), one token short of the plain hit.
TEST_F(SpecMtp, PrefixHitWhileTheFirstRequestGenerates) {
  auto drafter = Drafter::Mtp(model_.get());
  ASSERT_TRUE(drafter.ok());
  auto p = Prompts(model_->config().vocab_size, {})[5];  // 36 tokens
  ASSERT_GE(p.size(), 30u);
  auto q = p;
  q.push_back(7);
  std::vector<int32_t> ref;
  {
    Scheduler plain(model_.get(), Opts(2, 8, 0));
    ref = RunAll(plain, {Greedy(q, 10)})[0].tokens;
  }
  Scheduler s(model_.get(), Opts(2, 8, 2), nullptr, drafter->get());
  Scheduler::SubmitError e;
  auto a = s.Submit(Greedy(p, 40), &e);
  ASSERT_TRUE(a);
  GenEvent ev;
  do {
    ASSERT_TRUE(a->Next(&ev, std::chrono::seconds(30)));
  } while (ev.kind != GenEvent::kToken);  // a's prompt is done and stored
  auto b = s.Submit(Greedy(q, 10), &e);
  ASSERT_TRUE(b);
  Got gb = Collect(*b);
  EXPECT_EQ(gb.hit, static_cast<int64_t>(p.size()) - 1);  // MTP row p.size()-1 needs q's next token
  EXPECT_EQ(gb.tokens, ref);
  EXPECT_GT(gb.drafted, 0u);
  Collect(*a);
}

TEST_F(SpecMtp, StopTokensAndLengthLimits) {
  auto prompts = Prompts(model_->config().vocab_size, trace_prompt_);
  auto drafter = Drafter::Mtp(model_.get());
  ASSERT_TRUE(drafter.ok());
  std::vector<GenRequest> reqs;
  for (size_t i = 0; i < 6; ++i) reqs.push_back(Greedy(prompts[i], 20));
  std::vector<Got> ref;
  {
    Scheduler plain(model_.get(), Opts(2, 4, 0));
    ref = RunAll(plain, reqs);
  }
  // Stop at the token generated 7th (and at odd max_tokens), wherever it falls in a draft run.
  std::vector<GenRequest> stop = reqs;
  for (size_t i = 0; i < stop.size(); ++i) {
    ASSERT_GE(ref[i].tokens.size(), 8u);
    stop[i].stop_ids = {ref[i].tokens[6]};
    stop[i].max_tokens = 5 + static_cast<int64_t>(i) * 3;
  }
  std::vector<Got> plain_stop;
  {
    Scheduler plain(model_.get(), Opts(2, 4, 0));
    plain_stop = RunAll(plain, stop);
  }
  for (int k : {1, 3}) {
    Scheduler spec(model_.get(), Opts(2, 4, k), nullptr, drafter->get());
    auto got = RunAll(spec, stop);
    for (size_t i = 0; i < stop.size(); ++i) {
      EXPECT_EQ(got[i].tokens, plain_stop[i].tokens) << "k=" << k << " " << i;
      EXPECT_EQ(got[i].finish, plain_stop[i].finish) << "k=" << k << " " << i;
    }
  }
}

// The fixture's one-draft trace (spec_k1_schedule: which drafts the main model accepts, step by
// step) through the scheduler, for both visible variants: the same tokens, drafts and accepts.
TEST(SpecMtpTrace, SchedulerFollowsTheGoldenSchedule) {
  QS_REQUIRE_FIXTURES();
  for (const char* v : {"v3-mtp-tiny", "v3-mtp-fp8-tiny"}) {
    const std::string dir = test::FixturesDir() + "/deepseek-mtp-golden/" + v;
    auto m = LoadModel(dir + "/checkpoint");
    ASSERT_TRUE(m.ok()) << m.status().message();
    auto tj = nlohmann::json::parse(test::ReadFileOrDie(dir + "/golden/golden.json"))["trace"];
    const auto greedy = tj["main_greedy"].get<std::vector<int32_t>>();
    uint64_t steps = 0, accepted = 0;
    for (const auto& st : tj["spec_k1_schedule"]) steps++, accepted += st["accepted"].get<bool>();
    auto drafter = Drafter::Mtp(m->get());
    ASSERT_TRUE(drafter.ok());
    Scheduler s(m->get(), Opts(1, 3, 1), nullptr, drafter->get());
    // One token more than the trace, so that its last step still drafts (k <= tokens left - 1).
    auto got = RunAll(s, {Greedy(tj["prompt"].get<std::vector<int32_t>>(), static_cast<int64_t>(greedy.size()) + 1)});
    ASSERT_GE(got[0].tokens.size(), greedy.size());
    EXPECT_EQ(std::vector<int32_t>(got[0].tokens.begin(), got[0].tokens.begin() + static_cast<long>(greedy.size())), greedy) << v;
    EXPECT_EQ(got[0].drafted, steps) << v;
    EXPECT_EQ(got[0].accepted, accepted) << v;
  }
}

// A small random model written by synth, for the draft-model tests.
class SpecDraftModel : public ::testing::Test {
 protected:
  static std::string Synth(const std::string& tag, int seed, int vocab) {
    std::string dir = test::TempDir(tag);
    std::ofstream(dir + "/config.json") << R"({"architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
      "vocab_size": )" << vocab << R"(, "hidden_size": 32, "intermediate_size": 64, "moe_intermediate_size": 16,
      "num_hidden_layers": 2, "first_k_dense_replace": 1, "n_routed_experts": 4, "num_experts_per_tok": 2,
      "n_shared_experts": 1, "n_group": 2, "topk_group": 1, "topk_method": "noaux_tc", "scoring_func": "sigmoid",
      "norm_topk_prob": true, "routed_scaling_factor": 2.5, "kv_lora_rank": 16, "q_lora_rank": 24,
      "qk_nope_head_dim": 8, "qk_rope_head_dim": 8, "v_head_dim": 8, "num_attention_heads": 2,
      "num_key_value_heads": 2, "max_position_embeddings": 512, "rms_norm_eps": 1e-6, "rope_theta": 10000,
      "bos_token_id": 0, "eos_token_id": 1, "tie_word_embeddings": false, "moe_layer_freq": 1,
      "num_nextn_predict_layers": 0, "hidden_act": "silu"})";
    SynthOptions so;
    so.config_path = dir + "/config.json";
    so.dtype = "f32";
    so.seed = static_cast<uint64_t>(seed);
    so.out_dir = dir + "/m";
    Status st = SynthesizeCheckpoint(so);
    EXPECT_TRUE(st.ok()) << st.message();
    return dir + "/m";
  }
  static std::unique_ptr<Model> Load(const std::string& path) {
    auto m = LoadModel(path);
    EXPECT_TRUE(m.ok()) << m.status().message();
    return m.ok() ? std::move(*m) : nullptr;
  }
};

TEST_F(SpecDraftModel, GreedyIdenticalWithRightAndWrongDrafts) {
  const std::string a = Synth("spec_a", 3, 300), b = Synth("spec_b", 4, 300);
  auto main = Load(a), same = Load(a), other = Load(b);
  ASSERT_TRUE(main && same && other);
  auto prompts = Prompts(300, {});
  std::vector<GenRequest> reqs;
  for (const auto& p : prompts) reqs.push_back(Greedy(p, 16));
  std::vector<Got> ref;
  {
    Scheduler plain(main.get(), Opts(3, 6, 0));
    ref = RunAll(plain, reqs);
  }
  for (Model* draft : {same.get(), other.get()}) {
    auto drafter = Drafter::DraftModel(main.get(), draft);
    ASSERT_TRUE(drafter.ok()) << drafter.status().message();
    for (int k : {1, 4}) {
      Scheduler spec(main.get(), Opts(3, 6, k), nullptr, drafter->get());
      auto got = RunAll(spec, reqs);
      for (size_t i = 0; i < reqs.size(); ++i) EXPECT_EQ(got[i].tokens, ref[i].tokens) << "k=" << k << " " << i;
      SchedulerStats st = spec.Stats();
      EXPECT_GT(st.drafted_tokens, 0u);
      if (draft == same.get()) {
        // The main model drafting for itself: every draft is its own greedy choice.
        EXPECT_EQ(st.accepted_tokens, st.drafted_tokens) << "k=" << k;
        // k + 1 tokens per verification: far fewer steps than tokens.
        EXPECT_LT(st.spec_steps * 2, st.completion_tokens) << "k=" << k;
      }
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(std::filesystem::path(a).parent_path(), ec);
  std::filesystem::remove_all(std::filesystem::path(b).parent_path(), ec);
}

// Sampled requests end to end: the joint distribution of the 2nd and 3rd generated tokens (drawn
// by the acceptance rule or from the residual, then the bonus row) matches plain sampling's.
// Temperature 0.7 and top-k 3 keep it on a few cells (27 here); 600 seeded requests each way;
// two-sample chi-square against its 99.9% quantile (measured 9.3 against 54.2; accepting every
// draft instead of the rule gives 465). Deterministic (seeds).
TEST_F(SpecDraftModel, SampledTokensFollowPlainSampling) {
  const std::string a = Synth("spec_s", 5, 300);
  auto main = Load(a), same = Load(a);
  ASSERT_TRUE(main && same);
  auto drafter = Drafter::DraftModel(main.get(), same.get());
  ASSERT_TRUE(drafter.ok());
  const int N = 600;
  auto run = [&](int k) {
    std::vector<GenRequest> reqs;
    for (int i = 0; i < N; ++i) {
      GenRequest r = Greedy({0, 17, 42, 99}, 3);
      r.sampling.temperature = 0.7f;
      r.sampling.top_k = 3;
      r.sampling.has_seed = true;
      r.sampling.seed = static_cast<uint64_t>(1000 + i);
      reqs.push_back(r);
    }
    SchedulerOptions o = Opts(4, 8, k);
    o.max_queue = N;
    Scheduler s(main.get(), o, nullptr, k > 0 ? drafter->get() : nullptr);
    std::map<std::pair<int32_t, int32_t>, int> joint;
    for (const Got& g : RunAll(s, reqs)) {
      EXPECT_EQ(g.tokens.size(), 3u);
      if (g.tokens.size() == 3) joint[{g.tokens[1], g.tokens[2]}]++;
    }
    if (k > 0) {
      EXPECT_GT(s.Stats().accepted_tokens, 0u);
    }
    return joint;
  };
  auto plain = run(0), spec = run(2);
  std::map<std::pair<int32_t, int32_t>, std::pair<int, int>> cells;
  for (auto& [c, n] : plain) cells[c].first = n;
  for (auto& [c, n] : spec) cells[c].second = n;
  EXPECT_LE(cells.size(), 27u);
  double chi2 = 0;
  for (auto& [c, n] : cells) {
    const double tot = n.first + n.second;
    const double e = tot / 2;  // equal sample sizes
    chi2 += (n.first - e) * (n.first - e) / e + (n.second - e) * (n.second - e) / e;
  }
  const double df = static_cast<double>(cells.size()) - 1;
  // 99.9% quantile of chi2(df), Wilson-Hilferty.
  const double z = 3.09, q = df * std::pow(1 - 2 / (9 * df) + z * std::sqrt(2 / (9 * df)), 3);
  EXPECT_LT(chi2, q) << cells.size() << " cells";
  std::error_code ec;
  std::filesystem::remove_all(std::filesystem::path(a).parent_path(), ec);
}

TEST_F(SpecDraftModel, OtherVocabularyIsRefused) {
  const std::string a = Synth("spec_v1", 3, 300), b = Synth("spec_v2", 3, 4000);
  auto main = Load(a), draft = Load(b);
  ASSERT_TRUE(main && draft);
  auto d = Drafter::DraftModel(main.get(), draft.get());
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("vocabulary"), std::string::npos) << d.status().message();
  auto mtp = Drafter::Mtp(main.get());
  ASSERT_FALSE(mtp.ok());
  EXPECT_NE(mtp.status().message().find("multi-token-prediction"), std::string::npos);
}

// Speculative sampling keeps the target distribution: for a target p (temperature, top-k, top-p
// applied by the sampler) and a one-hot draft on each token in turn (likely, unlikely, outside
// the support), the tokens VerifyDraft returns follow p. Pearson chi-square with N = 200,000 and
// fixed seeds (deterministic); the 99.9% quantile of chi2 with <= 7 degrees of freedom is 24.3.
TEST(SpecSampling, AcceptanceRuleKeepsTheTargetDistribution) {
  const std::vector<float> logits = {2.0f, 1.2f, 0.3f, -0.5f, 1.9f, -3.0f, 0.0f, 0.8f};
  const int64_t V = static_cast<int64_t>(logits.size());
  struct Case {
    float temperature, top_p;
    int top_k;
  };
  for (const Case& c : {Case{1.0f, 1.0f, 0}, Case{0.7f, 1.0f, 5}, Case{1.3f, 0.9f, 0}}) {
    SamplingParams sp;
    sp.temperature = c.temperature;
    sp.top_k = c.top_k;
    sp.top_p = c.top_p;
    sp.has_seed = true;
    sp.seed = 7;
    Sampler s(sp);
    TokenDist p;
    s.Distribution(logits.data(), V, nullptr, &p);
    ASSERT_FALSE(p.empty());
    for (int32_t draft = 0; draft < V; ++draft) {
      const int N = 200000;
      std::vector<int> count(static_cast<size_t>(V), 0);
      int accepted = 0;
      for (int i = 0; i < N; ++i) {
        DraftVerdict v = VerifyDraft(&s, p, draft);
        ASSERT_GE(v.token, 0);
        count[static_cast<size_t>(v.token)]++;
        accepted += v.accepted;
      }
      double chi2 = 0;
      for (int32_t t = 0; t < V; ++t) {
        const double e = N * p.Prob(t);
        if (e == 0) {
          EXPECT_EQ(count[static_cast<size_t>(t)], 0) << "token " << t << " outside the support was returned";
          continue;
        }
        chi2 += (count[static_cast<size_t>(t)] - e) * (count[static_cast<size_t>(t)] - e) / e;
      }
      EXPECT_LT(chi2, 24.3) << "T=" << c.temperature << " top_k=" << c.top_k << " top_p=" << c.top_p
                            << " draft " << draft;
      // The acceptance rate itself is p(draft) (q one-hot): within 5 sigma.
      const double pd = p.Prob(draft), sd = std::sqrt(pd * (1 - pd) / N);
      EXPECT_NEAR(static_cast<double>(accepted) / N, pd, 5 * sd + 1e-9) << "draft " << draft;
    }
  }
}

// Two drafts in a row, as the scheduler verifies them: the pair of tokens emitted (first row's
// token, then — only when the first draft was kept — the second row's) has the target's joint
// distribution p1(x) p2(y | x). Here p2 depends on x, as a model's next-token distribution does.
TEST(SpecSampling, TwoDraftChainKeepsTheJointDistribution) {
  const int64_t V = 4;
  SamplingParams sp;
  sp.has_seed = true;
  sp.seed = 11;
  Sampler s(sp);
  auto dist = [&](int32_t prev) {
    std::vector<float> l(static_cast<size_t>(V));
    for (int64_t i = 0; i < V; ++i) l[static_cast<size_t>(i)] = std::sin(1.7f * static_cast<float>(i + 1) * static_cast<float>(prev + 2));
    TokenDist d;
    s.Distribution(l.data(), V, nullptr, &d);
    return d;
  };
  const TokenDist p1 = dist(-1);
  const int32_t d1 = 2, d2 = 0;  // fixed greedy drafts
  const int N = 200000;
  std::map<std::pair<int32_t, int32_t>, int> count;
  for (int i = 0; i < N; ++i) {
    DraftVerdict v1 = VerifyDraft(&s, p1, d1);
    const TokenDist p2 = dist(v1.token);
    // After a rejection the next row's token is a fresh draw (the next step starts there).
    int32_t y = v1.accepted ? VerifyDraft(&s, p2, d2).token : s.Draw(p2);
    count[{v1.token, y}]++;
  }
  double chi2 = 0;
  for (int32_t x = 0; x < V; ++x) {
    const TokenDist p2 = dist(x);
    for (int32_t y = 0; y < V; ++y) {
      const double e = N * p1.Prob(x) * p2.Prob(y);
      const double o = count[{x, y}];
      chi2 += (o - e) * (o - e) / e;
    }
  }
  EXPECT_LT(chi2, 37.7);  // 99.9% quantile of chi2 with 15 degrees of freedom
}

TEST(SpecPrefixCache, AuxRowsTravelWithTheEntry) {
  KvCache main(2, 4, 0, 64), aux(1, 3, 0, 64);
  ASSERT_TRUE(main.Reserve(10).ok());
  ASSERT_TRUE(aux.Reserve(10).ok());
  main.set_size(10);
  aux.set_size(9);
  for (int p = 0; p < 9; ++p) aux.k(0, p)[0] = static_cast<float>(p);
  PrefixCache pc(1 << 20);
  std::vector<int32_t> toks = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  pc.Insert(toks, main, 0, &aux);
  KvCache dst(2, 4, 0, 64), adst(1, 3, 0, 64);
  int64_t rows = -1;
  std::vector<int32_t> q = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  EXPECT_EQ(pc.Lookup(q, 10, &dst, 0, &adst, &rows), 10);
  EXPECT_EQ(rows, 9);
  EXPECT_EQ(adst.size(), 9);
  EXPECT_EQ(adst.k(0, 8)[0], 8.0f);
  std::vector<int32_t> r = {1, 2, 3, 9};
  EXPECT_EQ(pc.Lookup(r, 3, &dst, 0, &adst, &rows), 3);
  EXPECT_EQ(rows, 3);
}

TEST(SpecMath, ExpectedTokensPerStep) {
  EXPECT_DOUBLE_EQ(ExpectedTokensPerStep(0.0, 3), 1.0);
  EXPECT_DOUBLE_EQ(ExpectedTokensPerStep(1.0, 3), 4.0);
  EXPECT_NEAR(ExpectedTokensPerStep(0.85, 1), 1.85, 1e-12);
  EXPECT_NEAR(ExpectedTokensPerStep(0.8, 2), 1 + 0.8 + 0.64, 1e-12);
}

}  // namespace
}  // namespace qs
