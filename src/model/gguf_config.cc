#include "model/gguf_config.h"

#include <cmath>
#include <cstring>

#include "model/arch/arch.h"
#include "model/gguf_names.h"

namespace qs {

Result<ModelConfig> ConfigFromGguf(const GgufFile& g) {
  QS_ASSIGN_OR_RETURN(std::string arch, g.GetString("general.architecture"));
  const ArchSpec* spec = FindGgufArchitecture(arch);
  if (!spec)
    return Unsupported(g.path() + ": general.architecture '" + arch + "' is not supported (supported: " +
                       SupportedGgufArchitectures() + ")");
  const std::string A = arch + ".";
  ModelConfig c;
  c.architecture = spec->hf_architectures.front();
  c.model_type = spec->model_types.empty() ? "" : spec->model_types.front();

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

  // The family's own keys (model/arch/<family>.cc).
  if (spec->read_gguf) QS_RETURN_IF_ERROR(spec->read_gguf(g, A, &c));
  QS_RETURN_IF_ERROR(ValidateModelConfig(c, g.path()));
  return c;
}

}  // namespace qs
