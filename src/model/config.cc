#include "model/config.h"
#include "model/arch/arch.h"
#include "model/config_reader.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "io/json_util.h"
#include "io/mapped_file.h"

namespace qs {

using Reader = ConfigReader;

const char* ToString(ScoringFunc f) {
  return f == ScoringFunc::kSigmoid ? "sigmoid" : f == ScoringFunc::kSqrtSoftplus ? "sqrtsoftplus" : "softmax";
}
const char* ToString(TopkMethod m) {
  switch (m) {
    case TopkMethod::kGreedy: return "greedy";
    case TopkMethod::kGroupLimitedGreedy: return "group_limited_greedy";
    default: return "noaux_tc";
  }
}
const char* ToString(RopeScaling s) {
  switch (s) {
    case RopeScaling::kYarn: return "yarn";
    case RopeScaling::kLinear: return "linear";
    case RopeScaling::kLlama3: return "llama3";
    default: return "none";
  }
}

static Result<ModelConfig> ParseModelConfigImpl(const std::string& text, const std::string& file);

Result<ModelConfig> ParseModelConfig(const std::string& text, const std::string& file) {
  // Every access below checks types first; the catch is a backstop so a missed check becomes an
  // error message, never a crash.
  try {
    return ParseModelConfigImpl(text, file);
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(file + ": unexpected value: " + e.what());
  }
}

static Result<ModelConfig> ParseModelConfigImpl(const std::string& text, const std::string& file) {
  json j;
  QS_RETURN_IF_ERROR(ParseJson(text, file, &j));
  if (!j.is_object()) return InvalidArgument(file + ": config is not a JSON object");
  Reader r(j, file);
  ModelConfig c;
  c.model_type = r.Str("model_type", "");
  if (auto it = j.find("architectures"); it != j.end() && !it->is_null()) {
    if (!it->is_array() || it->empty() || !(*it)[0].is_string())
      r.Fail("key 'architectures' must be a non-empty array of strings");
    else
      c.architecture = (*it)[0].get<std::string>();
  }
  c.vocab_size = r.Int("vocab_size", 0, true);
  c.hidden_size = r.Int("hidden_size", 0, true);
  c.intermediate_size = r.Int("intermediate_size", 0);
  c.moe_intermediate_size = r.Int("moe_intermediate_size", 0);
  c.num_hidden_layers = r.Int("num_hidden_layers", 0, true);
  c.num_attention_heads = r.Int("num_attention_heads", 0, true);
  c.num_key_value_heads = r.Int("num_key_value_heads", c.num_attention_heads);
  c.max_position_embeddings = r.Int("max_position_embeddings", 4096);
  c.rms_norm_eps = r.Float("rms_norm_eps", 1e-6);
  c.tie_word_embeddings = r.Bool("tie_word_embeddings", false);
  c.bos_token_id = r.Int("bos_token_id", -1);
  if (auto it = j.find("eos_token_id"); it != j.end() && it->is_array()) {
    c.eos_token_id = (!it->empty() && (*it)[0].is_number_integer()) ? (*it)[0].get<int64_t>() : -1;
  } else {
    c.eos_token_id = r.Int("eos_token_id", -1);
  }

  c.head_dim = r.Int("head_dim", 0);
  // Default false (Llama's `attention_bias`); a family whose projections always carry biases sets
  // it in its spec's read_config (arch/dense.cc).
  c.attention_bias = r.Bool("attention_bias", false);
  if (r.Bool("mlp_bias", false)) r.Fail("key 'mlp_bias' true is not supported (no released DeepSeek/Qwen/Llama model uses it)");

  c.q_lora_rank = r.Int("q_lora_rank", 0);
  c.kv_lora_rank = r.Int("kv_lora_rank", 0);
  c.qk_nope_head_dim = r.Int("qk_nope_head_dim", 0);
  c.qk_rope_head_dim = r.Int("qk_rope_head_dim", 0);
  c.v_head_dim = r.Int("v_head_dim", 0);

  c.n_routed_experts = r.Int("n_routed_experts", 0);
  c.n_shared_experts = r.Int("n_shared_experts", 0);
  c.num_experts_per_tok = r.Int("num_experts_per_tok", 0);
  c.n_group = r.Int("n_group", 1);
  c.topk_group = r.Int("topk_group", 1);
  c.routed_scaling_factor = r.Float("routed_scaling_factor", 1.0);
  c.norm_topk_prob = r.Bool("norm_topk_prob", false);
  c.first_k_dense_replace = r.Int("first_k_dense_replace", 0);
  c.moe_layer_freq = r.Int("moe_layer_freq", 1);
  c.num_nextn_predict_layers = r.Int("num_nextn_predict_layers", 0);

  std::string tm = r.Str("topk_method", "greedy");
  if (tm == "greedy") c.topk_method = TopkMethod::kGreedy;
  else if (tm == "group_limited_greedy") c.topk_method = TopkMethod::kGroupLimitedGreedy;
  else if (tm == "noaux_tc") c.topk_method = TopkMethod::kNoauxTc;
  else r.Fail("unknown topk_method '" + tm + "' (expected greedy, group_limited_greedy or noaux_tc)");
  std::string sf = r.Str("scoring_func", "softmax");
  if (sf == "softmax") c.scoring_func = ScoringFunc::kSoftmax;
  else if (sf == "sigmoid") c.scoring_func = ScoringFunc::kSigmoid;
  else if (sf == "sqrtsoftplus") c.scoring_func = ScoringFunc::kSqrtSoftplus;
  else r.Fail("unknown scoring_func '" + sf + "' (expected softmax, sigmoid or sqrtsoftplus)");

  c.rope.theta = r.Float("rope_theta", 10000.0);
  if (auto it = j.find("rope_scaling"); it != j.end() && !it->is_null()) {
    const json& rs = *it;
    if (!rs.is_object()) {
      r.Fail("key 'rope_scaling' must be null or an object");
    } else {
      std::string type;
      for (const char* k : {"type", "rope_type"})
        if (rs.contains(k) && rs[k].is_string()) type = rs[k].get<std::string>();
      if (type == "yarn") c.rope.scaling = RopeScaling::kYarn;
      else if (type == "linear") c.rope.scaling = RopeScaling::kLinear;
      else if (type == "llama3") c.rope.scaling = RopeScaling::kLlama3;
      else if (type == "default" || type.empty()) c.rope.scaling = RopeScaling::kNone;
      else r.Fail("unsupported rope_scaling type '" + type + "'");
      c.rope.factor = r.FloatIn(rs, "factor", 1.0, "rope_scaling.");
      c.rope.original_max_position = static_cast<int64_t>(
          r.FloatIn(rs, "original_max_position_embeddings", static_cast<double>(c.max_position_embeddings), "rope_scaling."));
      c.rope.beta_fast = r.FloatIn(rs, "beta_fast", 32.0, "rope_scaling.");
      c.rope.beta_slow = r.FloatIn(rs, "beta_slow", 1.0, "rope_scaling.");
      c.rope.mscale = r.FloatIn(rs, "mscale", 1.0, "rope_scaling.");
      c.rope.mscale_all_dim = r.FloatIn(rs, "mscale_all_dim", 0.0, "rope_scaling.");
      c.rope.low_freq_factor = r.FloatIn(rs, "low_freq_factor", 1.0, "rope_scaling.");
      c.rope.high_freq_factor = r.FloatIn(rs, "high_freq_factor", 4.0, "rope_scaling.");
    }
  }
  if (auto it = j.find("quantization_config"); it != j.end() && !it->is_null()) {
    const json& q = *it;
    if (!q.is_object()) {
      r.Fail("key 'quantization_config' must be an object");
    } else {
      auto str_of = [&](const char* k, const std::string& def) -> std::string {
        auto f = q.find(k);
        if (f == q.end() || f->is_null()) return def;
        if (!f->is_string()) {
          r.Fail(std::string("key 'quantization_config.") + k + "' must be a string, got " + f->dump());
          return def;
        }
        return f->get<std::string>();
      };
      std::string method = str_of("quant_method", "");
      if (method == "fp8") {
        c.fp8 = true;
        std::string fmt = str_of("fmt", "e4m3");
        if (fmt != "e4m3") r.Fail("quantization_config.fmt '" + fmt + "' is not supported (only e4m3)");
        if (auto b = q.find("weight_block_size"); b != q.end()) {
          if (!b->is_array() || b->size() != 2 || !(*b)[0].is_number_unsigned() || !(*b)[1].is_number_unsigned() ||
              (*b)[0].get<int64_t>() <= 0 || (*b)[1].get<int64_t>() <= 0)
            r.Fail("quantization_config.weight_block_size must be two positive integers");
          else {
            c.fp8_block_rows = (*b)[0].get<int64_t>();
            c.fp8_block_cols = (*b)[1].get<int64_t>();
          }
        }
      } else if (!method.empty()) {
        r.Fail("quantization_config.quant_method '" + method + "' is not supported");
      }
    }
  }
  // The family's own keys, defaults and feature flags (model/arch/<family>.cc).
  if (const ArchSpec* spec = FindArchitecture(c); spec && spec->read_config) spec->read_config(r, &c);
  QS_RETURN_IF_ERROR(r.status());
  if (c.head_dim == 0 && c.num_attention_heads > 0) c.head_dim = c.hidden_size / c.num_attention_heads;
  QS_RETURN_IF_ERROR(ValidateModelConfig(c, file));
  return c;
}

// Sane maxima far above any released model (V3: 256 routed and 1 shared expert, 61 layers + 1
// MTP layer, i.e. 15,872 experts in all; each costs a FfnWeights of a few hundred bytes).
constexpr int64_t kMaxRoutedExperts = 1 << 16;
constexpr int64_t kMaxSharedExperts = 64;
constexpr int64_t kMaxExpertsInModel = 1 << 20;

Status ValidateModelConfig(const ModelConfig& c, const std::string& file) {
  // Consistency: everything the forward pass will index by must be sane.
  auto bad = [&](const std::string& m) { return InvalidArgument(file + ": inconsistent config: " + m); };
  auto pos = [&](const char* name, int64_t v, int64_t max) -> Status {
    if (v <= 0 || v > max) return bad(std::string(name) + " = " + std::to_string(v) + " is out of range");
    return Status::Ok();
  };
  QS_RETURN_IF_ERROR(pos("vocab_size", c.vocab_size, 1 << 24));
  QS_RETURN_IF_ERROR(pos("hidden_size", c.hidden_size, 1 << 20));
  QS_RETURN_IF_ERROR(pos("num_hidden_layers", c.num_hidden_layers, 4096));
  QS_RETURN_IF_ERROR(pos("num_attention_heads", c.num_attention_heads, 1 << 12));
  QS_RETURN_IF_ERROR(pos("num_key_value_heads", c.num_key_value_heads, 1 << 12));
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    return bad("num_attention_heads (" + std::to_string(c.num_attention_heads) + ") is not a multiple of num_key_value_heads (" +
               std::to_string(c.num_key_value_heads) + ")");
  if (!(c.rms_norm_eps > 0 && c.rms_norm_eps < 1)) return bad("rms_norm_eps must be in (0, 1)");
  if (c.rope.theta <= 0) return bad("rope_theta must be positive");
  if (c.kv_lora_rank < 0 || c.q_lora_rank < 0) return bad("lora ranks must not be negative");
  if (c.is_mla()) {
    QS_RETURN_IF_ERROR(pos("kv_lora_rank", c.kv_lora_rank, 1 << 16));
    QS_RETURN_IF_ERROR(pos("qk_rope_head_dim", c.qk_rope_head_dim, 1 << 12));
    QS_RETURN_IF_ERROR(pos("qk_nope_head_dim", c.qk_nope_head_dim, 1 << 12));
    QS_RETURN_IF_ERROR(pos("v_head_dim", c.v_head_dim, 1 << 12));
    if (c.qk_rope_head_dim % 2) return bad("qk_rope_head_dim must be even (rope rotates pairs)");
  }
  if (c.n_routed_experts < 0 || c.n_shared_experts < 0) return bad("expert counts must not be negative");
  // Blocks are built (one FfnWeights per expert per layer) before any tensor is checked, so a
  // hostile count must be refused here, before it costs memory or time proportional to it.
  if (c.n_routed_experts > kMaxRoutedExperts)
    return bad("n_routed_experts = " + std::to_string(c.n_routed_experts) + " is out of range (at most " +
               std::to_string(kMaxRoutedExperts) + ")");
  if (c.n_shared_experts > kMaxSharedExperts)
    return bad("n_shared_experts = " + std::to_string(c.n_shared_experts) + " is out of range (at most " +
               std::to_string(kMaxSharedExperts) + ")");
  if (c.n_routed_experts > 0) {
    QS_RETURN_IF_ERROR(pos("moe_intermediate_size", c.moe_intermediate_size, 1 << 20));
    if (c.num_experts_per_tok <= 0 || c.num_experts_per_tok > c.n_routed_experts)
      return bad("num_experts_per_tok = " + std::to_string(c.num_experts_per_tok) + " must be in [1, n_routed_experts = " +
                 std::to_string(c.n_routed_experts) + "]");
    if (c.n_group <= 0 || c.n_routed_experts % c.n_group != 0)
      return bad("n_group = " + std::to_string(c.n_group) + " must divide n_routed_experts = " + std::to_string(c.n_routed_experts));
    if (c.topk_group <= 0 || c.topk_group > c.n_group)
      return bad("topk_group = " + std::to_string(c.topk_group) + " must be in [1, n_group = " + std::to_string(c.n_group) + "]");
    if (c.topk_method != TopkMethod::kGreedy && c.n_group > 1 &&
        c.num_experts_per_tok > c.topk_group * (c.n_routed_experts / c.n_group))
      return bad("num_experts_per_tok exceeds the experts in the kept groups (topk_group x experts per group)");
    if (c.topk_method == TopkMethod::kNoauxTc && c.n_group > 1 && c.n_routed_experts / c.n_group < 2)
      return bad("noaux_tc needs at least 2 experts per group (group score = sum of top-2)");
    if (c.first_k_dense_replace < 0 || c.first_k_dense_replace > c.num_hidden_layers)
      return bad("first_k_dense_replace is out of range");
    if (c.moe_layer_freq <= 0) return bad("moe_layer_freq must be positive");
    if (!(c.routed_scaling_factor > 0)) return bad("routed_scaling_factor must be positive");
  }
  bool any_dense = c.n_routed_experts == 0 || c.first_k_dense_replace > 0 || c.moe_layer_freq > 1;
  if (any_dense) QS_RETURN_IF_ERROR(pos("intermediate_size", c.intermediate_size, 1 << 22));
  if (c.num_nextn_predict_layers < 0 || c.num_nextn_predict_layers > 64) return bad("num_nextn_predict_layers is out of range");
  // MTP layers are built (declared and counted) too, so they count towards the expert total.
  if (const int64_t n = c.n_routed_experts * (c.num_hidden_layers + c.num_nextn_predict_layers); n > kMaxExpertsInModel)
    return bad("n_routed_experts * layers = " + std::to_string(n) + " is out of range (at most " +
               std::to_string(kMaxExpertsInModel) + ")");
  if (c.rope.scaling == RopeScaling::kYarn) {
    if (!(c.rope.factor >= 1.0)) return bad("rope_scaling.factor must be >= 1 for yarn");
    if (c.rope.original_max_position <= 0) return bad("rope_scaling.original_max_position_embeddings must be positive");
    if (!(c.rope.beta_fast > 0 && c.rope.beta_slow > 0)) return bad("rope_scaling.beta_fast / beta_slow must be positive");
  }
  if ((c.rope.scaling == RopeScaling::kLinear || c.rope.scaling == RopeScaling::kLlama3) && !(c.rope.factor > 0))
    return bad("rope_scaling.factor must be positive");
  if (c.fp8 && (c.fp8_block_rows > 1 << 16 || c.fp8_block_cols > 1 << 16)) return bad("fp8 block size too large");
  if (!c.is_mla()) {
    QS_RETURN_IF_ERROR(pos("head_dim", c.head_dim, 1 << 12));
    if (c.head_dim % 2) return bad("head_dim must be even (rope rotates pairs)");
  }
  if (!c.rope.freq_divisors.empty()) {
    const int64_t rd = c.is_mla() ? c.qk_rope_head_dim : c.head_dim;
    if (static_cast<int64_t>(c.rope.freq_divisors.size()) != rd / 2)
      return bad("rope_freqs has " + std::to_string(c.rope.freq_divisors.size()) + " entries, expected " + std::to_string(rd / 2));
    for (float f : c.rope.freq_divisors)
      if (!(f > 0) || !(f < 1e30f)) return bad("rope_freqs entries must be positive and finite");
  }
  return Status::Ok();
}

Result<ModelConfig> LoadModelConfig(const std::string& path) {
  QS_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  return ParseModelConfig(text, path);
}

}  // namespace qs
