// DeepSeek-V2 / V2-Lite / V3 / R1 / V3.1 (DeepseekV2ForCausalLM, DeepseekV3ForCausalLM; llama.cpp
// `deepseek2`). Reference: deepseek-ai/DeepSeek-V3 inference/model.py (and HF
// modeling_deepseek.py for V2). Layers: MLA attention (blocks/mla.h), dense SwiGLU below
// first_k_dense_replace, DeepSeekMoE above (blocks/moe.h). Every other difference between the
// releases (routing rule, q LoRA, YaRN, shared experts) is a config value.
#include "model/arch/deepseek.h"

#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "model/blocks/mla.h"
#include "model/blocks/moe.h"
#include "model/config_reader.h"

namespace qs {

Status CheckDeepSeek(const ModelConfig& c) {
  if (!c.is_mla())
    return InvalidArgument(c.architecture + ": config.json has no kv_lora_rank; DeepSeek-V2/V3 use Multi-head Latent Attention");
  return Status::Ok();
}

std::unique_ptr<FfnBlock> DeepSeekFfn(const ModelConfig& c, int64_t layer, const std::string& prefix) {
  if (c.is_moe_layer(layer)) return std::make_unique<MoeBlock>(c, prefix + "mlp.");
  return std::make_unique<DenseFfnBlock>(c, prefix + "mlp.");
}

Status ReadDeepSeekGguf(const GgufFile& g, const std::string& A, ModelConfig* cp) {
  ModelConfig& c = *cp;
  auto req = [&](const std::string& k) { return g.GetInt(A + k); };
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
    c.topk_method = TopkMethod::kNoauxTc;
  } else {
    c.topk_method = c.n_group > 1 ? TopkMethod::kGroupLimitedGreedy : TopkMethod::kGreedy;
    c.moe_scale_only_if_not_normalized = true;  // V2's rule (HF modeling_deepseek.py V2)
  }
  QS_ASSIGN_OR_RETURN(c.num_nextn_predict_layers, g.GetIntOr(A + "nextn_predict_layers", 0));
  return Status::Ok();
}

void WriteDeepSeekGguf(const ModelConfig& c, const std::string& A, GgufWriter* w) {
  // DeepseekV2Model.set_gguf_parameters
  auto u32 = [&](const std::string& k, int64_t v) { w->SetU32(A + k, static_cast<uint32_t>(v)); };
  u32("leading_dense_block_count", c.first_k_dense_replace);
  u32("vocab_size", c.vocab_size);
  if (c.q_lora_rank > 0) u32("attention.q_lora_rank", c.q_lora_rank);
  u32("attention.kv_lora_rank", c.kv_lora_rank);
  u32("attention.key_length", c.qk_nope_head_dim + c.qk_rope_head_dim);
  u32("attention.value_length", c.v_head_dim);
  u32("expert_feed_forward_length", c.moe_intermediate_size);
  u32("expert_count", c.n_routed_experts);
  u32("expert_shared_count", c.n_shared_experts);
  w->SetF32(A + "expert_weights_scale", static_cast<float>(c.routed_scaling_factor));
  w->SetBool(A + "expert_weights_norm", c.norm_topk_prob);
  u32("expert_gating_func", c.scoring_func == ScoringFunc::kSigmoid ? 2 : 1);
  // Newer llama.cpp: group-limited routing (n_group / topk_group); b4747 ignored the groups.
  if (c.n_group > 1) {
    u32("expert_group_count", c.n_group);
    u32("expert_group_used_count", c.topk_group);
  }
  u32("rope.dimension_count", c.qk_rope_head_dim);
}

namespace {

LayerBlocks MakeLayer(const ModelConfig& c, int64_t layer, const std::string& prefix) {
  LayerBlocks b;
  b.attn = std::make_unique<MlaBlock>(c, prefix + "self_attn.");
  b.ffn = DeepSeekFfn(c, layer, prefix);
  return b;
}

Status ReadGgufV2V3(const GgufFile& g, const std::string& A, ModelConfig* c) {
  QS_RETURN_IF_ERROR(ReadDeepSeekGguf(g, A, c));
  // The GGUF does not name the release; sigmoid (noaux_tc) gating is V3's.
  c->architecture = c->scoring_func == ScoringFunc::kSigmoid ? "DeepseekV3ForCausalLM" : "DeepseekV2ForCausalLM";
  c->model_type = c->scoring_func == ScoringFunc::kSigmoid ? "deepseek_v3" : "deepseek_v2";
  return Status::Ok();
}

const ArchSpec kV3 = {
    .hf_architectures = {"DeepseekV3ForCausalLM"},
    .model_types = {"deepseek_v3"},
    .gguf_arch = "deepseek2",
    .chat_family = "deepseek-v3",
    .read_config = nullptr,
    .read_gguf = ReadGgufV2V3,
    .write_gguf = WriteDeepSeekGguf,
    .check = CheckDeepSeek,
    .make_layer = MakeLayer,
};

const ArchSpec kV2 = {
    .hf_architectures = {"DeepseekV2ForCausalLM"},
    .model_types = {"deepseek_v2"},
    .gguf_arch = "deepseek2",
    .chat_family = "deepseek-v2",
    .read_config = [](ConfigReader&, ModelConfig* c) { c->moe_scale_only_if_not_normalized = true; },
    .read_gguf = ReadGgufV2V3,
    .write_gguf = WriteDeepSeekGguf,
    .check = CheckDeepSeek,
    .make_layer = MakeLayer,
};

const ArchRegistrar kRegV3(&kV3), kRegV2(&kV2);

}  // namespace

const ArchSpec& DeepSeekV3Spec() { return kV3; }

}  // namespace qs
