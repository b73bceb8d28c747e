// DeepSeek-V2 / V2-Lite / V3 / R1 (DeepseekV2ForCausalLM, DeepseekV3ForCausalLM; llama.cpp
// `deepseek2`). Reference: deepseek-ai/DeepSeek-V3 inference/model.py. Every difference between
// the versions (routing rule, q LoRA, YaRN, shared experts) is a config value, so this file only
// checks that the config describes Multi-head Latent Attention.
#include "model/registry.h"
#include "model/transformer.h"

namespace qs {

Result<std::unique_ptr<Model>> MakeDeepSeekModel(const ModelConfig& c, std::unique_ptr<WeightSource> src) {
  if (!c.is_mla())
    return InvalidArgument(c.architecture + ": config.json has no kv_lora_rank; DeepSeek-V2/V3 use Multi-head Latent Attention");
  return MakeTransformer(c, std::move(src));
}

}  // namespace qs
