// Qwen2ForCausalLM (DeepSeek-R1-Distill-Qwen; llama.cpp `qwen2`) and LlamaForCausalLM
// (DeepSeek-R1-Distill-Llama, DeepSeek-LLM, DeepSeek-Coder; llama.cpp `llama`): dense SwiGLU
// decoders with grouped-query attention. References: Hugging Face modeling_qwen2.py and
// modeling_llama.py. The differences are config values: q/k/v biases (Qwen2), rope scaling
// (llama3 / linear), tied embeddings, and the rope pair layout of llama.cpp's permuted files.
#include "model/registry.h"
#include "model/transformer.h"

namespace qs {

Result<std::unique_ptr<Model>> MakeDenseModel(const ModelConfig& c, std::unique_ptr<WeightSource> src) {
  if (c.is_mla() || c.n_routed_experts > 0)
    return InvalidArgument(c.architecture + ": a dense model's config must not describe MLA or routed experts");
  if (c.intermediate_size <= 0) return InvalidArgument(c.architecture + ": intermediate_size is missing");
  return MakeTransformer(c, std::move(src));
}

}  // namespace qs
