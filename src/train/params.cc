#include "train/params.h"

#include <cmath>

#include "model/arch/deepseek.h"

namespace qs::train {

namespace {

struct Builder {
  Layout* L;
  int64_t Add(const std::string& name, std::vector<int64_t> shape, ParamInfo::Init init, double std = 0.02,
              bool trainable = true) {
    ParamInfo p;
    p.name = name;
    p.shape = std::move(shape);
    p.size = 1;
    for (int64_t s : p.shape) p.size *= s;
    p.offset = L->total;
    p.init = init;
    p.std = std;
    p.trainable = trainable;
    p.decay = trainable && p.shape.size() == 2;
    L->total += p.size;
    L->index[p.name] = L->params.size();
    L->params.push_back(std::move(p));
    return L->params.back().offset;
  }
  int64_t Mat(const std::string& n, int64_t rows, int64_t cols, double std = 0.02) {
    return Add(n, {rows, cols}, ParamInfo::kNormal, std);
  }
  int64_t Norm(const std::string& n, int64_t d) { return Add(n, {d}, ParamInfo::kOnes); }

  FfnOff Ffn(const std::string& p, int64_t D, int64_t I, double out_std) {
    FfnOff f;
    f.inter = I;
    f.gate = Mat(p + "gate_proj.weight", I, D);
    f.up = Mat(p + "up_proj.weight", I, D);
    f.down = Mat(p + "down_proj.weight", D, I, out_std);
    return f;
  }

  // One decoder layer, tensors in model/blocks/mla.cc and moe.cc's walk order.
  LayerOff Layer(const ModelConfig& c, int64_t l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const int64_t D = c.hidden_size, H = c.num_attention_heads, dqk = c.qk_head_dim();
    // Residual-branch outputs scaled down by depth (GPT-2 / llm.c) so the stream stays O(1).
    const double out_std = 0.02 / std::sqrt(2.0 * static_cast<double>(c.num_hidden_layers + 1));
    LayerOff o;
    o.attn_norm = Norm(p + "input_layernorm.weight", D);
    const std::string a = p + "self_attn.";
    if (c.q_lora_rank > 0) {
      o.mla.q_a = Mat(a + "q_a_proj.weight", c.q_lora_rank, D);
      o.mla.q_a_norm = Norm(a + "q_a_layernorm.weight", c.q_lora_rank);
      o.mla.q_b = Mat(a + "q_b_proj.weight", H * dqk, c.q_lora_rank);
    } else {
      o.mla.q_proj = Mat(a + "q_proj.weight", H * dqk, D);
    }
    o.mla.kv_a = Mat(a + "kv_a_proj_with_mqa.weight", c.kv_lora_rank + c.qk_rope_head_dim, D);
    o.mla.kv_a_norm = Norm(a + "kv_a_layernorm.weight", c.kv_lora_rank);
    o.mla.kv_b = Mat(a + "kv_b_proj.weight", H * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank);
    o.mla.o = Mat(a + "o_proj.weight", D, H * c.v_head_dim, out_std);
    o.ffn_norm = Norm(p + "post_attention_layernorm.weight", D);
    const std::string m = p + "mlp.";
    o.moe = c.is_moe_layer(l);
    if (!o.moe) {
      o.dense = Ffn(m, D, c.intermediate_size, out_std);
      return o;
    }
    o.moe_w.router = Mat(m + "gate.weight", c.n_routed_experts, D);
    o.moe_w.bias = Add(m + "gate.e_score_correction_bias", {c.n_routed_experts}, ParamInfo::kZeros, 0, false);
    for (int64_t e = 0; e < c.n_routed_experts; ++e)
      o.moe_w.experts.push_back(Ffn(m + "experts." + std::to_string(e) + ".", D, c.moe_intermediate_size, out_std));
    if (c.n_shared_experts > 0)
      o.moe_w.shared = Ffn(m + "shared_experts.", D, c.moe_intermediate_size * c.n_shared_experts, out_std);
    return o;
  }
};

uint64_t SplitMix(uint64_t* s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

Layout BuildLayout(const ModelConfig& c) {
  Layout L;
  Builder b{&L};
  const int64_t D = c.hidden_size, V = c.vocab_size;
  L.embed = b.Mat("model.embed_tokens.weight", V, D);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) L.layers.push_back(b.Layer(c, l));
  L.norm = b.Norm("model.norm.weight", D);
  L.head = b.Mat("lm_head.weight", V, D);
  for (int64_t j = 0; j < c.num_nextn_predict_layers; ++j) {
    const int64_t l = c.num_hidden_layers + j;
    const std::string p = "model.layers." + std::to_string(l) + ".";
    MtpOff m;
    m.enorm = b.Norm(p + "enorm.weight", D);
    m.hnorm = b.Norm(p + "hnorm.weight", D);
    m.eh_proj = b.Mat(p + "eh_proj.weight", D, 2 * D);
    m.layer = b.Layer(c, l);
    m.head_norm = b.Norm(p + "shared_head.norm.weight", D);
    L.mtp.push_back(std::move(m));
  }
  return L;
}

ModelConfig MakeTrainConfig(const Dims& d) {
  ModelConfig c;
  const ArchSpec& spec = DeepSeekV3Spec();
  c.architecture = spec.hf_architectures[0];
  c.model_type = spec.model_types[0];
  c.vocab_size = d.vocab;
  c.hidden_size = d.hidden;
  c.intermediate_size = d.inter;
  c.moe_intermediate_size = d.moe_inter;
  c.num_hidden_layers = d.layers;
  c.num_attention_heads = d.heads;
  c.num_key_value_heads = d.heads;
  c.max_position_embeddings = d.max_pos;
  c.rms_norm_eps = 1e-6;
  c.q_lora_rank = d.q_lora;
  c.kv_lora_rank = d.kv_lora;
  c.qk_nope_head_dim = d.nope;
  c.qk_rope_head_dim = d.rope;
  c.v_head_dim = d.v_dim;
  c.n_routed_experts = d.experts;
  c.n_shared_experts = d.shared;
  c.num_experts_per_tok = d.topk;
  c.n_group = 1;
  c.topk_group = 1;
  c.topk_method = TopkMethod::kNoauxTc;
  c.scoring_func = ScoringFunc::kSigmoid;
  c.routed_scaling_factor = 1.0;
  c.norm_topk_prob = true;
  c.first_k_dense_replace = d.dense_layers;
  c.moe_layer_freq = 1;
  c.num_nextn_predict_layers = d.mtp;
  c.bos_token_id = 0;
  c.eos_token_id = 1;
  return c;
}

Status CheckTrainConfig(const ModelConfig& c) {
  // Bounds first, so no size computed from them can overflow.
  for (int64_t d : {c.vocab_size, c.hidden_size, c.intermediate_size, c.moe_intermediate_size, c.q_lora_rank,
                    c.kv_lora_rank, c.qk_nope_head_dim, c.qk_rope_head_dim, c.v_head_dim})
    if (d < 0 || d > (int64_t{1} << 20)) return InvalidArgument("train: every dimension must be within 0..1048576");
  if (c.num_hidden_layers > 1024 || c.num_attention_heads > 1024 || c.n_routed_experts > 4096 ||
      c.n_shared_experts > 64 || c.first_k_dense_replace > c.num_hidden_layers)
    return InvalidArgument("train: at most 1024 layers and heads, 4096 experts, 64 shared; dense layers <= layers");
  if (c.vocab_size < 2 || c.hidden_size < 2 || c.num_hidden_layers < 1 || c.num_attention_heads < 1)
    return InvalidArgument("train: vocab, hidden, layers and heads must be positive");
  if (c.kv_lora_rank < 1 || c.qk_nope_head_dim < 1 || c.v_head_dim < 1 || c.qk_rope_head_dim < 2 ||
      c.qk_rope_head_dim % 2 != 0)
    return InvalidArgument("train: MLA needs kv_lora, nope, v dims >= 1 and an even rope dim >= 2");
  if (c.n_routed_experts > 0 && (c.num_experts_per_tok < 1 || c.num_experts_per_tok > c.n_routed_experts))
    return InvalidArgument("train: top-k must be within 1..experts");
  if (c.n_routed_experts > 0 && c.moe_intermediate_size < 1)
    return InvalidArgument("train: MoE layers need moe_intermediate_size >= 1");
  if (c.first_k_dense_replace > 0 && c.intermediate_size < 1)
    return InvalidArgument("train: dense layers need intermediate_size >= 1");
  if (c.num_nextn_predict_layers > 1) return InvalidArgument("train: at most one MTP module");
  if (c.rope.scaling != RopeScaling::kNone) return InvalidArgument("train: RoPE scaling is not supported");
  return Status::Ok();
}

double TrainFlopsPerToken(const ModelConfig& c, const Layout& L, int64_t S) {
  double macs = 0;
  const double routed_share =
      c.n_routed_experts > 0 ? static_cast<double>(c.num_experts_per_tok) / static_cast<double>(c.n_routed_experts) : 0;
  for (const ParamInfo& p : L.params) {
    if (p.shape.size() != 2 || p.offset == L.embed) continue;  // the embedding is a lookup
    const bool routed = p.name.find(".mlp.experts.") != std::string::npos;
    macs += static_cast<double>(p.size) * (routed ? routed_share : 1.0);
  }
  macs += static_cast<double>(c.vocab_size * c.hidden_size) * static_cast<double>(L.mtp.size());  // MTP's head
  const double layers = static_cast<double>(L.layers.size() + L.mtp.size());
  macs += layers * static_cast<double>(S + 1) / 2.0 * static_cast<double>(c.num_attention_heads) *
          static_cast<double>(c.qk_head_dim() + c.v_head_dim);
  return 6.0 * macs;
}

template <class T>
void InitParams(const Layout& L, uint64_t seed, std::vector<T>* w) {
  w->assign(static_cast<size_t>(L.total), T(0));
  for (size_t i = 0; i < L.params.size(); ++i) {
    const ParamInfo& p = L.params[i];
    T* d = w->data() + p.offset;
    if (p.init == ParamInfo::kOnes) {
      for (int64_t j = 0; j < p.size; ++j) d[j] = T(1);
    } else if (p.init == ParamInfo::kNormal) {
      // One stream per tensor (seed, index): adding a tensor does not reshuffle the others.
      uint64_t s = seed * 0x100000001B3ull + i;
      for (int64_t j = 0; j < p.size; j += 2) {
        const double u1 = (static_cast<double>(SplitMix(&s) >> 11) + 0.5) * 0x1.0p-53;
        const double u2 = static_cast<double>(SplitMix(&s) >> 11) * 0x1.0p-53;
        const double r = std::sqrt(-2.0 * std::log(u1)) * p.std;
        d[j] = static_cast<T>(r * std::cos(2 * M_PI * u2));
        if (j + 1 < p.size) d[j + 1] = static_cast<T>(r * std::sin(2 * M_PI * u2));
      }
    }
  }
}

template void InitParams<float>(const Layout&, uint64_t, std::vector<float>*);
template void InitParams<double>(const Layout&, uint64_t, std::vector<double>*);

}  // namespace qs::train
