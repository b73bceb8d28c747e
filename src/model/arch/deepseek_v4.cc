// DeepSeek-V4 (DeepseekV4ForCausalLM, model_type deepseek_v4: V4-Flash, V4-Pro). Reference:
// deepseek-ai/DeepSeek-V4-Flash inference/model.py; semantics and the conformance data in
// fixtures/deepseek-v4-golden/README.md. Per layer a window+sink MQA attention with, by
// compress_ratios[layer], no compression (0), CSA (4: overlapping compressor + lightning indexer)
// or HCA (else: compressor, every block); MoE on every layer (hash-routed on the first
// num_hash_layers); hyper-connection residual streams, so the model is composed by
// blocks/v4_model.h (ArchSpec::make_model) rather than the single-stream transformer.
// Checkpoint names have no "model." prefix (layers.N.attn.wq_a.weight, embed.weight, head.weight,
// MTP under mtp.0.); FP8 weights carry `.scale` F8_E8M0 128x128 blocks, routed experts packed FP4.
// No GGUF form yet: llama.cpp has one (`deepseek4`, src/llama-arch.cpp LLM_ARCH_DEEPSEEK4), whose
// tensor names and keys are not mapped here (docs/ARCHITECTURE.md).
#include "model/arch/arch.h"
#include "model/blocks/v4_model.h"
#include "model/config_reader.h"

namespace qs {

namespace {

void ReadConfig(ConfigReader& r, ModelConfig* c) {
  c->sliding_window = r.Int("sliding_window", 128);
  c->hc_mult = r.Int("hc_mult", 4);
  c->hc_sinkhorn_iters = r.Int("hc_sinkhorn_iters", 20);
  c->hc_eps = r.Float("hc_eps", 1e-6);
  c->num_hash_layers = r.Int("num_hash_layers", 0);
  c->o_groups = r.Int("o_groups", 0, true);
  c->o_lora_rank = r.Int("o_lora_rank", 0, true);
  c->swiglu_limit = r.Float("swiglu_limit", 0.0);
  c->compress_rope_theta = r.Float("compress_rope_theta", c->rope.theta);
  c->index_n_heads = r.Int("index_n_heads", 0);
  c->index_head_dim = r.Int("index_head_dim", 0);
  c->index_topk = r.Int("index_topk", 0);
  // One entry per layer, the MTP layers last (README 1); missing entries are an error in Check.
  c->compress_ratios = r.IntList("compress_ratios");
}

Status Check(const ModelConfig& c) {
  auto bad = [&](const std::string& m) { return InvalidArgument(c.architecture + ": " + m); };
  if (c.num_key_value_heads != 1) return bad("one shared KV head is expected (num_key_value_heads 1)");
  if (c.q_lora_rank <= 0 || c.q_lora_rank > (1 << 16)) return bad("q_lora_rank is out of range");
  if (c.qk_rope_head_dim <= 0 || c.qk_rope_head_dim % 2 || c.qk_rope_head_dim > c.head_dim)
    return bad("qk_rope_head_dim must be even and at most head_dim");
  if ((c.head_dim - c.qk_rope_head_dim) % 64 != 0) return bad("the non-rope KV dims must be whole FP8 blocks of 64");
  if (c.hc_mult <= 0 || c.hc_mult > 64) return bad("hc_mult is out of range");
  if (c.hc_sinkhorn_iters <= 0 || c.hc_sinkhorn_iters > 1000) return bad("hc_sinkhorn_iters is out of range");
  if (c.o_groups <= 0 || c.o_lora_rank <= 0 || c.o_lora_rank > (1 << 16) || (c.num_attention_heads * c.head_dim) % c.o_groups)
    return bad("o_groups must divide num_attention_heads * head_dim, o_lora_rank positive");
  // The cache keeps a ring of max(window, 2 ratio) + 256 positions per layer: bound both so a
  // hostile config cannot ask for gigabytes before the first token (released: 128 and 4 / 128).
  if (c.sliding_window <= 0 || c.sliding_window > (1 << 16)) return bad("sliding_window is out of range");
  if (c.n_routed_experts <= 0) return bad("every layer is MoE: n_routed_experts is required");
  if (c.n_shared_experts != 1) return bad("exactly one shared expert is expected");
  if (c.num_hash_layers < 0 || c.num_hash_layers > c.num_hidden_layers) return bad("num_hash_layers is out of range");
  if (c.swiglu_limit < 0) return bad("swiglu_limit must not be negative");
  if (c.scoring_func != ScoringFunc::kSqrtSoftplus) return bad("scoring_func sqrtsoftplus is expected");
  if (c.n_group > 1) return bad("expert groups are not used by this family");
  if (static_cast<int64_t>(c.compress_ratios.size()) < c.num_hidden_layers)
    return bad("compress_ratios needs an entry for each of the " + std::to_string(c.num_hidden_layers) + " layers");
  bool csa = false;
  for (int64_t l = 0; l < static_cast<int64_t>(c.compress_ratios.size()); ++l) {
    const int64_t r = c.compress_ratios[static_cast<size_t>(l)];
    if (r < 0 || r > (1 << 12)) return bad("compress_ratios entries must be in [0, 4096]");
    csa |= r == 4;
  }
  if (csa) {
    const int64_t d = c.index_head_dim;
    if (c.index_n_heads <= 0 || c.index_n_heads > 4096) return bad("index_n_heads is out of range");
    if (c.index_topk <= 0 || c.index_topk > (1 << 24)) return bad("index_topk is out of range");
    if (d <= 0 || d > 4096 || (d & (d - 1)) != 0 || d % 32 != 0 || d < c.qk_rope_head_dim)
      return bad("index_head_dim must be a power of two >= 32 (Hadamard, FP4 groups) and >= qk_rope_head_dim");
  }
  return Status::Ok();
}

const ArchSpec kV4 = {
    .hf_architectures = {"DeepseekV4ForCausalLM"},
    .model_types = {"deepseek_v4"},
    .gguf_arch = "",
    .chat_family = "deepseek-v4",  // src/chat detects the V4 protocol from the template (DSML in tool_calls)
    .read_config = ReadConfig,
    .check = Check,
    .make_model = MakeHcTransformer,
    .declare_tensors = DeclareHcTransformerTensors,
};

const ArchRegistrar kReg(&kV4);

}  // namespace

}  // namespace qs
