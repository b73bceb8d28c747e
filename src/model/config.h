// Model hyper-parameters, read from a Hugging Face config.json (keys as DeepSeek releases them).
// Config is data: the forward pass reads these fields, it never switches on model names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace qs {

enum class ScoringFunc { kSoftmax, kSigmoid, kSqrtSoftplus };  // sqrt(softplus(x)): DeepSeek-V4 model.py Gate
enum class TopkMethod { kGreedy, kGroupLimitedGreedy, kNoauxTc };
enum class RopeScaling { kNone, kYarn, kLinear, kLlama3 };

struct RopeConfig {
  double theta = 10000.0;
  RopeScaling scaling = RopeScaling::kNone;
  double factor = 1.0;
  int64_t original_max_position = 0;  // rope_scaling.original_max_position_embeddings
  double beta_fast = 32.0, beta_slow = 1.0;
  double mscale = 1.0, mscale_all_dim = 0.0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3
  // GGUF llama3 scaling: llama.cpp's `rope_freqs.weight` divisors (one per frequency pair), used
  // instead of the formula when non-empty.
  std::vector<float> freq_divisors;
};

struct ModelConfig {
  std::string model_type;    // deepseek_v3, deepseek_v2, ...
  std::string architecture;  // architectures[0], e.g. DeepseekV3ForCausalLM
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t moe_intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  int64_t bos_token_id = -1, eos_token_id = -1;

  // Dense GQA attention (Qwen2 / Llama: R1-Distill, DeepSeek-LLM, DeepSeek-Coder).
  int64_t head_dim = 0;         // config `head_dim`, default hidden_size / num_attention_heads
  bool attention_bias = false;  // q/k/v biases (Qwen2 always; Llama `attention_bias`)
  // Rope pairs: false = half-split (HF Llama/Qwen2 layout), true = adjacent pairs (llama.cpp
  // `llama` GGUFs, whose converter permuted the Q/K rows to that order). MLA always uses pairs.
  bool rope_interleaved = false;

  // Multi-head Latent Attention (DeepSeek-V2 paper §2.1).
  int64_t q_lora_rank = 0;  // 0: plain q_proj (config null)
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;

  // DeepSeekMoE (DeepSeek-V2 §2.2, V3 §2.1.2).
  int64_t n_routed_experts = 0;
  int64_t n_shared_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t n_group = 1;
  int64_t topk_group = 1;
  TopkMethod topk_method = TopkMethod::kGreedy;
  ScoringFunc scoring_func = ScoringFunc::kSoftmax;
  double routed_scaling_factor = 1.0;
  bool norm_topk_prob = false;
  int64_t first_k_dense_replace = 0;
  int64_t moe_layer_freq = 1;
  int64_t num_nextn_predict_layers = 0;

  RopeConfig rope;

  // DeepSeek Sparse Attention's lightning indexer (V3.2: config keys index_n_heads,
  // index_head_dim, index_topk; read by its architecture spec). topk 0: no indexer.
  int64_t index_n_heads = 0, index_head_dim = 0, index_topk = 0;

  // DeepSeek-V4 (its spec reads these; model/arch/deepseek_v4.cc, fixture README for the meaning).
  // compress_ratios[l]: 0 = sliding window only, 4 = CSA (overlapping compressor + indexer),
  // other = HCA; num_hidden_layers + num_nextn_predict_layers entries (MTP last).
  std::vector<int64_t> compress_ratios;
  int64_t sliding_window = 0;
  int64_t hc_mult = 0, hc_sinkhorn_iters = 0;
  double hc_eps = 1e-6;
  int64_t num_hash_layers = 0;
  int64_t o_groups = 0, o_lora_rank = 0;
  double swiglu_limit = 0.0;           // 0: no clamp
  double compress_rope_theta = 0.0;
  // The in-model FP8 (KV non-rope dims) / FP4 (indexer q, k) round trips that are part of V4's
  // outputs (quantisation-aware training). Off only to compare with the reference's
  // `logits_noqsim` debug output; runtime switch QIUSUO_V4_NO_QSIM=1 is read by the spec.
  bool v4_qsim = true;

  // Feature flags: behaviour differences between releases, set by the architecture spec
  // (model/arch/) from what the family's reference code does; blocks read these, never names.
  // HF DeepseekV2's MoE multiplies routed weights by routed_scaling_factor only when it does not
  // renormalise them (modeling_deepseek.py V2); V3 and model.py always scale.
  bool moe_scale_only_if_not_normalized = false;

  // quantization_config (fp8 block quantisation of the official V3/R1 release).
  bool fp8 = false;
  int64_t fp8_block_rows = 128, fp8_block_cols = 128;

  bool is_mla() const { return kv_lora_rank > 0; }
  bool is_moe_layer(int64_t layer) const {
    return n_routed_experts > 0 && layer >= first_k_dense_replace &&
           (moe_layer_freq <= 1 || layer % moe_layer_freq == 0);
  }
  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
};

// The consistency checks ParseModelConfig applies (also used for configs read from GGUF).
Status ValidateModelConfig(const ModelConfig& c, const std::string& file);

// Parses config.json text. `file` names the file in errors. Checks the values for consistency
// (positive sizes, top-k within the expert count, groups dividing the experts, ...).
Result<ModelConfig> ParseModelConfig(const std::string& json_text, const std::string& file);
Result<ModelConfig> LoadModelConfig(const std::string& path);

const char* ToString(ScoringFunc f);
const char* ToString(TopkMethod m);
const char* ToString(RopeScaling s);

}  // namespace qs
