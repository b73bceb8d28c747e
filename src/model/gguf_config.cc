#include "model/gguf_config.h"

#include <cmath>
#include <cstring>

#include "model/gguf_names.h"

namespace qs {

namespace {

// HF architecture names for llama.cpp's: the registry and the forward pass key on these.
struct ArchMap {
  const char* gguf;
  const char* hf;
  const char* model_type;
};
constexpr ArchMap kArchs[] = {
    {"qwen2", "Qwen2ForCausalLM", "qwen2"},
    {"llama", "LlamaForCausalLM", "llama"},
    {"deepseek2", "DeepseekV2ForCausalLM", "deepseek_v2"},  // V3 when the gating is sigmoid (below)
};

}  // namespace

Result<ModelConfig> ConfigFromGguf(const GgufFile& g) {
  QS_ASSIGN_OR_RETURN(std::string arch, g.GetString("general.architecture"));
  const ArchMap* am = nullptr;
  for (const auto& a : kArchs)
    if (arch == a.gguf) am = &a;
  if (!am)
    return Unsupported(g.path() + ": general.architecture '" + arch +
                       "' is not supported (supported: qwen2, llama, deepseek2)");
  const std::string A = arch + ".";
  ModelConfig c;
  c.architecture = am->hf;
  c.model_type = am->model_type;

  auto req = [&](const std::string& k) { return g.GetInt(A + k); };
  QS_ASSIGN_OR_RETURN(c.num_hidden_layers, req("block_count"));
  QS_ASSIGN_OR_RETURN(c.hidden_size, req("embedding_length"));
  QS_ASSIGN_OR_RETURN(c.num_attention_heads, req("attention.head_count"));
  QS_ASSIGN_OR_RETURN(c.num_key_value_heads, g.GetIntOr(A + "attention.head_count_kv", c.num_attention_heads));
  QS_ASSIGN_OR_RETURN(c.max_position_embeddings, g.GetIntOr(A + "context_length", 4096));
  QS_ASSIGN_OR_RETURN(c.intermediate_size, g.GetIntOr(A + "feed_forward_length", 0));
  QS_ASSIGN_OR_RETURN(c.rms_norm_eps, g.GetFloat(A + "attention.layer_norm_rms_epsilon"));
  QS_ASSIGN_OR_RETURN(c.rope.theta, g.GetFloatOr(A + "rope.freq_base", 10000.0));

  // Vocabulary: the key if present, else the embedding's row count (token_embd ne[1]).
  int64_t vocab = 0;
  if (g.Find(A + "vocab_size")) {
    QS_ASSIGN_OR_RETURN(vocab, g.GetInt(A + "vocab_size"));
  } else if (const GgufTensorInfo* t = g.FindTensor("token_embd.weight"); t && t->ne.size() == 2) {
    vocab = t->ne[1];
  } else if (const GgufValue* v = g.Find("tokenizer.ggml.tokens"); v && v->IsArrayOf(GgufValueType::kString)) {
    vocab = static_cast<int64_t>(v->array_len);
  }
  c.vocab_size = vocab;
  c.tie_word_embeddings = g.FindTensor("output.weight") == nullptr;
  QS_ASSIGN_OR_RETURN(c.bos_token_id, g.GetIntOr("tokenizer.ggml.bos_token_id", -1));
  QS_ASSIGN_OR_RETURN(c.eos_token_id, g.GetIntOr("tokenizer.ggml.eos_token_id", -1));

  // Rope scaling as the metadata says (linear / yarn); llama3 travels as rope_freqs.weight.
  if (const GgufValue* t = g.Find(A + "rope.scaling.type")) {
    if (t->type != GgufValueType::kString) return InvalidArgument(g.path() + ": " + A + "rope.scaling.type must be a string");
    const std::string type(t->str);
    QS_ASSIGN_OR_RETURN(c.rope.factor, g.GetFloatOr(A + "rope.scaling.factor", 1.0));
    QS_ASSIGN_OR_RETURN(c.rope.original_max_position,
                        g.GetIntOr(A + "rope.scaling.original_context_length", c.max_position_embeddings));
    if (type == "none") c.rope.scaling = RopeScaling::kNone;
    else if (type == "linear") c.rope.scaling = RopeScaling::kLinear;
    else if (type == "yarn") c.rope.scaling = RopeScaling::kYarn;
    else return Unsupported(g.path() + ": " + A + "rope.scaling.type '" + type + "' is not supported (none, linear, yarn)");
    QS_ASSIGN_OR_RETURN(c.rope.beta_fast, g.GetFloatOr(A + "rope.scaling.yarn_beta_fast", 32.0));
    QS_ASSIGN_OR_RETURN(c.rope.beta_slow, g.GetFloatOr(A + "rope.scaling.yarn_beta_slow", 1.0));
    // convert_hf_to_gguf writes yarn_log_multiplier = 0.1 * mscale_all_dim; llama.cpp leaves
    // cos/sin unscaled, i.e. mscale == mscale_all_dim (true of every DeepSeek release).
    QS_ASSIGN_OR_RETURN(double mult, g.GetFloatOr(A + "rope.scaling.yarn_log_multiplier", 0.0));
    c.rope.mscale_all_dim = mult / 0.1;
    c.rope.mscale = c.rope.mscale_all_dim;
  }
  if (const GgufTensorInfo* rf = g.FindTensor("rope_freqs.weight")) {
    if (rf->type != GgmlType::F32 || rf->ne.size() != 1)
      return InvalidArgument(g.path() + ": tensor 'rope_freqs.weight' must be a 1-D F32 tensor");
    c.rope.freq_divisors.resize(static_cast<size_t>(rf->ne[0]));
    std::memcpy(c.rope.freq_divisors.data(), rf->data, c.rope.freq_divisors.size() * 4);
  }

  if (arch == "deepseek2") {
    QS_ASSIGN_OR_RETURN(c.q_lora_rank, g.GetIntOr(A + "attention.q_lora_rank", 0));
    QS_ASSIGN_OR_RETURN(c.kv_lora_rank, req("attention.kv_lora_rank"));
    QS_ASSIGN_OR_RETURN(c.qk_rope_head_dim, req("rope.dimension_count"));
    // Newer converters store the MQA view (key_length = kv_lora + rope, one kv head) and put the
    // per-head sizes in *_mla keys; older ones store the per-head sizes in key/value_length.
    int64_t key_len = 0, val_len = 0;
    if (g.Find(A + "attention.key_length_mla")) {
      QS_ASSIGN_OR_RETURN(key_len, g.GetInt(A + "attention.key_length_mla"));
      QS_ASSIGN_OR_RETURN(val_len, g.GetInt(A + "attention.value_length_mla"));
    } else {
      QS_ASSIGN_OR_RETURN(key_len, req("attention.key_length"));
      QS_ASSIGN_OR_RETURN(val_len, req("attention.value_length"));
    }
    c.qk_nope_head_dim = key_len - c.qk_rope_head_dim;
    c.v_head_dim = val_len;
    c.num_key_value_heads = c.num_attention_heads;  // MLA: every head has its own key (absorbed)
    QS_ASSIGN_OR_RETURN(c.first_k_dense_replace, g.GetIntOr(A + "leading_dense_block_count", 0));
    QS_ASSIGN_OR_RETURN(c.moe_intermediate_size, g.GetIntOr(A + "expert_feed_forward_length", 0));
    QS_ASSIGN_OR_RETURN(c.n_routed_experts, g.GetIntOr(A + "expert_count", 0));
    QS_ASSIGN_OR_RETURN(c.n_shared_experts, g.GetIntOr(A + "expert_shared_count", 0));
    QS_ASSIGN_OR_RETURN(c.num_experts_per_tok, g.GetIntOr(A + "expert_used_count", 0));
    QS_ASSIGN_OR_RETURN(c.routed_scaling_factor, g.GetFloatOr(A + "expert_weights_scale", 1.0));
    if (g.Find(A + "expert_weights_norm")) {
      QS_ASSIGN_OR_RETURN(c.norm_topk_prob, g.GetBool(A + "expert_weights_norm"));
    }
    QS_ASSIGN_OR_RETURN(int64_t gating, g.GetIntOr(A + "expert_gating_func", 1));  // 1 softmax, 2 sigmoid
    if (gating != 1 && gating != 2)
      return Unsupported(g.path() + ": " + A + "expert_gating_func = " + std::to_string(gating) + " (1 softmax, 2 sigmoid)");
    c.scoring_func = gating == 2 ? ScoringFunc::kSigmoid : ScoringFunc::kSoftmax;
    QS_ASSIGN_OR_RETURN(c.n_group, g.GetIntOr(A + "expert_group_count", 1));
    QS_ASSIGN_OR_RETURN(c.topk_group, g.GetIntOr(A + "expert_group_used_count", c.n_group));
    if (gating == 2) {
      // Sigmoid gating with the score-correction bias is DeepSeek-V3's noaux_tc routing.
      c.architecture = "DeepseekV3ForCausalLM";
      c.model_type = "deepseek_v3";
      c.topk_method = TopkMethod::kNoauxTc;
    } else {
      c.topk_method = c.n_group > 1 ? TopkMethod::kGroupLimitedGreedy : TopkMethod::kGreedy;
    }
    QS_ASSIGN_OR_RETURN(c.num_nextn_predict_layers, g.GetIntOr(A + "nextn_predict_layers", 0));
  } else {
    c.attention_bias = g.FindTensor("blk.0.attn_q.bias") != nullptr;
    const int64_t def_hd = c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0;
    QS_ASSIGN_OR_RETURN(c.head_dim, g.GetIntOr(A + "attention.key_length", def_hd));
    QS_ASSIGN_OR_RETURN(int64_t vlen, g.GetIntOr(A + "attention.value_length", c.head_dim));
    if (vlen != c.head_dim)
      return Unsupported(g.path() + ": " + A + "attention.value_length differs from key_length");
    QS_ASSIGN_OR_RETURN(int64_t rope_dim, g.GetIntOr(A + "rope.dimension_count", c.head_dim));
    if (rope_dim != c.head_dim)
      return Unsupported(g.path() + ": partial rotary embeddings (" + A + "rope.dimension_count " + std::to_string(rope_dim) +
                         " < head dim " + std::to_string(c.head_dim) + ") are not supported");
    // llama.cpp's `llama` uses rope type NORM (adjacent pairs) and its converter permuted the
    // Q/K rows into that order; `qwen2` uses NEOX (half-split) on unpermuted rows.
    c.rope_interleaved = arch == "llama";
  }
  QS_RETURN_IF_ERROR(ValidateModelConfig(c, g.path()));
  return c;
}

}  // namespace qs
