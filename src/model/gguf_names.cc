#include "model/gguf_names.h"

#include "model/arch/arch.h"

#include <string_view>

namespace qs {

namespace {

// {L}: layer index, {E}: expert index (HF side only; the GGUF side stacks experts).
struct Rule {
  const char* hf;
  const char* gguf;
};

// convert_hf_to_gguf.py / gguf-py tensor_mapping.py (MODEL_TENSOR.* for llama, qwen2, deepseek2).
constexpr Rule kRules[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
    {"model.layers.{L}.input_layernorm.weight", "blk.{L}.attn_norm.weight"},
    {"model.layers.{L}.post_attention_layernorm.weight", "blk.{L}.ffn_norm.weight"},
    // GQA attention (llama, qwen2; qwen2 has q/k/v biases).
    {"model.layers.{L}.self_attn.q_proj.weight", "blk.{L}.attn_q.weight"},
    {"model.layers.{L}.self_attn.q_proj.bias", "blk.{L}.attn_q.bias"},
    {"model.layers.{L}.self_attn.k_proj.weight", "blk.{L}.attn_k.weight"},
    {"model.layers.{L}.self_attn.k_proj.bias", "blk.{L}.attn_k.bias"},
    {"model.layers.{L}.self_attn.v_proj.weight", "blk.{L}.attn_v.weight"},
    {"model.layers.{L}.self_attn.v_proj.bias", "blk.{L}.attn_v.bias"},
    {"model.layers.{L}.self_attn.o_proj.weight", "blk.{L}.attn_output.weight"},
    // Multi-head Latent Attention (deepseek2). k_b_proj / v_b_proj are llama.cpp's split of
    // kv_b_proj (newer converters); they have no HF counterpart but keep HF-style names here.
    {"model.layers.{L}.self_attn.q_a_proj.weight", "blk.{L}.attn_q_a.weight"},
    {"model.layers.{L}.self_attn.q_a_layernorm.weight", "blk.{L}.attn_q_a_norm.weight"},
    {"model.layers.{L}.self_attn.q_b_proj.weight", "blk.{L}.attn_q_b.weight"},
    {"model.layers.{L}.self_attn.kv_a_proj_with_mqa.weight", "blk.{L}.attn_kv_a_mqa.weight"},
    {"model.layers.{L}.self_attn.kv_a_layernorm.weight", "blk.{L}.attn_kv_a_norm.weight"},
    {"model.layers.{L}.self_attn.kv_b_proj.weight", "blk.{L}.attn_kv_b.weight"},
    {"model.layers.{L}.self_attn.k_b_proj.weight", "blk.{L}.attn_k_b.weight"},
    {"model.layers.{L}.self_attn.v_b_proj.weight", "blk.{L}.attn_v_b.weight"},
    // Dense FFN.
    {"model.layers.{L}.mlp.gate_proj.weight", "blk.{L}.ffn_gate.weight"},
    {"model.layers.{L}.mlp.up_proj.weight", "blk.{L}.ffn_up.weight"},
    {"model.layers.{L}.mlp.down_proj.weight", "blk.{L}.ffn_down.weight"},
    // DeepSeekMoE: router, its noaux_tc bias, stacked routed experts, shared experts.
    {"model.layers.{L}.mlp.gate.weight", "blk.{L}.ffn_gate_inp.weight"},
    {"model.layers.{L}.mlp.gate.e_score_correction_bias", "blk.{L}.exp_probs_b.bias"},
    {"model.layers.{L}.mlp.experts.{E}.gate_proj.weight", "blk.{L}.ffn_gate_exps.weight"},
    {"model.layers.{L}.mlp.experts.{E}.up_proj.weight", "blk.{L}.ffn_up_exps.weight"},
    {"model.layers.{L}.mlp.experts.{E}.down_proj.weight", "blk.{L}.ffn_down_exps.weight"},
    {"model.layers.{L}.mlp.shared_experts.gate_proj.weight", "blk.{L}.ffn_gate_shexp.weight"},
    {"model.layers.{L}.mlp.shared_experts.up_proj.weight", "blk.{L}.ffn_up_shexp.weight"},
    {"model.layers.{L}.mlp.shared_experts.down_proj.weight", "blk.{L}.ffn_down_shexp.weight"},
    // The MTP module's own tensors (V3 paper §2.2; gguf-py MODEL_TENSOR.NEXTN_*), where an
    // architecture keeps them (DeepSeek-V3.2); its decoder layer uses the names above.
    {"model.layers.{L}.embed_tokens.weight", "blk.{L}.nextn.embed_tokens.weight"},
    {"model.layers.{L}.enorm.weight", "blk.{L}.nextn.enorm.weight"},
    {"model.layers.{L}.hnorm.weight", "blk.{L}.nextn.hnorm.weight"},
    {"model.layers.{L}.eh_proj.weight", "blk.{L}.nextn.eh_proj.weight"},
    {"model.layers.{L}.shared_head.norm.weight", "blk.{L}.nextn.shared_head_norm.weight"},
    {"model.layers.{L}.shared_head.head.weight", "blk.{L}.nextn.shared_head_head.weight"},
};

std::vector<Rule>& ExtraRules() {
  static std::vector<Rule> rules;
  return rules;
}

// Every rule: the shared table, then those blocks registered.
template <class F>
bool ForEachRule(F f) {
  for (const Rule& r : kRules)
    if (f(r)) return true;
  for (const Rule& r : ExtraRules())
    if (f(r)) return true;
  return false;
}

struct Captures {
  int64_t layer = -1, expert = -1;
};

// Matches `s` against `pat` where {L} / {E} each stand for a decimal number (no sign, <= 9 digits).
bool Match(std::string_view pat, std::string_view s, Captures* cap) {
  size_t i = 0, j = 0;
  while (i < pat.size()) {
    if (pat[i] == '{') {
      const char which = pat[i + 1];
      i += 3;
      size_t start = j;
      int64_t v = 0;
      while (j < s.size() && s[j] >= '0' && s[j] <= '9' && j - start < 9) v = v * 10 + (s[j++] - '0');
      if (j == start || (j - start > 1 && s[start] == '0')) return false;
      (which == 'L' ? cap->layer : cap->expert) = v;
    } else {
      if (j >= s.size() || s[j] != pat[i]) return false;
      ++i;
      ++j;
    }
  }
  return j == s.size();
}

std::string Fill(std::string_view pat, const Captures& cap, bool keep_expert_placeholder) {
  std::string out;
  for (size_t i = 0; i < pat.size(); ++i) {
    if (pat[i] == '{') {
      const char which = pat[i + 1];
      i += 2;
      if (which == 'L') out += std::to_string(cap.layer);
      else if (keep_expert_placeholder) out += "{E}";
      else out += std::to_string(cap.expert);
    } else {
      out += pat[i];
    }
  }
  return out;
}

}  // namespace

GgufNameRegistrar::GgufNameRegistrar(std::initializer_list<std::pair<const char*, const char*>> hf_to_gguf) {
  for (const auto& [hf, gguf] : hf_to_gguf) ExtraRules().push_back(Rule{hf, gguf});
}

std::optional<GgufName> HfToGgufName(const std::string& hf) {
  std::optional<GgufName> out;
  ForEachRule([&](const Rule& r) {
    Captures cap;
    if (!Match(r.hf, hf, &cap)) return false;
    out = GgufName{Fill(r.gguf, cap, false), cap.expert, false};
    return true;
  });
  return out;
}

std::optional<GgufName> GgufToHfName(const std::string& gguf) {
  std::optional<GgufName> out;
  ForEachRule([&](const Rule& r) {
    Captures cap;
    if (!Match(r.gguf, gguf, &cap)) return false;
    GgufName g;
    g.stacked = std::string_view(r.hf).find("{E}") != std::string_view::npos;
    g.name = Fill(r.hf, cap, true);
    out = g;
    return true;
  });
  return out;
}

std::string ExpertName(const std::string& pattern, int64_t e) {
  std::string out = pattern;
  size_t p = out.find("{E}");
  if (p != std::string::npos) out.replace(p, 3, std::to_string(e));
  return out;
}

std::string GgufArchitecture(const ModelConfig& c) {
  const ArchSpec* spec = FindArchitecture(c);
  return spec ? spec->gguf_arch : "";
}

}  // namespace qs
