// ModelConfig from a llama.cpp GGUF file's metadata (`<arch>.*` keys as convert_hf_to_gguf.py
// writes them), for the architectures llama.cpp calls qwen2, llama and deepseek2.
//
// Read what the metadata says and never infer a variant from sizes: old llama.cpp decided
// "no q LoRA" for deepseek2 from the layer count; we decide it from `attention.q_lora_rank`.
#pragma once

#include "base/status.h"
#include "io/gguf.h"
#include "model/config.h"

namespace qs {

Result<ModelConfig> ConfigFromGguf(const GgufFile& g);

}  // namespace qs
