// Conformance of the dense architectures (Qwen2 / Llama) and of GGUF loading against
// ../shared/fixtures/dense-golden: Hugging Face-semantics logits (float64 reference) from the HF
// checkpoints and every GGUF file llama.cpp wrote for them, plus llama.cpp's own logits for the
// quantized files, plus the DeepSeek v2lite-tiny golden converted to a llama.cpp deepseek2 GGUF.
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

std::string Dense(const std::string& rel) { return FixturesDir() + "/dense-golden/" + rel; }

struct Stats {
  float max_abs = 0;
  double kl_mean = 0, kl_max = 0;
  double top1 = 0;  // fraction of positions whose argmax agrees
};

// KL(ref || ours) of the softmax distributions, per row; max |diff|; argmax agreement.
Stats Compare(const std::vector<float>& ours, const std::vector<float>& ref, int64_t V) {
  Stats s;
  const int64_t T = static_cast<int64_t>(ref.size()) / V;
  EXPECT_EQ(ours.size(), ref.size());
  if (ours.size() != ref.size() || T == 0) return s;
  int64_t agree = 0;
  for (int64_t t = 0; t < T; ++t) {
    const float* a = &ours[t * V];
    const float* b = &ref[t * V];
    double ma = a[0], mb = b[0];
    int64_t ia = 0, ib = 0;
    for (int64_t i = 0; i < V; ++i) {
      s.max_abs = std::max(s.max_abs, std::fabs(a[i] - b[i]));
      if (a[i] > ma) ma = a[i], ia = i;
      if (b[i] > mb) mb = b[i], ib = i;
    }
    agree += ia == ib;
    double za = 0, zb = 0;
    for (int64_t i = 0; i < V; ++i) za += std::exp(a[i] - ma), zb += std::exp(b[i] - mb);
    double kl = 0;
    for (int64_t i = 0; i < V; ++i) {
      const double lb = b[i] - mb - std::log(zb), la = a[i] - ma - std::log(za);
      kl += std::exp(lb) * (lb - la);
    }
    s.kl_mean += kl / static_cast<double>(T);
    s.kl_max = std::max(s.kl_max, kl);
  }
  s.top1 = static_cast<double>(agree) / static_cast<double>(T);
  return s;
}

std::vector<float> RunModel(Model& m, const std::vector<int32_t>& tokens, bool token_by_token, ThreadPool* pool) {
  const int64_t T = static_cast<int64_t>(tokens.size()), V = m.config().vocab_size;
  auto cache = m.NewCache(T);
  std::vector<float> logits(static_cast<size_t>(T * V));
  if (!token_by_token) {
    Status st = m.Forward(tokens.data(), T, cache.get(), logits.data(), pool);
    EXPECT_TRUE(st.ok()) << st.message();
  } else {
    for (int64_t t = 0; t < T; ++t) {
      Status st = m.Forward(tokens.data() + t, 1, cache.get(), &logits[t * V], pool);
      EXPECT_TRUE(st.ok()) << st.message();
    }
  }
  return logits;
}

const char* kVariants[] = {"qwen2-tiny", "llama-tiny", "llama3rope-tiny", "llama-tied-tiny"};

// Every variant x source: "checkpoint" (HF dir) or a GGUF type.
struct Param {
  std::string variant, source;
};
std::vector<Param> AllParams() {
  std::vector<Param> p;
  for (const char* v : kVariants)
    for (const char* s : {"checkpoint", "F32", "F16", "Q8_0", "Q4_0"}) p.push_back({v, s});
  return p;
}

class DenseGolden : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    QS_REQUIRE_FIXTURES();
    const Param& p = GetParam();
    path_ = p.source == "checkpoint" ? Dense(p.variant + "/checkpoint")
                                     : Dense(p.variant + "/gguf/" + p.variant + "-" + p.source + ".gguf");
    auto m = LoadModel(path_);
    ASSERT_TRUE(m.ok()) << m.status().message();
    model_ = std::move(m).value();
    golden_ = nlohmann::json::parse(test::ReadFileOrDie(Dense(p.variant + "/golden/golden.json")));
  }
  std::string path_;
  std::unique_ptr<Model> model_;
  nlohmann::json golden_;
  ThreadPool pool_{2};
};

// fp32 engine from the checkpoint or F32 GGUF: the reference noise is <= 6e-6 (README); 1e-4 is
// the bar and still catches llama3 scaling (0.045) and eps mix-ups (>= 5.6e-5 only for qwen2's
// 1e-5/1e-6 swap, which the F32 GGUF case would expose as a 5e-5 shift: the observed figures
// printed below are ~1e-5). F16 weights: rounding to 11 significant bits moves logits by up to
// ~1e-2 (llama.cpp: 8.8e-3), so 1e-2 as the README suggests.
// Q8_0/Q4_0: compared with llama.cpp's logits for the same file. Both engines quantize the
// activations to Q8_0 blocks (bit-exact with ggml's quantize_row_q8_0) before integer dot
// products, so they differ only by summation order and tile shapes; and against the golden we
// must be at least as close as llama.cpp (mean KL over all positions within 5%, top-1 agreement
// within 0.03 — near-ties of these tiny random models flip either way).
TEST_P(DenseGolden, PrefillAndDecodeMatch) {
  const Param& p = GetParam();
  const int64_t V = model_->config().vocab_size;
  // Quantized files: aggregated over every position of every case (the tiny random models have
  // near-ties where either engine's rounding flips the argmax).
  double kl_ours = 0, kl_lc = 0, top1_ours = 0, top1_lc = 0, positions = 0;
  for (const auto& c : golden_["cases"]) {
    const std::string name = c["name"].get<std::string>();
    auto tokens = test::ReadI32File(Dense(p.variant + "/golden/" + c["files"]["tokens"].get<std::string>()));
    auto ref = test::ReadF32File(Dense(p.variant + "/golden/" + c["files"]["logits"].get<std::string>()));
    auto ours = RunModel(*model_, tokens, false, &pool_);
    Stats g = Compare(ours, ref, V);
    std::string line = p.variant + " " + p.source + " " + name;
    char buf[256];
    std::snprintf(buf, sizeof buf, " vs golden: max|d| %.3g  KL mean %.3g  top1 %.3f", g.max_abs, g.kl_mean, g.top1);
    line += buf;
    if (p.source == "checkpoint" || p.source == "F32") {
      EXPECT_LE(g.max_abs, 1e-4f) << line;
      auto dec = RunModel(*model_, tokens, true, &pool_);
      Stats d = Compare(dec, ref, V);
      EXPECT_LE(d.max_abs, 1e-4f) << line << " (token by token)";
      std::snprintf(buf, sizeof buf, "  decode max|d| %.3g", d.max_abs);
      line += buf;
    } else if (p.source == "F16") {
      EXPECT_LE(g.max_abs, 1e-2f) << line;
    } else {
      auto lc = test::ReadF32File(Dense(p.variant + "/llamacpp/" + p.source + "." + name + ".logits.f32"));
      Stats l = Compare(ours, lc, V);
      Stats lg = Compare(lc, ref, V);  // llama.cpp vs golden, for the same file
      std::snprintf(buf, sizeof buf, " | vs llama.cpp: max|d| %.3g KL %.3g | llama.cpp vs golden: KL %.3g top1 %.3f",
                    l.max_abs, l.kl_mean, lg.kl_mean, lg.top1);
      line += buf;
      const double T = static_cast<double>(tokens.size());
      kl_ours += g.kl_mean * T, kl_lc += lg.kl_mean * T;
      top1_ours += g.top1 * T, top1_lc += lg.top1 * T, positions += T;
      // The two engines differ by llama.cpp's activation rounding (it is itself up to 0.26 from
      // the golden on Q8_0 files, README); a misread block format (scale, nibble order) moves
      // logits by O(1), which these bounds catch.
      EXPECT_LE(l.max_abs, p.source == "Q8_0" ? 0.3f : 0.5f) << line;
    }
    std::printf("[dense-golden] %s\n", line.c_str());
  }
  if (positions > 0) {
    kl_ours /= positions, kl_lc /= positions, top1_ours /= positions, top1_lc /= positions;
    std::printf("[dense-golden] %s %s all positions: mean KL vs golden %.4g (llama.cpp %.4g), top-1 %.3f (llama.cpp %.3f)\n",
                p.variant.c_str(), p.source.c_str(), kl_ours, kl_lc, top1_ours, top1_lc);
    EXPECT_LE(kl_ours, kl_lc * 1.05) << "mean KL vs golden must not exceed llama.cpp's on the same file";
    EXPECT_GE(top1_ours, top1_lc - 0.03) << "top-1 agreement with the golden vs llama.cpp's";
  }
}

INSTANTIATE_TEST_SUITE_P(All, DenseGolden, ::testing::ValuesIn(AllParams()),
                         [](const ::testing::TestParamInfo<Param>& i) {
                           std::string s = i.param.variant + "_" + i.param.source;
                           for (char& ch : s)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return s;
                         });

// DeepSeek v2lite-tiny (MLA, YaRN, softmax routing, shared experts) as a llama.cpp deepseek2 GGUF
// (combined attn_kv_b, stacked experts): must match DeepSeek's official golden like the HF
// checkpoint does. llama.cpp itself cannot load this 3-layer file (it infers "no q LoRA" from the
// layer count); we read attention.q_lora_rank's absence instead.
TEST(DeepSeek2Gguf, V2LiteTinyMatchesOfficialGolden) {
  QS_REQUIRE_FIXTURES();
  auto m = LoadModel(Dense("deepseek2-v2lite-tiny/v2lite-tiny-F32.gguf"));
  ASSERT_TRUE(m.ok()) << m.status().message();
  ThreadPool pool(2);
  const std::string g = FixturesDir() + "/deepseek-golden/v2lite-tiny/golden/";
  const int64_t V = (*m)->config().vocab_size;
  for (const char* len : {"len1", "len7", "len33"}) {
    auto tokens = test::ReadI32File(g + std::string(len) + ".tokens.i32");
    auto ref = test::ReadF32File(g + std::string(len) + ".logits.f32");
    Stats s = Compare(RunModel(**m, tokens, false, &pool), ref, V);
    Stats d = Compare(RunModel(**m, tokens, true, &pool), ref, V);
    EXPECT_LE(s.max_abs, 1e-4f) << len;
    EXPECT_LE(d.max_abs, 1e-4f) << len << " token by token";
    std::printf("[deepseek2-gguf] v2lite-tiny F32 %s: prefill max|d| %.3g, decode %.3g\n", len, s.max_abs, d.max_abs);
  }
}

}  // namespace
}  // namespace qs
