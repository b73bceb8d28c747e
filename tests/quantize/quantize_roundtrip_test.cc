// Round trip for every --type: quantize -> read the GGUF back -> each tensor's bytes equal the
// reference QuantizeRow of the source rows (after the llama Q/K permutation, computed here
// independently), so DequantizeRow of the file equals the reference dequantization bit for bit.
// Also: the quantization-mix table against llama.cpp's rules, and GGUF output of `synth`.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/checkpoint.h"
#include "io/gguf.h"
#include "kernels/matmul.h"
#include "convert/gguf_export.h"
#include "model/gguf_names.h"
#include "convert/gguf_quantize.h"
#include "convert/gguf_validate.h"
#include "convert/synth.h"
#include "quant/quant.h"
#include "testutil.h"

namespace qs {
namespace {

namespace fs = std::filesystem;

const char* kAllTypes[] = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1",
                           "q4_k_m", "q4_k_s", "q5_k_s", "q5_k_m", "q6_k"};

// A tiny Llama whose rows are 256-aligned, so the K-quants apply without fallbacks.
constexpr const char* kLlamaConfig = R"({
  "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 512, "hidden_size": 256,
  "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
  "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": false,
  "bos_token_id": 1, "eos_token_id": 2,
  "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192}})";

GgufFileType FT(const char* name) {
  auto r = ParseGgufFileType(name);
  EXPECT_TRUE(r.ok()) << name;
  return *r;
}

QuantizeOptions Opts(const std::string& in, const std::string& out, const std::string& type) {
  QuantizeOptions o;
  o.model = in;
  o.out = out;
  o.type = type;
  return o;
}

std::string MakeConfigDir(const std::string& tmp, const std::string& name, const char* text) {
  const std::string d = tmp + "/" + name;
  fs::create_directories(d);
  std::ofstream(d + "/config.json") << text;
  return d;
}

Status SynthHf(const std::string& cfg_dir, const std::string& out, const std::string& dtype) {
  SynthOptions o;
  o.config_path = cfg_dir + "/config.json";
  o.dtype = dtype;
  o.seed = 7;
  o.out_dir = out;
  return SynthesizeCheckpoint(o);
}

// Source row `r` of HF tensor `v` (any dtype the checkpoint holds), decoded to fp32.
std::vector<float> HfRow(const Checkpoint& ck, const ModelConfig& c, const std::string& name, int64_t r) {
  const TensorView* v = ck.Find(name);
  EXPECT_NE(v, nullptr) << name;
  WeightMatrix w;
  w.name = name;
  w.dtype = v->dtype;
  w.cols = v->shape.back();
  w.rows = v->shape.size() == 2 ? v->shape[0] : 1;
  w.data = v->data;
  w.row_stride = static_cast<size_t>(w.cols) * DTypeSize(v->dtype);
  if (v->dtype == DType::kF8E4M3) {
    const TensorView* s = ck.Find(name + "_scale_inv");
    w.scale_inv = reinterpret_cast<const float*>(s->data);
    w.block_rows = c.fp8_block_rows;
    w.block_cols = c.fp8_block_cols;
    w.scale_cols = s->shape[1];
  }
  std::vector<float> out(static_cast<size_t>(w.cols));
  if (v->dtype == DType::kF32) std::memcpy(out.data(), v->data + r * w.row_stride, out.size() * 4);
  else DecodeRow(w, r, out.data());
  return out;
}

// Checks every tensor of `gguf_path` against the reference quantization of the HF source.
void CheckRoundTrip(const std::string& hf_dir, const std::string& gguf_path, int* checked_rows) {
  auto cfg = LoadModelConfig(hf_dir + "/config.json");
  ASSERT_TRUE(cfg.ok());
  auto ck = Checkpoint::OpenDir(hf_dir);
  ASSERT_TRUE(ck.ok());
  auto g = GgufFile::Open(gguf_path);
  ASSERT_TRUE(g.ok());
  const bool llama = GgufArchitecture(*cfg) == "llama";
  for (const GgufTensorInfo& t : (*g)->tensors()) {
    if (t.name == "rope_freqs.weight") continue;
    auto hf = GgufToHfName(t.name);
    ASSERT_TRUE(hf.has_value()) << t.name;
    const int64_t cols = t.ne[0], rows = t.ne.size() >= 2 ? t.ne[1] : 1;
    const int64_t experts = t.ne.size() == 3 ? t.ne[2] : 1;
    auto row_bytes = GgmlRowSize(t.type, cols);
    ASSERT_TRUE(row_bytes.ok());
    const bool perm = llama && (t.name.find("attn_q.") != std::string::npos || t.name.find("attn_k.") != std::string::npos);
    const int64_t hd = cfg->head_dim;
    std::vector<uint8_t> q(*row_bytes);
    std::vector<float> a(static_cast<size_t>(cols)), b(static_cast<size_t>(cols));
    for (int64_t e = 0; e < experts; ++e) {
      const std::string name = hf->stacked ? ExpertName(hf->name, e) : hf->name;
      for (int64_t o = 0; o < rows; ++o) {
        // numpy: w.reshape(n_head, 2, hd/2, in).swapaxes(1, 2) -> out row (h, i, j) = in row (h, j, i).
        int64_t src = o;
        if (perm && t.ne.size() >= 2) src = o / hd * hd + (o % hd % 2) * (hd / 2) + (o % hd / 2);
        std::vector<float> x = HfRow(**ck, *cfg, name, src);
        if (perm && t.ne.size() == 1) {  // a 1-D bias permutes elements the same way
          std::vector<float> y(x.size());
          for (int64_t k = 0; k < cols; ++k) y[k] = x[k / hd * hd + (k % hd % 2) * (hd / 2) + (k % hd / 2)];
          x = y;
        }
        ASSERT_TRUE(QuantizeRow(t.type, x.data(), q.data(), cols).ok());
        const uint8_t* mine = t.data + static_cast<size_t>(e * rows + o) * *row_bytes;
        ASSERT_EQ(std::memcmp(q.data(), mine, q.size()), 0) << t.name << " expert " << e << " row " << o;
        ASSERT_TRUE(DequantizeRow(t.type, mine, a.data(), cols).ok());
        ASSERT_TRUE(DequantizeRow(t.type, q.data(), b.data(), cols).ok());
        ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << t.name;
        ++*checked_rows;
      }
    }
  }
}

TEST(QuantizeRoundTrip, EveryTypeFromBf16Llama) {
  const std::string tmp = test::TempDir("quantize_rt");
  const std::string cfg_dir = MakeConfigDir(tmp, "cfg", kLlamaConfig);
  const std::string hf = tmp + "/hf";
  ASSERT_TRUE(SynthHf(cfg_dir, hf, "bf16").ok());
  int rows = 0;
  for (const char* type : kAllTypes) {
    SCOPED_TRACE(type);
    const std::string out = tmp + "/" + type + ".gguf";
    QuantizeOptions o = Opts(hf, out, type);
    o.threads = 2;
    Status st = QuantizeModel(o);
    ASSERT_TRUE(st.ok()) << st.message();
    CheckRoundTrip(hf, out, &rows);
    auto g = GgufFile::Open(out);
    ASSERT_TRUE(g.ok());
    EXPECT_TRUE(ValidateGgufModel(**g).ok());
    auto ft = ParseGgufFileType(type);
    EXPECT_EQ((*g)->GetInt("general.file_type").value(), ft->llama_ftype);
    // rope_freqs.weight: the llama3 divisors.
    const GgufTensorInfo* rf = (*g)->FindTensor("rope_freqs.weight");
    ASSERT_NE(rf, nullptr);
    EXPECT_EQ(rf->type, GgmlType::F32);
  }
  std::printf("[quantize] %zu types, %d rows re-quantized bit-exactly\n", std::size(kAllTypes), rows);
  fs::remove_all(tmp);
}

TEST(QuantizeRoundTrip, Fp8DeepSeekV3AndRequantizeFromGguf) {
  QS_REQUIRE_FIXTURES();
  const std::string tmp = test::TempDir("quantize_fp8");
  const std::string hf = test::FixturesDir() + "/deepseek-golden/v3-fp8-tiny/checkpoint";
  int rows = 0;
  for (const char* type : {"q8_0", "q4_k_m"}) {
    const std::string out = tmp + "/" + type + ".gguf";
    ASSERT_TRUE(QuantizeModel(Opts(hf, out, type)).ok());
    CheckRoundTrip(hf, out, &rows);
  }
  // GGUF -> GGUF: F32 in, Q8_0 out equals quantizing the HF source directly.
  const std::string f32 = tmp + "/f32.gguf", q8 = tmp + "/q8_from_gguf.gguf";
  ASSERT_TRUE(QuantizeModel(Opts(hf, f32, "f32")).ok());
  ASSERT_TRUE(QuantizeModel(Opts(f32, q8, "q8_0")).ok());
  auto a = GgufFile::Open(q8);
  auto b = GgufFile::Open(tmp + "/q8_0.gguf");
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ((*a)->tensors().size(), (*b)->tensors().size());
  for (const auto& t : (*b)->tensors()) {
    const GgufTensorInfo* u = (*a)->FindTensor(t.name);
    ASSERT_NE(u, nullptr);
    EXPECT_EQ(u->type, t.type);
    ASSERT_EQ(u->nbytes, t.nbytes);
    EXPECT_EQ(std::memcmp(u->data, t.data, t.nbytes), 0) << t.name;
  }
  EXPECT_EQ((*a)->GetInt("deepseek2.expert_group_count").value(), 4);
  EXPECT_EQ((*a)->GetInt("deepseek2.expert_group_used_count").value(), 2);
  EXPECT_NE((*a)->FindTensor("blk.1.exp_probs_b.bias"), nullptr);
  EXPECT_EQ((*a)->FindTensor("blk.1.ffn_gate_inp.weight")->type, GgmlType::F32);  // router stays F32
  fs::remove_all(tmp);
}

GgufPlanEntry PlanEntry(const std::string& name, int64_t cols) {
  GgufPlanEntry e;
  e.name = name;
  e.ne = {cols, 64};
  return e;
}

// llama_tensor_get_type's mixes for a 32-layer model with 4096-wide rows (Llama-3-8B shape).
TEST(QuantizeMix, MatchesLlamaCppRules) {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.num_hidden_layers = 32;
  auto type_of = [&](const char* ft, const std::string& name, int64_t cols = 4096) {
    GgufPlanEntry e;
    e.name = name;
    e.ne = {cols, 1024};
    return ChooseGgufTensorType(c, FT(ft), e).value();
  };
  // use_more_bits(i, 32): i < 4 || i >= 28 || (i - 4) % 3 == 2.
  for (int i = 0; i < 32; ++i) {
    const bool more = i < 4 || i >= 28 || (i - 4) % 3 == 2;
    const std::string b = "blk." + std::to_string(i) + ".";
    EXPECT_EQ(type_of("q4_k_m", b + "attn_v.weight"), more ? GgmlType::Q6_K : GgmlType::Q4_K) << i;
    EXPECT_EQ(type_of("q4_k_m", b + "ffn_down.weight"), more ? GgmlType::Q6_K : GgmlType::Q4_K) << i;
    EXPECT_EQ(type_of("q5_k_m", b + "ffn_down.weight"), more ? GgmlType::Q6_K : GgmlType::Q5_K) << i;
    EXPECT_EQ(type_of("q4_k_m", b + "attn_q.weight"), GgmlType::Q4_K);
    EXPECT_EQ(type_of("q4_k_s", b + "attn_v.weight"), i < 4 ? GgmlType::Q5_K : GgmlType::Q4_K);
    EXPECT_EQ(type_of("q4_k_s", b + "ffn_down.weight"), i < 4 ? GgmlType::Q5_K : GgmlType::Q4_K);
    EXPECT_EQ(type_of("q4_0", b + "ffn_down.weight"), GgmlType::Q4_0);
  }
  EXPECT_EQ(type_of("q4_k_m", "output.weight"), GgmlType::Q6_K);
  EXPECT_EQ(type_of("q4_0", "output.weight"), GgmlType::Q6_K);
  EXPECT_EQ(type_of("q8_0", "output.weight"), GgmlType::Q8_0);
  EXPECT_EQ(type_of("q4_0", "output.weight", 1536 + 32), GgmlType::Q8_0);  // not 256-aligned
  EXPECT_EQ(type_of("q4_k_m", "token_embd.weight"), GgmlType::Q4_K);
  c.tie_word_embeddings = true;
  EXPECT_EQ(type_of("q4_k_m", "token_embd.weight"), GgmlType::Q6_K);  // plays the output role
  // Fallbacks for rows that are not 256-aligned (R1-Distill-Qwen-1.5B: 8960 = 35 * 256 is; 96 is not).
  EXPECT_EQ(type_of("q4_k_m", "blk.5.attn_q.weight", 96), GgmlType::Q5_0);
  EXPECT_EQ(type_of("q5_k_s", "blk.5.attn_q.weight", 96), GgmlType::Q5_1);
  EXPECT_EQ(type_of("q6_k", "blk.5.attn_q.weight", 96), GgmlType::Q8_0);
  EXPECT_EQ(type_of("q4_k_m", "blk.5.attn_q.weight", 16), GgmlType::F16);
  // llama-quantize refuses rows that Q4_0 blocks cannot tile; we fall back to F16 instead.
  EXPECT_EQ(ChooseGgufTensorType(c, FT("q4_0"), PlanEntry("blk.0.attn_q.weight", 48)).value(), GgmlType::F16);
  // Kept F32 whatever the type: norms, biases, the router.
  for (const char* n : {"blk.0.attn_norm.weight", "blk.0.attn_q.bias", "blk.1.ffn_gate_inp.weight", "blk.1.exp_probs_b.bias"}) {
    GgufPlanEntry e = PlanEntry(n, 4096);
    EXPECT_EQ(ChooseGgufTensorType(c, FT("q4_k_m"), e).value(), GgmlType::F32) << n;
    EXPECT_EQ(ChooseGgufTensorType(c, FT("bf16"), e).value(), GgmlType::F32) << n;
  }
  EXPECT_FALSE(ParseGgufFileType("q3_k_xl").ok());
  // LLM_TYPE_70B (llama, 80 layers): attn_v Q4_K -> Q5_K where the mix did not already pick Q6_K.
  c.tie_word_embeddings = false;
  c.num_hidden_layers = 80;
  EXPECT_EQ(type_of("q4_k_m", "blk.20.attn_v.weight"), GgmlType::Q5_K);  // (20 - 10) % 3 != 2
  EXPECT_EQ(type_of("q4_k_m", "blk.21.attn_v.weight"), GgmlType::Q6_K);  // (21 - 10) % 3 == 2: more bits
  EXPECT_EQ(type_of("q4_k_m", "blk.20.ffn_down.weight"), GgmlType::Q4_K);
}

// synth --out x.gguf --type T writes what quantize --type T makes of an f32 synthetic checkpoint.
void ExpectSameTensors(const std::string& a_path, const std::string& b_path) {
  auto a = GgufFile::Open(a_path);
  auto b = GgufFile::Open(b_path);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ((*a)->tensors().size(), (*b)->tensors().size());
  for (const auto& t : (*b)->tensors()) {
    const GgufTensorInfo* u = (*a)->FindTensor(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    EXPECT_EQ(u->type, t.type) << t.name;
    EXPECT_EQ(u->ne, t.ne) << t.name;
    ASSERT_EQ(u->nbytes, t.nbytes) << t.name;
    EXPECT_EQ(std::memcmp(u->data, t.data, t.nbytes), 0) << t.name;
  }
}

TEST(SynthGguf, EqualsQuantizedSyntheticCheckpoint) {
  const std::string tmp = test::TempDir("synth_gguf");
  std::vector<std::string> configs = {MakeConfigDir(tmp, "llama", kLlamaConfig) + "/config.json"};
  if (!test::FixturesDir().empty()) {
    configs.push_back(test::FixturesDir() + "/dense-golden/qwen2-tiny/checkpoint/config.json");
    configs.push_back(test::FixturesDir() + "/deepseek-golden/v3-tiny/checkpoint/config.json");
  }
  for (const auto& cfg : configs) {
    SCOPED_TRACE(cfg);
    SynthOptions h;
    h.config_path = cfg;
    h.dtype = "f32";
    h.seed = 11;
    h.out_dir = tmp + "/hf";
    ASSERT_TRUE(SynthesizeCheckpoint(h).ok());
    for (const char* type : {"q4_0", "q4_k_m"}) {
      ASSERT_TRUE(QuantizeModel(Opts(tmp + "/hf", tmp + "/a.gguf", type)).ok());
      SynthGgufOptions g;
      g.config_path = cfg;
      g.out_path = tmp + "/b.gguf";
      g.gguf_type = type;
      g.seed = 11;
      Status st = SynthesizeGguf(g);
      ASSERT_TRUE(st.ok()) << st.message();
      ExpectSameTensors(tmp + "/a.gguf", tmp + "/b.gguf");
      auto f = GgufFile::Open(tmp + "/b.gguf");
      ASSERT_TRUE(f.ok());
      EXPECT_TRUE(ValidateGgufModel(**f).ok());
    }
    fs::remove_all(tmp + "/hf");
  }
  fs::remove_all(tmp);
}

// Dense layouts at real dimensions (no weights generated): the published parameter counts.
TEST(SynthGguf, DenseLayoutsHaveThePublishedParameterCounts) {
  QS_REQUIRE_FIXTURES();
  const std::pair<const char*, double> kModels[] = {{"DeepSeek-R1-Distill-Qwen-1.5B", 1.777},  // Qwen2, q/k/v bias
                                                    {"DeepSeek-R1-Distill-Llama-8B", 8.030},   // Llama-3.1-8B
                                                    {"DeepSeek-R1-Distill-Qwen-7B", 7.616}};
  for (const auto& [name, billions] : kModels) {
    auto c = LoadModelConfig(test::FixturesDir() + "/configs/" + name + "/config.json");
    ASSERT_TRUE(c.ok()) << name;
    auto plan = PlanGgufTensors(*c, FT("q4_k_m"));
    ASSERT_TRUE(plan.ok()) << plan.status().message();
    double n = 0;
    for (const auto& t : *plan)
      if (t.name != "rope_freqs.weight") n += static_cast<double>(t.rows()) * t.cols() * t.experts();
    EXPECT_NEAR(n / 1e9, billions, 0.005) << name;
  }
}

TEST(QuantizeRoundTrip, BadInputsNameTheProblem) {
  const std::string tmp = test::TempDir("quantize_bad");
  QuantizeOptions o = Opts("/nonexistent", tmp + "/x.gguf", "q4_0");
  Status st = QuantizeModel(o);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("/nonexistent"), std::string::npos);
  o.type = "q9_9";
  EXPECT_NE(QuantizeModel(o).message().find("q9_9"), std::string::npos);
  // A checkpoint missing a tensor: the error names it, and no partial file is left behind.
  const std::string cfg_dir = MakeConfigDir(tmp, "cfg", kLlamaConfig);
  const std::string hf = tmp + "/hf";
  ASSERT_TRUE(SynthHf(cfg_dir, hf, "f32").ok());
  std::ofstream(hf + "/config.json") << std::string(kLlamaConfig).replace(std::string(kLlamaConfig).find("\"num_hidden_layers\": 2"), 22, "\"num_hidden_layers\": 3");
  st = QuantizeModel(Opts(hf, tmp + "/y.gguf", "q8_0"));
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("model.layers.2."), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(tmp + "/y.gguf"));
  fs::remove_all(tmp);
}

}  // namespace
}  // namespace qs
