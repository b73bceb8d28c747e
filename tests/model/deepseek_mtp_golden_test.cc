// Multi-token prediction (DeepSeek-V3 report §2.2) against the goldens in
// ../shared/fixtures/deepseek-mtp-golden (float64 numpy, cross-checked with DeepSeek's official
// inference/model.py Block; semantics of vLLM deepseek_mtp.py / SGLang deepseek_nextn.py, see the
// fixture README): main and MTP logits at every position, prefill and incremental, the MTP layer's
// expert choices, and the recorded one-draft speculative trace replayed step by step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/thread_pool.h"
#include "model/model.h"
#include "testutil.h"

namespace qs {
namespace {

using test::FixturesDir;

// fp32 engine vs float64 reference: reference noise <= 1e-5 (README "Suggested tolerances"); every
// semantic mistake of the README's table moves the MTP logits by >= 2.5.
constexpr float kTol = 1e-4f;

std::string VariantDir(const std::string& v) { return FixturesDir() + "/deepseek-mtp-golden/" + v; }

float MaxAbsDiff(const float* a, const float* b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}
float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  return MaxAbsDiff(a.data(), b.data(), std::min(a.size(), b.size()));
}

int32_t Argmax(const float* x, int64_t n) { return static_cast<int32_t>(std::max_element(x, x + n) - x); }

class DeepSeekMtpGolden : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    QS_REQUIRE_FIXTURES();
    auto m = LoadModel(VariantDir(GetParam()) + "/checkpoint");
    ASSERT_TRUE(m.ok()) << m.status().message();
    model_ = std::move(m).value();
    golden_ = nlohmann::json::parse(test::ReadFileOrDie(VariantDir(GetParam()) + "/golden/golden.json"));
    ASSERT_EQ(model_->mtp_modules(), 1);
  }
  std::vector<float> File(const nlohmann::json& files, const char* key) {
    return test::ReadF32File(VariantDir(GetParam()) + "/golden/" + files[key].get<std::string>());
  }
  std::vector<int32_t> FileI(const nlohmann::json& files, const char* key) {
    return test::ReadI32File(VariantDir(GetParam()) + "/golden/" + files[key].get<std::string>());
  }

  // Main model over `tokens` (first `prefill` in one pass, the rest one at a time) and, interleaved
  // as a decoder would, MTP row i as soon as token i+1 is known (rows of a main pass in one MTP
  // call). Returns main logits [T, V], final hidden [T, D], MTP logits [T-1, V].
  void Run(const std::vector<int32_t>& tokens, int64_t prefill, std::vector<float>* logits,
           std::vector<float>* hidden, std::vector<float>* mtp_logits) {
    const int64_t T = static_cast<int64_t>(tokens.size()), V = model_->config().vocab_size,
                  D = model_->config().hidden_size;
    auto cache = model_->NewCache(T);
    auto mcache = model_->NewMtpCache(T);
    ASSERT_NE(mcache, nullptr);
    logits->assign(static_cast<size_t>(T * V), 0.f);
    hidden->assign(static_cast<size_t>(T * D), 0.f);
    mtp_logits->assign(static_cast<size_t>((T - 1) * V), 0.f);
    int64_t done = 0;
    while (done < T) {
      const int64_t n = done == 0 && prefill > 0 ? prefill : 1;
      ForwardTrace tr;
      tr.record_final_hidden = true;
      Status st = model_->Forward(&tokens[done], n, cache.get(), &(*logits)[done * V], &pool_, &tr);
      ASSERT_TRUE(st.ok()) << st.message();
      std::copy(tr.final_hidden.begin(), tr.final_hidden.end(), hidden->begin() + done * D);
      done += n;
      // MTP rows whose next token is now known: mcache->size() .. done-2.
      const int64_t r0 = mcache->size(), nr = done - 1 - r0;
      if (nr > 0) {
        st = model_->ForwardMtp(&(*hidden)[r0 * D], &tokens[r0 + 1], nr, mcache.get(), &(*mtp_logits)[r0 * V], &pool_);
        ASSERT_TRUE(st.ok()) << st.message();
      }
    }
  }

  ThreadPool pool_{2};
  std::unique_ptr<Model> model_;
  nlohmann::json golden_;
};

// Prefill of the whole case: main logits and final-norm hidden states, then every MTP row in one
// call: eh_proj output, MTP layer output, logits and experts.
TEST_P(DeepSeekMtpGolden, PrefillMatchesMainAndMtp) {
  const int64_t D = model_->config().hidden_size, kk = model_->config().num_experts_per_tok;
  for (const auto& c : golden_["cases"]) {
    const std::string name = GetParam() + "/" + c["name"].get<std::string>();
    const auto& f = c["files"];
    std::vector<int32_t> tokens = FileI(f, "tokens");
    const int64_t T = static_cast<int64_t>(tokens.size()), V = model_->config().vocab_size;
    auto cache = model_->NewCache(T);
    std::vector<float> logits(static_cast<size_t>(T * V));
    ForwardTrace tr;
    tr.record_final_hidden = true;
    ASSERT_TRUE(model_->Forward(tokens.data(), T, cache.get(), logits.data(), &pool_, &tr).ok());
    const float d_main = MaxAbsDiff(logits, File(f, "logits"));
    EXPECT_LE(d_main, kTol) << name << " main logits";
    EXPECT_LE(MaxAbsDiff(tr.final_hidden, File(f, "hidden_postnorm")), kTol) << name << " hidden_postnorm";

    auto mcache = model_->NewMtpCache(T);
    std::vector<float> mtp(static_cast<size_t>((T - 1) * V));
    ForwardTrace mt;
    mt.record_hidden = true;
    Status st = model_->ForwardMtp(tr.final_hidden.data(), &tokens[1], T - 1, mcache.get(), mtp.data(), &pool_, &mt);
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(mcache->size(), T - 1);
    const float d_mtp = MaxAbsDiff(mtp, File(f, "mtp_logits"));
    EXPECT_LE(d_mtp, kTol) << name << " MTP logits";
    const size_t R = static_cast<size_t>((T - 1) * D);
    ASSERT_EQ(mt.hidden.size(), 2 * R);
    auto in = File(f, "mtp_input"), hid = File(f, "mtp_hidden");
    EXPECT_LE(MaxAbsDiff(mt.hidden.data(), in.data(), R), kTol) << name << " eh_proj output";
    EXPECT_LE(MaxAbsDiff(mt.hidden.data() + R, hid.data(), R), kTol) << name << " MTP layer output";
    // The MTP layer is an MoE layer with its own router: same experts, same order, same weights.
    ASSERT_EQ(mt.moe_layers, std::vector<int>{static_cast<int>(model_->config().num_hidden_layers)});
    auto ex = FileI(f, "mtp_experts");
    auto ew = File(f, "mtp_expert_weights");
    ASSERT_EQ(mt.experts.size(), ex.size());
    for (size_t i = 0; i < ex.size(); ++i) {
      EXPECT_EQ(mt.experts[i], ex[i]) << name << " MTP row " << i / kk;
      EXPECT_NEAR(mt.expert_weights[i], ew[i], 1e-5) << name << " MTP row " << i / kk;
    }
    std::printf("[mtp] %s prefill: max |d main logit| %.3g, max |d MTP logit| %.3g\n", name.c_str(), d_main, d_mtp);
  }
}

// Token by token, and a half prefill followed by single tokens: the MTP cache grows one row per
// verified token, rows at their own positions (README points 4 and 5).
TEST_P(DeepSeekMtpGolden, IncrementalMatches) {
  for (const auto& c : golden_["cases"]) {
    const auto& f = c["files"];
    std::vector<int32_t> tokens = FileI(f, "tokens");
    const int64_t T = static_cast<int64_t>(tokens.size());
    for (int64_t prefill : {int64_t{0}, T / 2}) {
      const std::string name = GetParam() + "/" + c["name"].get<std::string>() + " prefill " + std::to_string(prefill);
      std::vector<float> logits, hidden, mtp;
      Run(tokens, prefill, &logits, &hidden, &mtp);
      const float d_main = MaxAbsDiff(logits, File(f, "logits"));
      const float d_mtp = MaxAbsDiff(mtp, File(f, "mtp_logits"));
      EXPECT_LE(d_main, kTol) << name << " main logits";
      EXPECT_LE(d_mtp, kTol) << name << " MTP logits";
      std::printf("[mtp] %s: max |d main logit| %.3g, max |d MTP logit| %.3g\n", name.c_str(), d_main, d_mtp);
    }
  }
}

// The recorded trace: main and MTP logits along the greedy sequence.
TEST_P(DeepSeekMtpGolden, TraceLogitsMatch) {
  const auto& tj = golden_["trace"];
  std::vector<int32_t> seq = FileI(tj["files"], "tokens");
  std::vector<int32_t> in(seq.begin(), seq.end() - 1);  // row i of the files predicts seq[i+1]
  std::vector<float> logits, hidden, mtp;
  Run(in, tj["n_prompt"].get<int64_t>(), &logits, &hidden, &mtp);
  const int64_t V = model_->config().vocab_size, D = model_->config().hidden_size;
  const int64_t T = static_cast<int64_t>(in.size());
  EXPECT_LE(MaxAbsDiff(logits, File(tj["files"], "logits")), kTol);
  EXPECT_LE(MaxAbsDiff(hidden, File(tj["files"], "hidden_postnorm")), kTol);
  // The trace's MTP rows run to T-1 (row T-1 uses seq[T]); ours stop at T-2: compare those.
  auto ref = File(tj["files"], "mtp_logits");
  EXPECT_LE(MaxAbsDiff(mtp.data(), ref.data(), static_cast<size_t>((T - 1) * V)), kTol);
  (void)D;
}

// A one-draft speculative decoder, step by step as recorded in spec_k1_schedule: verify
// [pending, draft] in one main pass, accept (2 new tokens) or reject (1, the cache rolled back),
// then draft from MTP row known-2. Emitted tokens must equal plain greedy decoding.
TEST_P(DeepSeekMtpGolden, SpeculativeTraceReplays) {
  const auto& tj = golden_["trace"];
  const int64_t V = model_->config().vocab_size, D = model_->config().hidden_size;
  std::vector<int32_t> known = tj["prompt"].get<std::vector<int32_t>>();
  const int64_t n_prompt = static_cast<int64_t>(known.size());
  const auto greedy = tj["main_greedy"].get<std::vector<int32_t>>();
  const int64_t max_len = n_prompt + static_cast<int64_t>(greedy.size()) + 2;
  auto cache = model_->NewCache(max_len);
  auto mcache = model_->NewMtpCache(max_len);
  std::vector<float> hidden;  // final hidden of every main position in the cache
  std::vector<float> logits(static_cast<size_t>(n_prompt * V));
  ForwardTrace tr;
  tr.record_final_hidden = true;
  ASSERT_TRUE(model_->Forward(known.data(), n_prompt, cache.get(), logits.data(), &pool_, &tr).ok());
  hidden = tr.final_hidden;
  known.push_back(Argmax(&logits[(n_prompt - 1) * V], V));  // the pending token
  std::vector<float> mlog;
  // MTP rows up to known-2 (each needs h_i, which exists for positions in the main cache).
  auto mtp_catch_up = [&]() {
    const int64_t r0 = mcache->size(), nr = static_cast<int64_t>(known.size()) - 1 - r0;
    mlog.assign(static_cast<size_t>(nr * V), 0.f);
    Status st = model_->ForwardMtp(&hidden[r0 * D], &known[r0 + 1], nr, mcache.get(), mlog.data(), &pool_);
    ASSERT_TRUE(st.ok()) << st.message();
  };
  mtp_catch_up();
  int steps = 0;
  for (const auto& s : tj["spec_k1_schedule"]) {
    const std::string at = GetParam() + " step " + std::to_string(steps++);
    const int64_t known_n = static_cast<int64_t>(known.size());
    ASSERT_EQ(mcache->size(), known_n - 1) << at;
    EXPECT_EQ(s["mtp_row"].get<int64_t>(), known_n - 2) << at;
    const int32_t draft = Argmax(&mlog[(static_cast<int64_t>(mlog.size()) / V - 1) * V], V);
    EXPECT_EQ(draft, s["draft"].get<int32_t>()) << at;
    const int32_t verify[2] = {known.back(), draft};
    const int64_t p = cache->size();
    EXPECT_EQ(p, s["main_positions"][0].get<int64_t>()) << at;
    std::vector<float> vl(static_cast<size_t>(2 * V));
    ASSERT_TRUE(model_->Forward(verify, 2, cache.get(), vl.data(), &pool_, &tr).ok());
    const int32_t target = Argmax(vl.data(), V);
    const bool accepted = target == draft;
    EXPECT_EQ(target, s["target"].get<int32_t>()) << at;
    EXPECT_EQ(accepted, s["accepted"].get<bool>()) << at;
    if (accepted) {
      hidden.insert(hidden.end(), tr.final_hidden.begin(), tr.final_hidden.end());
      known.push_back(draft);
      known.push_back(Argmax(&vl[V], V));  // the bonus token
    } else {
      cache->Truncate(p + 1);  // drop the rejected draft's row
      hidden.insert(hidden.end(), tr.final_hidden.begin(), tr.final_hidden.begin() + D);
      known.push_back(target);
    }
    EXPECT_EQ(static_cast<int64_t>(known.size()) - known_n, s["new_tokens"].get<int64_t>()) << at;
    mtp_catch_up();
  }
  // Greedy verification emits exactly the main model's greedy tokens (the last step may add one more).
  ASSERT_GE(known.size(), n_prompt + greedy.size());
  for (size_t i = 0; i < greedy.size(); ++i) EXPECT_EQ(known[n_prompt + i], greedy[i]) << GetParam() << " token " << i;
}

TEST_P(DeepSeekMtpGolden, InfoReportsTheModule) {
  ModelInfo info = model_->Info();
  EXPECT_EQ(info.mtp_modules, 1);
  EXPECT_EQ(info.mtp_loaded, 1);
  EXPECT_GT(info.n_params_mtp, 0u);
}

// V3.2's MTP layer is a sparse-attention layer (its indexer comes from the same make_layer). No
// golden records it; check that it loads, selects keys once the rows outnumber index_topk, and
// that prefill and row-by-row decoding agree (the indexer's aux rows live in the MTP cache).
TEST(DeepSeekMtpV32, SparseMtpLayerLoadsAndIsCausal) {
  QS_REQUIRE_FIXTURES();
  for (const char* v : {"v32-tiny", "v32-fp8-tiny"}) {
    auto m = LoadModel(FixturesDir() + "/deepseek-v32-golden/" + v + "/checkpoint");
    ASSERT_TRUE(m.ok()) << m.status().message();
    Model& model = **m;
    ASSERT_EQ(model.mtp_modules(), 1) << v;
    const int64_t V = model.config().vocab_size, D = model.config().hidden_size, T = 3 * model.config().index_topk;
    ASSERT_GT(T, 2);
    std::vector<int32_t> tokens(static_cast<size_t>(T));
    for (int64_t i = 0; i < T; ++i) tokens[i] = static_cast<int32_t>((i * 7919 + 13) % V);
    ThreadPool pool(2);
    auto cache = model.NewCache(T);
    ForwardTrace tr;
    tr.record_final_hidden = true;
    ASSERT_TRUE(model.Forward(tokens.data(), T, cache.get(), nullptr, &pool, &tr).ok());
    std::vector<float> all(static_cast<size_t>((T - 1) * V)), one(all.size());
    auto mc = model.NewMtpCache(T);
    ForwardTrace mt;
    ASSERT_TRUE(model.ForwardMtp(tr.final_hidden.data(), &tokens[1], T - 1, mc.get(), all.data(), &pool, &mt).ok());
    EXPECT_FALSE(mt.selected.empty()) << v << ": the MTP layer's indexer picked no keys";
    auto mc1 = model.NewMtpCache(T);
    for (int64_t i = 0; i + 1 < T; ++i)
      ASSERT_TRUE(model.ForwardMtp(&tr.final_hidden[i * D], &tokens[i + 1], 1, mc1.get(), &one[i * V], &pool).ok());
    EXPECT_LE(MaxAbsDiff(all, one), kTol) << v;
    for (float x : all) ASSERT_TRUE(std::isfinite(x)) << v;
    // last_only (the speculative drafter's call): the last row's logits alone, the same values.
    std::vector<float> last(static_cast<size_t>(V));
    auto mc2 = model.NewMtpCache(T);
    ASSERT_TRUE(model.ForwardMtp(tr.final_hidden.data(), &tokens[1], T - 1, mc2.get(), last.data(), &pool, nullptr,
                                 /*last_only=*/true).ok());
    EXPECT_LE(MaxAbsDiff(last.data(), &all[(T - 2) * V], static_cast<size_t>(V)), kTol) << v;
    EXPECT_EQ(mc2->size(), T - 1) << v;
  }
}

// A checkpoint without an MTP module (V2) still loads and says so; drafting is refused.
TEST(DeepSeekMtpAbsent, NoModuleNoDrafts) {
  QS_REQUIRE_FIXTURES();
  auto m = LoadModel(FixturesDir() + "/deepseek-golden/v2-tiny/checkpoint");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ((*m)->mtp_modules(), 0);
  EXPECT_EQ((*m)->NewMtpCache(8), nullptr);
  EXPECT_EQ((*m)->Info().mtp_loaded, 0);
  std::vector<float> h(static_cast<size_t>((*m)->config().hidden_size)), logits(static_cast<size_t>((*m)->config().vocab_size));
  const int32_t tok = 1;
  EXPECT_FALSE((*m)->ForwardMtp(h.data(), &tok, 1, nullptr, logits.data(), nullptr).ok());
}

INSTANTIATE_TEST_SUITE_P(Variants, DeepSeekMtpGolden, ::testing::Values("v3-mtp-tiny", "v3-mtp-fp8-tiny"));

}  // namespace
}  // namespace qs
