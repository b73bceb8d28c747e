// Qwen2ForCausalLM (DeepSeek-R1-Distill-Qwen; llama.cpp `qwen2`) and LlamaForCausalLM
// (DeepSeek-R1-Distill-Llama, DeepSeek-LLM, DeepSeek-Coder; llama.cpp `llama`): dense SwiGLU
// decoders with grouped-query attention (blocks/gqa.h). References: Hugging Face
// modeling_qwen2.py and modeling_llama.py. The differences are config values: q/k/v biases
// (Qwen2 always), rope scaling (llama3 / linear), tied embeddings, and the rope pair layout of
// llama.cpp's permuted `llama` files.
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "model/arch/arch.h"
#include "model/blocks/gqa.h"
#include "model/blocks/moe.h"
#include "model/config_reader.h"

namespace qs {

namespace {

Status Check(const ModelConfig& c) {
  if (c.is_mla() || c.n_routed_experts > 0)
    return InvalidArgument(c.architecture + ": a dense model's config must not describe MLA or routed experts");
  if (c.intermediate_size <= 0) return InvalidArgument(c.architecture + ": intermediate_size is missing");
  return Status::Ok();
}

LayerBlocks MakeLayer(const ModelConfig& c, int64_t, const std::string& prefix) {
  LayerBlocks b;
  b.attn = std::make_unique<GqaBlock>(c, prefix + "self_attn.");
  b.ffn = std::make_unique<DenseFfnBlock>(c, prefix + "mlp.");
  return b;
}

// GQA keys shared by llama.cpp's `llama` and `qwen2`.
Status ReadGqaGguf(const GgufFile& g, const std::string& A, ModelConfig* cp) {
  ModelConfig& c = *cp;
  c.attention_bias = g.FindTensor("blk.0.attn_q.bias") != nullptr;
  const int64_t def_hd = c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0;
  QS_ASSIGN_OR_RETURN(c.head_dim, g.GetIntOr(A + "attention.key_length", def_hd));
  QS_ASSIGN_OR_RETURN(int64_t vlen, g.GetIntOr(A + "attention.value_length", c.head_dim));
  if (vlen != c.head_dim) return Unsupported(g.path() + ": " + A + "attention.value_length differs from key_length");
  QS_ASSIGN_OR_RETURN(int64_t rope_dim, g.GetIntOr(A + "rope.dimension_count", c.head_dim));
  if (rope_dim != c.head_dim)
    return Unsupported(g.path() + ": partial rotary embeddings (" + A + "rope.dimension_count " + std::to_string(rope_dim) +
                       " < head dim " + std::to_string(c.head_dim) + ") are not supported");
  return Status::Ok();
}

void WriteHeadDim(const ModelConfig& c, const std::string& A, GgufWriter* w) {
  if (c.head_dim * c.num_attention_heads != c.hidden_size) {
    // An explicit head_dim (converter: hparams["head_dim"]) travels as key/value length.
    w->SetU32(A + "attention.key_length", static_cast<uint32_t>(c.head_dim));
    w->SetU32(A + "attention.value_length", static_cast<uint32_t>(c.head_dim));
  }
}

const ArchSpec kQwen2 = {
    .hf_architectures = {"Qwen2ForCausalLM"},
    .model_types = {"qwen2"},
    .gguf_arch = "qwen2",
    .chat_family = "deepseek-r1-distill",
    // Qwen2's q/k/v projections always carry a bias (modeling_qwen2: bias=True).
    .read_config = [](ConfigReader& r, ModelConfig* c) { c->attention_bias = r.Bool("attention_bias", true); },
    .read_gguf = [](const GgufFile& g, const std::string& A, ModelConfig* c) -> Status {
      QS_RETURN_IF_ERROR(ReadGqaGguf(g, A, c));
      c->architecture = "Qwen2ForCausalLM";
      c->model_type = "qwen2";
      return Status::Ok();
    },
    .write_gguf = WriteHeadDim,
    .gguf_permutes_qk = false,
    .check = Check,
    .make_layer = MakeLayer,
};

const ArchSpec kLlama = {
    .hf_architectures = {"LlamaForCausalLM"},
    .model_types = {"llama"},
    .gguf_arch = "llama",
    .chat_family = "deepseek-r1-distill",
    .read_config = nullptr,
    .read_gguf = [](const GgufFile& g, const std::string& A, ModelConfig* c) -> Status {
      QS_RETURN_IF_ERROR(ReadGqaGguf(g, A, c));
      c->architecture = "LlamaForCausalLM";
      c->model_type = "llama";
      // llama.cpp's `llama` uses rope type NORM (adjacent pairs) and its converter permuted the
      // Q/K rows into that order.
      c->rope_interleaved = true;
      return Status::Ok();
    },
    .write_gguf = [](const ModelConfig& c, const std::string& A, GgufWriter* w) {
      w->SetU32(A + "vocab_size", static_cast<uint32_t>(c.vocab_size));
      w->SetU32(A + "rope.dimension_count", static_cast<uint32_t>(c.head_dim));
      WriteHeadDim(c, A, w);
    },
    .gguf_permutes_qk = true,
    .gguf_attn_v_more_bits_layers = 80,
    .check = Check,
    .make_layer = MakeLayer,
};

const ArchRegistrar kRegQwen2(&kQwen2), kRegLlama(&kLlama);

}  // namespace

}  // namespace qs
