// DeepSeek-V3.2 (DeepseekV32ForCausalLM, model_type deepseek_v32; llama.cpp `deepseek32`).
// Reference: deepseek-ai/DeepSeek-V3.2-Exp inference/model.py. The V3 body (MLA, DeepSeekMoE,
// MTP) with DeepSeek Sparse Attention: each layer's MLA attends only to the positions its
// lightning indexer selects (blocks/indexer.h). FP8 weights as released carry ue8m0
// (power-of-two) block scales, which the FP8 path reads as any F32 scale. The MTP layer's
// indexer is skipped with the rest of that layer.
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "model/arch/deepseek.h"
#include "model/blocks/indexer.h"
#include "model/blocks/mla.h"
#include "model/config_reader.h"

namespace qs {

namespace {

void ReadConfig(ConfigReader& r, ModelConfig* c) {
  c->index_n_heads = r.Int("index_n_heads", 0, true);
  c->index_head_dim = r.Int("index_head_dim", 0, true);
  c->index_topk = r.Int("index_topk", 0, true);
}

Status Check(const ModelConfig& c) {
  QS_RETURN_IF_ERROR(CheckDeepSeek(c));
  auto bad = [&](const std::string& m) { return InvalidArgument(c.architecture + ": " + m); };
  if (c.q_lora_rank <= 0) return bad("the indexer's queries come from the q LoRA latent: q_lora_rank is required");
  if (c.index_n_heads <= 0 || c.index_n_heads > 4096) return bad("index_n_heads is out of range");
  if (c.index_topk <= 0 || c.index_topk > (1 << 24)) return bad("index_topk is out of range");
  const int64_t d = c.index_head_dim;
  if (d <= 0 || d > 4096 || (d & (d - 1)) != 0)
    return bad("index_head_dim must be a power of two (Hadamard rotation), got " + std::to_string(d));
  if (c.qk_rope_head_dim > d) return bad("qk_rope_head_dim exceeds index_head_dim");
  return Status::Ok();
}

LayerBlocks MakeLayer(const ModelConfig& c, int64_t layer, const std::string& prefix) {
  LayerBlocks b;
  b.attn = std::make_unique<MlaBlock>(c, prefix + "self_attn.",
                                      std::make_unique<Indexer>(c, prefix + "self_attn.indexer."));
  b.ffn = DeepSeekFfn(c, layer, prefix);
  return b;
}

// llama.cpp deepseek32: the deepseek2 keys plus attention.indexer.{head_count,key_length,top_k};
// block_count includes the nextn_predict_layers MTP layers, which follow the main ones.
Status ReadGguf(const GgufFile& g, const std::string& A, ModelConfig* c) {
  QS_RETURN_IF_ERROR(ReadDeepSeekGguf(g, A, c));
  if (c->num_nextn_predict_layers < 0 || c->num_nextn_predict_layers >= c->num_hidden_layers)
    return InvalidArgument(g.path() + ": " + A + "nextn_predict_layers = " + std::to_string(c->num_nextn_predict_layers) +
                           " leaves no main layer of block_count " + std::to_string(c->num_hidden_layers));
  c->num_hidden_layers -= c->num_nextn_predict_layers;
  c->moe_scale_only_if_not_normalized = false;  // V3's rule
  QS_ASSIGN_OR_RETURN(c->index_n_heads, g.GetInt(A + "attention.indexer.head_count"));
  QS_ASSIGN_OR_RETURN(c->index_head_dim, g.GetInt(A + "attention.indexer.key_length"));
  QS_ASSIGN_OR_RETURN(c->index_topk, g.GetInt(A + "attention.indexer.top_k"));
  return Status::Ok();
}

void WriteGguf(const ModelConfig& c, const std::string& A, GgufWriter* w) {
  WriteDeepSeekGguf(c, A, w);
  w->SetU32(A + "nextn_predict_layers", static_cast<uint32_t>(c.num_nextn_predict_layers));
  w->SetU32(A + "attention.indexer.head_count", static_cast<uint32_t>(c.index_n_heads));
  w->SetU32(A + "attention.indexer.key_length", static_cast<uint32_t>(c.index_head_dim));
  w->SetU32(A + "attention.indexer.top_k", static_cast<uint32_t>(c.index_topk));
}

const ArchSpec kV32 = {
    .hf_architectures = {"DeepseekV32ForCausalLM"},
    .model_types = {"deepseek_v32"},
    .gguf_arch = "deepseek32",
    .chat_family = "deepseek-v3.2",
    .read_config = ReadConfig,
    .read_gguf = ReadGguf,
    .write_gguf = WriteGguf,
    .gguf_keeps_mtp = true,
    .check = Check,
    .make_layer = MakeLayer,
};

const ArchRegistrar kReg(&kV32);

}  // namespace

}  // namespace qs
