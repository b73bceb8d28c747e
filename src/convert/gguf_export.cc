#include "convert/gguf_export.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "base/log.h"
#include "io/gguf_writer.h"
#include "model/arch/arch.h"
#include "model/gguf_names.h"
#include "model/transformer.h"

namespace qs {

namespace {

// llama.h enum llama_ftype (the numbers are written as general.file_type).
constexpr GgufFileType kFileTypes[] = {
    {"f32", 0, GgmlType::F32, false},     {"f16", 1, GgmlType::F16, false},
    {"bf16", 32, GgmlType::BF16, false},  {"q8_0", 7, GgmlType::Q8_0, true},
    {"q4_0", 2, GgmlType::Q4_0, true},    {"q4_1", 3, GgmlType::Q4_1, true},
    {"q5_0", 8, GgmlType::Q5_0, true},    {"q5_1", 9, GgmlType::Q5_1, true},
    {"q4_k_s", 14, GgmlType::Q4_K, true}, {"q4_k_m", 15, GgmlType::Q4_K, true},
    {"q5_k_s", 16, GgmlType::Q5_K, true}, {"q5_k_m", 17, GgmlType::Q5_K, true},
    {"q6_k", 18, GgmlType::Q6_K, true},
};

// The quantization mixes of llama_tensor_get_type (llama-quant.cpp, b4747) for the file types we
// write, as data. For a tensor whose name contains `tensor`, the first rule of its file type
// whose condition holds for the tensor's layer i (of n) gives the type. Rules of the same
// `tensor` form one if/else chain there, so only the first matching name counts.
enum class When {
  kMoreBits,     // use_more_bits(i, n): i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2
  kFirstEighth,  // i < n/8
  kFirstFour,    // i < 4 (Q4_K_S attn_v: qs.i_attention_wv < 4)
};
struct MixRule {
  const char* ftype;
  const char* tensor;
  When when;
  GgmlType type;
};
constexpr MixRule kMixRules[] = {
    {"q4_k_m", "attn_v.weight", When::kMoreBits, GgmlType::Q6_K},
    {"q4_k_m", "ffn_down", When::kMoreBits, GgmlType::Q6_K},
    {"q5_k_m", "attn_v.weight", When::kMoreBits, GgmlType::Q6_K},
    {"q5_k_m", "ffn_down", When::kMoreBits, GgmlType::Q6_K},
    {"q4_k_s", "attn_v.weight", When::kFirstFour, GgmlType::Q5_K},
    {"q4_k_s", "ffn_down", When::kFirstEighth, GgmlType::Q5_K},
};
// Name chain order in llama_tensor_get_type: a tensor is judged by the first of these it contains
// (so e.g. "ffn_down" rules never see an attn_v tensor).
constexpr const char* kMixChain[] = {"attn_v.weight", "attn_k.weight", "attn_q.weight", "ffn_down",
                                     "attn_output.weight", "attn_qkv.weight", "ffn_gate", "ffn_up"};

// When a row length is not a multiple of the chosen type's block: llama_tensor_get_type's
// convert_incompatible_tensor fallbacks (then F16 if even that does not divide).
struct Fallback {
  GgmlType from, to;
};
constexpr Fallback kFallbacks[] = {
    {GgmlType::Q4_K, GgmlType::Q5_0}, {GgmlType::Q5_K, GgmlType::Q5_1}, {GgmlType::Q6_K, GgmlType::Q8_0},
    {GgmlType::Q2_K, GgmlType::Q4_0}, {GgmlType::Q3_K, GgmlType::Q4_0},
};

bool Holds(When w, int64_t i, int64_t n) {
  switch (w) {
    case When::kMoreBits: return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
    case When::kFirstEighth: return i < n / 8;
    case When::kFirstFour: return i < 4;
  }
  return false;
}

bool EndsWith(const std::string& s, const char* suf) {
  const size_t n = std::strlen(suf);
  return s.size() >= n && s.compare(s.size() - n, n, suf) == 0;
}

int64_t LayerOf(const std::string& gguf_name) {
  int l = -1;
  if (std::sscanf(gguf_name.c_str(), "blk.%d.", &l) == 1) return l;
  return -1;
}

}  // namespace

Result<GgufFileType> ParseGgufFileType(const std::string& name) {
  std::string n;
  for (char ch : name) n += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (const auto& t : kFileTypes)
    if (n == t.name) return t;
  return InvalidArgument("unknown --type '" + name + "' (expected one of: " + GgufFileTypeNames() + ")");
}

std::string GgufFileTypeNames() {
  std::string s;
  for (const auto& t : kFileTypes) s += (s.empty() ? "" : ", ") + std::string(t.name);
  return s;
}

Result<GgmlType> ChooseGgufTensorType(const ModelConfig& c, const GgufFileType& ft, const GgufPlanEntry& t) {
  const std::string& name = t.name;
  // Kept F32 by the converter (n_dims <= 1, *_norm.weight, the router ffn_gate_inp, anything not
  // ending in .weight such as biases and exp_probs_b.bias); llama-quantize leaves them as they
  // are (it quantizes 2-D/3-D tensors only, never norms or ffn_gate_inp).
  if (t.kind == GgufPlanEntry::Kind::kRopeFreqs || t.ne.size() <= 1 || EndsWith(name, "_norm.weight") ||
      name.find("ffn_gate_inp.weight") != std::string::npos || !EndsWith(name, ".weight"))
    return GgmlType::F32;
  if (!ft.quantized) return ft.base;  // f32 / f16 / bf16: every matrix

  GgmlType type = ft.base;
  const bool is_output = name == "output.weight" || (c.tie_word_embeddings && name == "token_embd.weight");
  if (is_output) {
    // The output matrix gets Q6_K (Q8_0 stays Q8_0), Q8_0 when its rows are not 256-aligned.
    if (t.cols() % 256 != 0) type = GgmlType::Q8_0;
    else if (type != GgmlType::Q8_0) type = GgmlType::Q6_K;
  } else if (name != "token_embd.weight") {
    const int64_t i = LayerOf(name), n = c.num_hidden_layers;
    for (const char* key : kMixChain) {
      if (name.find(key) == std::string::npos) continue;
      for (const MixRule& r : kMixRules)
        if (std::strcmp(r.ftype, ft.name) == 0 && std::strcmp(r.tensor, key) == 0 && i >= 0 && Holds(r.when, i, n)) {
          type = r.type;
          break;
        }
      break;
    }
    // After the mix: llama_tensor_get_type's size rule (LLM_TYPE_70B: Q3_K/Q4_K attn_v -> Q5_K),
    // for the layer count the architecture spec names (arch.h gguf_attn_v_more_bits_layers).
    const ArchSpec* spec = FindArchitecture(c);
    if (spec && spec->gguf_attn_v_more_bits_layers == n && name.find("attn_v.weight") != std::string::npos &&
        (type == GgmlType::Q3_K || type == GgmlType::Q4_K))
      type = GgmlType::Q5_K;
  }
  if (t.cols() % GgmlTraits(type).block_size != 0) {
    const GgmlType want = type;
    bool found = false;
    for (const Fallback& f : kFallbacks)
      if (f.from == type) {
        type = f.to;
        found = true;
        break;
      }
    // llama-quantize throws for the 32-element types here; we keep going with F16 (its last
    // resort for the K-quants) and say so.
    if (!found || t.cols() % GgmlTraits(type).block_size != 0) type = GgmlType::F16;
    QS_LOG_WARN("tensor '%s': row length %lld is not a multiple of %lld (%s): using %s", name.c_str(),
                static_cast<long long>(t.cols()), static_cast<long long>(GgmlTraits(want).block_size),
                GgmlTypeName(want), GgmlTypeName(type));
  }
  return type;
}

Result<std::vector<GgufPlanEntry>> PlanGgufTensors(const ModelConfig& c, const GgufFileType& ft) {
  const std::string arch = GgufArchitecture(c);
  if (arch.empty())
    return Unsupported("no llama.cpp architecture for '" + c.architecture + "' (model_type '" + c.model_type +
                       "'); supported: " + SupportedArchitectures());
  QS_ASSIGN_OR_RETURN(auto specs, DeclareCheckpointTensors(c));
  std::vector<GgufPlanEntry> plan;
  if (c.rope.scaling == RopeScaling::kLlama3 || !c.rope.freq_divisors.empty()) {
    GgufPlanEntry e;
    e.name = "rope_freqs.weight";
    e.kind = GgufPlanEntry::Kind::kRopeFreqs;
    const int64_t rd = c.is_mla() ? c.qk_rope_head_dim : c.head_dim;
    e.ne = {rd / 2};
    plan.push_back(e);
  }
  const bool keep_mtp = FindArchitecture(c)->gguf_keeps_mtp;
  for (const TensorDecl& s : specs) {
    int hf_layer = -1;
    if (!keep_mtp && std::sscanf(s.name.c_str(), "model.layers.%d.", &hf_layer) == 1 && hf_layer >= c.num_hidden_layers)
      continue;  // MTP modules (V3 model.layers.61): llama.cpp's deepseek2 does not load them
    const auto g = HfToGgufName(s.name);
    if (!g) return Status(ErrorCode::kInternal, "no GGUF name for tensor '" + s.name + "'");
    const int64_t layer = LayerOf(g->name);
    if (g->expert > 0) continue;                  // stacked into expert 0's entry
    GgufPlanEntry e;
    e.name = g->name;
    e.layer = layer;
    e.hf_name = s.name;
    for (auto it = s.shape.rbegin(); it != s.shape.rend(); ++it) e.ne.push_back(*it);
    if (g->expert == 0) {
      e.n_expert = c.n_routed_experts;
      e.ne.push_back(c.n_routed_experts);
      const std::string key = ".experts.0.";
      e.hf_name.replace(e.hf_name.find(key), key.size(), ".experts.{E}.");
    }
    // convert_hf_to_gguf.py LlamaModel.modify_tensors: q_proj / k_proj weights and biases.
    if (FindArchitecture(c)->gguf_permutes_qk && (s.name.find("self_attn.q_proj.") != std::string::npos ||
                            s.name.find("self_attn.k_proj.") != std::string::npos))
      e.permute_head_dim = c.head_dim;
    plan.push_back(e);
  }
  for (auto& e : plan) {
    QS_ASSIGN_OR_RETURN(e.type, ChooseGgufTensorType(c, ft, e));
  }
  return plan;
}

std::vector<float> Llama3RopeDivisors(const ModelConfig& c) {
  // Mirrors the converter's float32 torch arithmetic: freqs = 1 / base**(arange(0,d,2)/d);
  // wavelen = 2*pi/freq; smooth = (old/wavelen - low)/(high - low); factor 1/((1-s)/f + s).
  const int64_t d = c.head_dim;
  const float base = static_cast<float>(c.rope.theta), factor = static_cast<float>(c.rope.factor);
  const float low = static_cast<float>(c.rope.low_freq_factor), high = static_cast<float>(c.rope.high_freq_factor);
  const float old = static_cast<float>(c.rope.original_max_position);
  const float low_wl = old / low, high_wl = old / high;
  std::vector<float> out;
  for (int64_t i = 0; i < d; i += 2) {
    const float e = static_cast<float>(i) / static_cast<float>(d);
    const float freq = 1.0f / std::pow(base, e);
    const float wavelen = static_cast<float>(2.0 * M_PI) / freq;
    if (wavelen < high_wl) out.push_back(1.0f);
    else if (wavelen > low_wl) out.push_back(factor);
    else {
      const float smooth = (old / wavelen - low) / (high - low);
      out.push_back(1.0f / ((1.0f - smooth) / factor + smooth));
    }
  }
  return out;
}

Status WriteGgufConfigMetadata(const ModelConfig& c, const std::string& model_name, const GgufFileType& ft,
                               GgufWriter* w) {
  const std::string arch = GgufArchitecture(c);
  if (arch.empty()) return Unsupported("no llama.cpp architecture for '" + c.architecture + "'");
  const std::string A = arch + ".";
  auto u32 = [&](const std::string& k, int64_t v) { w->SetU32(A + k, static_cast<uint32_t>(v)); };
  auto f32 = [&](const std::string& k, double v) { w->SetF32(A + k, static_cast<float>(v)); };
  // Key order as convert_hf_to_gguf.py writes them (Model.set_gguf_parameters, then the
  // architecture's own keys).
  w->SetString("general.architecture", arch);
  w->SetString("general.type", "model");
  w->SetString("general.name", model_name);
  const ArchSpec* spec = FindArchitecture(c);
  // MTP layers the architecture keeps in GGUF follow the main ones and are counted (arch.h).
  u32("block_count", c.num_hidden_layers + (spec && spec->gguf_keeps_mtp ? c.num_nextn_predict_layers : 0));
  u32("context_length", c.max_position_embeddings);
  u32("embedding_length", c.hidden_size);
  if (c.intermediate_size > 0) u32("feed_forward_length", c.intermediate_size);
  u32("attention.head_count", c.num_attention_heads);
  u32("attention.head_count_kv", c.is_mla() ? c.num_attention_heads : c.num_key_value_heads);
  f32("rope.freq_base", c.rope.theta);
  f32("attention.layer_norm_rms_epsilon", c.rms_norm_eps);
  if (c.num_experts_per_tok > 0 && c.is_mla()) u32("expert_used_count", c.num_experts_per_tok);
  w->SetU32("general.file_type", static_cast<uint32_t>(ft.llama_ftype));

  // The architecture's own keys (model/arch/<family>.cc).
  if (spec && spec->write_gguf) spec->write_gguf(c, A, w);
  if (c.rope.scaling == RopeScaling::kLinear) {
    w->SetString(A + "rope.scaling.type", "linear");
    f32("rope.scaling.factor", c.rope.factor);
  }
  if (c.rope.scaling == RopeScaling::kYarn) {
    w->SetString(A + "rope.scaling.type", "yarn");
    f32("rope.scaling.factor", c.rope.factor);
    u32("rope.scaling.original_context_length", c.rope.original_max_position);
    // llama.cpp derives the attention scale from yarn_log_multiplier (0.1 * mscale_all_dim) and
    // leaves cos/sin unscaled, which equals DeepSeek's formula only when mscale == mscale_all_dim
    // (true of every release).
    f32("rope.scaling.yarn_log_multiplier", 0.1 * c.rope.mscale_all_dim);
    if (c.rope.mscale != c.rope.mscale_all_dim)
      QS_LOG_WARN("rope_scaling.mscale (%g) differs from mscale_all_dim (%g): GGUF cannot express it", c.rope.mscale,
                  c.rope.mscale_all_dim);
    // Not written by the converter (llama.cpp's defaults are 32 / 1); kept when they differ.
    if (c.rope.beta_fast != 32.0) f32("rope.scaling.yarn_beta_fast", c.rope.beta_fast);
    if (c.rope.beta_slow != 1.0) f32("rope.scaling.yarn_beta_slow", c.rope.beta_slow);
  }
  w->SetU32("general.quantization_version", 2);  // GGML_QNT_VERSION (the converter writes it too)
  return Status::Ok();
}

void WriteGgufSpecialTokenFallbacks(const ModelConfig& c, GgufWriter* w) {
  // gguf-py SpecialVocab: ids from the tokenizer files win, config.json's fill the gaps.
  if (c.bos_token_id >= 0 && !w->Has("tokenizer.ggml.bos_token_id"))
    w->SetU32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(c.bos_token_id));
  if (c.eos_token_id >= 0 && !w->Has("tokenizer.ggml.eos_token_id"))
    w->SetU32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(c.eos_token_id));
}

}  // namespace qs
