// Tensor names and architecture names between Hugging Face checkpoints and llama.cpp GGUF files.
//
// The engine's architectures ask for weights by their Hugging Face names (config.json's world);
// a GGUF file stores the same weights under llama.cpp's names (gguf-py constants.py
// TENSOR_NAMES / tensor_mapping.py, as convert_hf_to_gguf.py writes them). One table serves both
// directions: the GGUF reader (model/weight_source) and the writer (`qiusuo quantize`).
//
// Routed experts: HF stores one 2-D tensor per expert
// (model.layers.L.mlp.experts.E.gate_proj.weight [out, in]); GGUF stacks them into one 3-D tensor
// blk.L.ffn_gate_exps.weight with the expert dimension outermost (ne = {in, out, n_expert}).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <utility>
#include <vector>
#include <string>

#include "model/config.h"

namespace qs {

struct GgufName {
  std::string name;     // the name on the other side
  int64_t expert = -1;  // HF -> GGUF: the expert's slice of the stacked tensor; -1 if not stacked
  bool stacked = false;  // GGUF -> HF: `name` holds "{E}" for the expert index
};

// HF name -> GGUF name (e.g. "model.layers.3.self_attn.q_proj.bias" -> "blk.3.attn_q.bias").
// nullopt if no rule matches (MTP layers, unknown tensors).
std::optional<GgufName> HfToGgufName(const std::string& hf);
// GGUF name -> HF name ("blk.3.ffn_up_exps.weight" -> "model.layers.3.mlp.experts.{E}.up_proj.weight",
// stacked). nullopt for GGUF-only tensors (rope_freqs.weight) and unknown names.
std::optional<GgufName> GgufToHfName(const std::string& gguf);
// Replaces "{E}" in a stacked name with `e`.
std::string ExpertName(const std::string& pattern, int64_t e);

// Blocks defined outside the shared table (model/blocks/*.cc) register their tensors' names here,
// with the same {L} / {E} placeholders, at start-up.
struct GgufNameRegistrar {
  GgufNameRegistrar(std::initializer_list<std::pair<const char*, const char*>> hf_to_gguf);
};

// llama.cpp's `general.architecture` for a config (its spec's gguf_arch); empty if none.
std::string GgufArchitecture(const ModelConfig& c);

}  // namespace qs
