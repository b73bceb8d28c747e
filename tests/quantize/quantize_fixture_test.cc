// `qiusuo quantize` against llama.cpp's own files: the dense-golden HF checkpoints converted to
// F32 / F16 / Q8_0 / Q4_0 must give the fixture GGUFs' tensors (names, shapes, types, data bytes)
// exactly; ConfigFromGguf(written file) must give back the checkpoint's config; and the
// converted DeepSeek goldens must still reproduce their golden logits through `qiusuo logits`.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/gguf.h"
#include "model/config.h"
#include "model/gguf_config.h"
#include "convert/gguf_quantize.h"
#include "convert/gguf_validate.h"
#include "testutil.h"

namespace qs {
namespace {

namespace fs = std::filesystem;

const char* kDense[] = {"qwen2-tiny", "llama-tiny", "llama3rope-tiny", "llama-tied-tiny"};
const char* kDeepSeek[] = {"v2-tiny", "v2lite-tiny", "v3-tiny", "v3-fp8-tiny"};

std::string Dense(const std::string& v) { return test::FixturesDir() + "/dense-golden/" + v; }
std::string DeepSeek(const std::string& v) { return test::FixturesDir() + "/deepseek-golden/" + v; }

Status Quantize(const std::string& in, const std::string& out, const std::string& type) {
  QuantizeOptions o;
  o.model = in;
  o.out = out;
  o.type = type;
  o.threads = 2;
  return QuantizeModel(o);
}

// (a) Byte-identical tensors vs llama.cpp's converter + llama-quantize.
TEST(QuantizeFixture, DenseGoldenMatchesLlamaCppFilesByteForByte) {
  QS_REQUIRE_FIXTURES();
  const std::string tmp = test::TempDir("quantize_dense");
  int files = 0, tensors = 0;
  for (const char* v : kDense) {
    nlohmann::json golden = nlohmann::json::parse(test::ReadFileOrDie(Dense(v) + "/golden/golden.json"));
    for (const auto& gg : golden["gguf"]) {
      const std::string type = gg["type"].get<std::string>();  // F32, F16, Q8_0, Q4_0
      SCOPED_TRACE(std::string(v) + " " + type);
      const std::string out = tmp + "/" + v + "-" + type + ".gguf";
      ASSERT_TRUE(Quantize(Dense(v) + "/checkpoint", out, type).ok());
      auto ours = GgufFile::Open(out);
      auto ref = GgufFile::Open(Dense(v) + "/" + gg["file"].get<std::string>());
      ASSERT_TRUE(ours.ok() && ref.ok());
      // Types as golden.json lists them.
      std::map<std::string, std::string> want_type;
      for (auto it = gg["tensor_types"].begin(); it != gg["tensor_types"].end(); ++it)
        for (const auto& n : it.value()) want_type[n.get<std::string>()] = it.key();
      ASSERT_EQ((*ours)->tensors().size(), (*ref)->tensors().size());
      ASSERT_EQ((*ours)->tensors().size(), want_type.size());
      for (const auto& rt : (*ref)->tensors()) {
        const GgufTensorInfo* t = (*ours)->FindTensor(rt.name);
        ASSERT_NE(t, nullptr) << rt.name;
        EXPECT_EQ(t->ne, rt.ne) << rt.name;
        std::string tn = GgmlTypeName(t->type);
        for (auto& ch : tn) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        EXPECT_EQ(tn, want_type[rt.name]) << rt.name;
        ASSERT_EQ(t->nbytes, rt.nbytes) << rt.name;
        EXPECT_EQ(std::memcmp(t->data, rt.data, t->nbytes), 0) << rt.name << ": data bytes differ";
        ++tensors;
      }
      // Every model key llama.cpp wrote, with the same value (general.name aside).
      for (const auto& [k, val] : (*ref)->metadata()) {
        if (k.rfind("tokenizer.", 0) == 0 || k == "general.name") continue;
        const GgufValue* mine = (*ours)->Find(k);
        ASSERT_NE(mine, nullptr) << k;
        EXPECT_EQ(mine->DebugString(), val.DebugString()) << k;
      }
      EXPECT_TRUE(ValidateGgufModel(**ours).ok());
      ++files;
    }
  }
  EXPECT_EQ(files, 16);
  std::printf("[quantize] %d files, %d tensors byte-identical to llama.cpp's\n", files, tensors);
  fs::remove_all(tmp);
}

TEST(QuantizeFixture, DeepSeek2MatchesConverterFile) {
  QS_REQUIRE_FIXTURES();
  const std::string tmp = test::TempDir("quantize_ds2");
  const std::string out = tmp + "/v2lite-tiny-F32.gguf";
  ASSERT_TRUE(Quantize(DeepSeek("v2lite-tiny") + "/checkpoint", out, "f32").ok());
  auto ours = GgufFile::Open(out);
  auto ref = GgufFile::Open(test::FixturesDir() + "/dense-golden/deepseek2-v2lite-tiny/v2lite-tiny-F32.gguf");
  ASSERT_TRUE(ours.ok() && ref.ok());
  ASSERT_EQ((*ours)->tensors().size(), (*ref)->tensors().size());
  for (const auto& rt : (*ref)->tensors()) {
    const GgufTensorInfo* t = (*ours)->FindTensor(rt.name);
    ASSERT_NE(t, nullptr) << rt.name;
    EXPECT_EQ(t->ne, rt.ne) << rt.name;
    EXPECT_EQ(t->type, rt.type) << rt.name;
    ASSERT_EQ(t->nbytes, rt.nbytes);
    EXPECT_EQ(std::memcmp(t->data, rt.data, t->nbytes), 0) << rt.name;
  }
  for (const auto& [k, val] : (*ref)->metadata()) {
    if (k.rfind("tokenizer.", 0) == 0 || k == "general.name") continue;
    const GgufValue* mine = (*ours)->Find(k);
    ASSERT_NE(mine, nullptr) << k;
    EXPECT_EQ(mine->DebugString(), val.DebugString()) << k;
  }
  fs::remove_all(tmp);
}

// (b) ConfigFromGguf(written) reproduces the checkpoint's config.
void ExpectSameConfig(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.architecture, b.architecture);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.num_key_value_heads, b.num_key_value_heads);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_FLOAT_EQ(static_cast<float>(a.rms_norm_eps), static_cast<float>(b.rms_norm_eps));
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.eos_token_id, b.eos_token_id);
  EXPECT_FLOAT_EQ(static_cast<float>(a.rope.theta), static_cast<float>(b.rope.theta));
  EXPECT_EQ(a.rope.scaling == RopeScaling::kLlama3 ? !b.rope.freq_divisors.empty() : a.rope.scaling == b.rope.scaling, true);
  if (a.is_mla()) {
    EXPECT_EQ(a.model_type, b.model_type);
    EXPECT_EQ(a.q_lora_rank, b.q_lora_rank);
    EXPECT_EQ(a.kv_lora_rank, b.kv_lora_rank);
    EXPECT_EQ(a.qk_nope_head_dim, b.qk_nope_head_dim);
    EXPECT_EQ(a.qk_rope_head_dim, b.qk_rope_head_dim);
    EXPECT_EQ(a.v_head_dim, b.v_head_dim);
    EXPECT_EQ(a.moe_intermediate_size, b.moe_intermediate_size);
    EXPECT_EQ(a.n_routed_experts, b.n_routed_experts);
    EXPECT_EQ(a.n_shared_experts, b.n_shared_experts);
    EXPECT_EQ(a.num_experts_per_tok, b.num_experts_per_tok);
    EXPECT_EQ(a.n_group, b.n_group);
    EXPECT_EQ(a.topk_group, b.topk_group);
    EXPECT_EQ(a.topk_method, b.topk_method);
    EXPECT_EQ(a.scoring_func, b.scoring_func);
    EXPECT_FLOAT_EQ(static_cast<float>(a.routed_scaling_factor), static_cast<float>(b.routed_scaling_factor));
    EXPECT_EQ(a.norm_topk_prob, b.norm_topk_prob);
    EXPECT_EQ(a.first_k_dense_replace, b.first_k_dense_replace);
    EXPECT_FLOAT_EQ(static_cast<float>(a.rope.factor), static_cast<float>(b.rope.factor));
    EXPECT_EQ(a.rope.original_max_position, b.rope.original_max_position);
    EXPECT_NEAR(a.rope.mscale_all_dim, b.rope.mscale_all_dim, 1e-6);
    EXPECT_FLOAT_EQ(static_cast<float>(a.rope.beta_fast), static_cast<float>(b.rope.beta_fast));
    EXPECT_FLOAT_EQ(static_cast<float>(a.rope.beta_slow), static_cast<float>(b.rope.beta_slow));
  } else {
    EXPECT_EQ(a.head_dim, b.head_dim);
    EXPECT_EQ(a.attention_bias, b.attention_bias);
    EXPECT_EQ(b.rope_interleaved, a.architecture == "LlamaForCausalLM");  // llama rows were permuted
  }
}

TEST(QuantizeFixture, ConfigRoundTripsThroughGguf) {
  QS_REQUIRE_FIXTURES();
  const std::string tmp = test::TempDir("quantize_cfg");
  std::vector<std::string> dirs;
  for (const char* v : kDense) dirs.push_back(Dense(v) + "/checkpoint");
  for (const char* v : kDeepSeek) dirs.push_back(DeepSeek(v) + "/checkpoint");
  for (const auto& d : dirs) {
    SCOPED_TRACE(d);
    auto cfg = LoadModelConfig(d + "/config.json");
    ASSERT_TRUE(cfg.ok());
    const std::string out = tmp + "/m.gguf";
    // q4_0: types do not matter here, and it keeps the test fast.
    Status st = Quantize(d, out, "q8_0");
    ASSERT_TRUE(st.ok()) << st.message();
    auto g = GgufFile::Open(out);
    ASSERT_TRUE(g.ok());
    auto back = ConfigFromGguf(**g);
    ASSERT_TRUE(back.ok()) << back.status().message();
    ExpectSameConfig(*cfg, *back);
    GgufValidation v = ValidateGgufModel(**g);
    EXPECT_TRUE(v.ok()) << v.ToStatus(out).message();
  }
  fs::remove_all(tmp);
}

// (e) The converted DeepSeek goldens through the engine's GGUF loader.
float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

TEST(QuantizeFixture, ConvertedDeepSeekGoldensReproduceGoldenLogits) {
  QS_REQUIRE_FIXTURES();
  const std::string tmp = test::TempDir("quantize_logits");
  // f32: the fp32 golden tolerance. f16 / bf16: the bf16 checkpoints convert exactly (bf16 ->
  // f16 loses nothing at these magnitudes), so only v3-fp8-tiny (FP8 x block scale, values
  // with up to 8+24 significant bits) is rounded: 11 / 8 significant bits give max |d| 6.0e-3
  // (f16) and 4.4e-2 (bf16) on logits of std ~1.5; the README's F16 bound is 1e-2.
  const std::pair<const char*, float> kTypes[] = {{"f32", 1e-4f}, {"f16", 1e-2f}, {"bf16", 1e-1f}};
  for (const char* v : kDeepSeek) {
    for (const auto& [type, tol] : kTypes) {
      SCOPED_TRACE(std::string(v) + " " + type);
      const std::string gguf = tmp + "/" + v + "-" + type + ".gguf";
      ASSERT_TRUE(Quantize(DeepSeek(v) + "/checkpoint", gguf, type).ok());
      const std::string gdir = DeepSeek(v) + "/golden/";
      auto tokens = test::ReadI32File(gdir + "len33.tokens.i32");
      std::string ids;
      for (int32_t t : tokens) ids += (ids.empty() ? "" : ",") + std::to_string(t);
      std::string out;
      const std::string lf = tmp + "/logits.f32";
      int rc = test::RunCommand(test::QiusuoBin() + " logits --model " + gguf + " --tokens " + ids + " --out " + lf, &out);
      if (rc != 0 && (out.find("GGUF") != std::string::npos || out.find("gguf") != std::string::npos ||
                      out.find("not supported") != std::string::npos || out.find("unsupported") != std::string::npos))
        GTEST_SKIP() << "qiusuo logits cannot load GGUF files yet: " << out;
      ASSERT_EQ(rc, 0) << out;
      const float d = MaxAbsDiff(test::ReadF32File(lf), test::ReadF32File(gdir + "len33.logits.f32"));
      std::printf("[quantize] %s %s: max |dlogit| vs golden = %.3g (tolerance %.0e)\n", v, type, d, tol);
      EXPECT_LE(d, tol);
    }
  }
  fs::remove_all(tmp);
}

// The commands themselves: quantize and synth --out x.gguf, then the engine loads the result.
TEST(QuantizeCli, QuantizeAndSynthGgufCommands) {
  QS_REQUIRE_FIXTURES();
  const std::string tmp = test::TempDir("quantize_cli");
  const std::string bin = test::QiusuoBin();
  std::string out;
  EXPECT_EQ(test::RunCommand(bin + " quantize --model " + Dense("llama-tiny") + "/checkpoint --out " + tmp +
                                 "/a.gguf --type q4_k_m --threads 2 --name llama-tiny",
                             &out), 0) << out;
  auto g = GgufFile::Open(tmp + "/a.gguf");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ((*g)->GetString("general.name").value(), "llama-tiny");
  EXPECT_EQ((*g)->GetInt("general.file_type").value(), 15);
  EXPECT_EQ(test::RunCommand(bin + " logits --model " + tmp + "/a.gguf --tokens 1,2,3 --out " + tmp + "/l.f32", &out), 0)
      << out;
  // Synthetic Qwen2 straight to GGUF, with a tokenizer section.
  EXPECT_EQ(test::RunCommand(bin + " synth --config " + Dense("qwen2-tiny") + "/checkpoint/config.json --out " + tmp +
                                 "/s.gguf --type q8_0 --tokenizer " + test::FixturesDir() + "/tokenizer/deepseek-v3",
                             &out), 0) << out;
  auto s = GgufFile::Open(tmp + "/s.gguf");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->GetString("tokenizer.ggml.pre").value(), "deepseek-v3");
  GgufValidation sv = ValidateGgufModel(**s);
  EXPECT_TRUE(sv.ok());
  ASSERT_EQ(sv.warnings.size(), 1u);  // a 128815-token tokenizer on a 1000-token model
  EXPECT_NE(sv.warnings[0].find("vocabulary is 1000"), std::string::npos) << sv.warnings[0];
  EXPECT_EQ(test::RunCommand(bin + " logits --model " + tmp + "/s.gguf --tokens 1,2,3 --out " + tmp + "/l.f32", &out), 0)
      << out;
  // An HF directory with a tokenizer: its tokenizer.json / tokenizer_config.json become
  // tokenizer.ggml.* and tokenizer.chat_template.
  fs::create_directories(tmp + "/hf");
  for (const char* f : {"config.json", "model.safetensors"})
    fs::create_symlink(Dense("qwen2-tiny") + "/checkpoint/" + f, tmp + "/hf/" + f);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    fs::create_symlink(test::FixturesDir() + "/tokenizer/qwen3/" + f, tmp + "/hf/" + f);
  EXPECT_EQ(test::RunCommand(bin + " quantize --model " + tmp + "/hf --out " + tmp + "/t.gguf --type q8_0", &out), 0) << out;
  auto tg = GgufFile::Open(tmp + "/t.gguf");
  ASSERT_TRUE(tg.ok());
  EXPECT_EQ((*tg)->GetString("tokenizer.ggml.pre").value(), "qwen2");
  EXPECT_TRUE((*tg)->Find("tokenizer.chat_template") != nullptr);
  EXPECT_EQ((*tg)->GetInt("tokenizer.ggml.eos_token_id").value(), 151645);  // <|im_end|>, tokenizer_config wins
  // Errors: exit 1 and a message naming the problem.
  EXPECT_EQ(test::RunCommand(bin + " quantize --model " + Dense("llama-tiny") + "/checkpoint --out " + tmp +
                                 "/b.gguf --type q2_xs", &out), 1);
  EXPECT_NE(out.find("q2_xs"), std::string::npos) << out;
  EXPECT_EQ(test::RunCommand(bin + " quantize --model " + tmp + "/nothing --out " + tmp + "/b.gguf --type q8_0", &out), 1);
  EXPECT_NE(out.find("nothing"), std::string::npos) << out;
  fs::remove_all(tmp);
}

// Quantized paths: KL divergence of the next-token distributions and top-1 agreement against
// the f32 file, per --type, over the 33-token golden sequence (v3-tiny: MLA + MoE, noaux_tc).
std::vector<double> LogSoftmax(const float* x, int64_t n) {
  double m = -INFINITY, s = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, static_cast<double>(x[i]));
  for (int64_t i = 0; i < n; ++i) s += std::exp(x[i] - m);
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] - m - std::log(s);
  return out;
}

TEST(QuantizeFixture, QuantizedTypesKlAndTop1AgainstF32) {
  QS_REQUIRE_FIXTURES();
  const std::string tmp = test::TempDir("quantize_kl");
  const std::string v = "v3-tiny", gdir = DeepSeek(v) + "/golden/";
  auto tokens = test::ReadI32File(gdir + "len33.tokens.i32");
  std::string ids;
  for (int32_t t : tokens) ids += (ids.empty() ? "" : ",") + std::to_string(t);
  auto run = [&](const std::string& type, std::vector<float>* logits) -> bool {
    const std::string gguf = tmp + "/" + type + ".gguf", lf = tmp + "/" + type + ".f32";
    EXPECT_TRUE(Quantize(DeepSeek(v) + "/checkpoint", gguf, type).ok());
    std::string out;
    if (test::RunCommand(test::QiusuoBin() + " logits --model " + gguf + " --tokens " + ids + " --out " + lf, &out) != 0) {
      ADD_FAILURE() << out;
      return false;
    }
    *logits = test::ReadF32File(lf);
    return true;
  };
  std::vector<float> ref;
  ASSERT_TRUE(run("f32", &ref));
  const int64_t T = static_cast<int64_t>(tokens.size()), V = static_cast<int64_t>(ref.size()) / T;
  // Bounds: 2-3x what was observed (mean KL q8_0 0.0044, q6_k 0.0058, 5-bit ~0.13, 4-bit K
  // ~0.13, q4_0/q4_1 ~0.27). Tiny random MoE models are far more fragile than real ones: a few
  // flipped expert choices move whole rows of logits, so these bounds only catch gross errors
  // (a wrong block layout or mix gives KL ~ 1 or more).
  const std::pair<const char*, double> kTypes[] = {{"q8_0", 1e-2}, {"q6_k", 1.5e-2}, {"q5_k_m", 0.3}, {"q5_0", 0.3},
                                                   {"q5_1", 0.3}, {"q4_k_m", 0.3}, {"q4_k_s", 0.3}, {"q4_0", 0.6},
                                                   {"q4_1", 0.6}};
  for (const auto& [type, bound] : kTypes) {
    std::vector<float> q;
    ASSERT_TRUE(run(type, &q));
    ASSERT_EQ(q.size(), ref.size());
    double kl_sum = 0, kl_max = 0;
    int top1 = 0;
    for (int64_t t = 0; t < T; ++t) {
      auto p = LogSoftmax(&ref[t * V], V), r = LogSoftmax(&q[t * V], V);
      double kl = 0;
      for (int64_t i = 0; i < V; ++i) kl += std::exp(p[i]) * (p[i] - r[i]);
      kl_sum += kl;
      kl_max = std::max(kl_max, kl);
      top1 += std::max_element(&ref[t * V], &ref[t * V] + V) - &ref[t * V] ==
              std::max_element(&q[t * V], &q[t * V] + V) - &q[t * V];
    }
    std::printf("[quantize] %s %-7s KL(f32||q) mean %.3g max %.3g, top-1 %d/%lld\n", v.c_str(), type, kl_sum / T, kl_max,
                top1, static_cast<long long>(T));
    EXPECT_LE(kl_sum / T, bound) << type;
  }
  fs::remove_all(tmp);
}

}  // namespace
}  // namespace qs
