// Pieces of the DeepSeek-V2/V3 spec that later DeepSeek families (V3.2) reuse.
#pragma once

#include <string>

#include "model/arch/arch.h"

namespace qs {

// llama.cpp `deepseek2` metadata: MLA and DeepSeekMoE keys (convert_hf_to_gguf.py DeepseekV2Model).
Status ReadDeepSeekGguf(const GgufFile& g, const std::string& prefix, ModelConfig* c);
void WriteDeepSeekGguf(const ModelConfig& c, const std::string& prefix, GgufWriter* w);
Status CheckDeepSeek(const ModelConfig& c);
// The FFN of a DeepSeek layer: dense below first_k_dense_replace, DeepSeekMoE above.
std::unique_ptr<FfnBlock> DeepSeekFfn(const ModelConfig& c, int64_t layer, const std::string& prefix);
// The V3 spec (sigmoid routing, noaux_tc, MTP): what the trainer (src/train/) writes its
// checkpoints as, so its config.json names the class without spelling it outside arch/.
const ArchSpec& DeepSeekV3Spec();

}  // namespace qs
