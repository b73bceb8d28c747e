// Architecture specs as data. Everything specific to one model family lives in one file,
// src/model/arch/<family>.cc, as an ArchSpec: its Hugging Face and llama.cpp names, the config
// keys beyond the common ones (with their defaults and the feature flags the blocks read), its
// GGUF metadata keys in both directions, its default chat protocol family, and which blocks make
// up each layer. Shared code looks a spec up and calls it; it never names an architecture (a test,
// tests/model/arch_names_test.cc, fails if it does).
//
// Specs register themselves (ArchRegistrar) from object files that every binary links
// (CMake: qs_arch is an object library), so adding a family is adding one file.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/block.h"
#include "model/config.h"

namespace qs {

class ConfigReader;
class GgufFile;
class GgufWriter;

struct LayerBlocks {
  std::unique_ptr<AttentionBlock> attn;
  std::unique_ptr<FfnBlock> ffn;
};

class Model;
class WeightSource;

struct ArchSpec {
  std::vector<std::string> hf_architectures;  // config.json architectures[0]; the first is canonical
  std::vector<std::string> model_types;       // config.json model_type (used when architectures is absent)
  std::string gguf_arch;                      // llama.cpp general.architecture; empty: no GGUF form
  std::string chat_family;                    // default chat protocol family (src/chat/)
  // config.json keys beyond the common ones (model/config.cc), their defaults and feature flags.
  void (*read_config)(ConfigReader& r, ModelConfig* c) = nullptr;
  // GGUF metadata: the `<gguf_arch>.` keys beyond the common ones, both directions.
  Status (*read_gguf)(const GgufFile& g, const std::string& prefix, ModelConfig* c) = nullptr;
  void (*write_gguf)(const ModelConfig& c, const std::string& prefix, GgufWriter* w) = nullptr;
  // llama.cpp's converter permutes q_proj / k_proj rows (and biases) for this architecture (its
  // rope then rotates adjacent pairs): convert_hf_to_gguf.py LlamaModel.modify_tensors.
  bool gguf_permutes_qk = false;
  // llama.cpp's converter keeps the MTP layers for this architecture (skip_mtp = False): they
  // follow the main layers, `block_count` counts them and `<arch>.nextn_predict_layers` says how
  // many (convert_hf_to_gguf.py DeepseekV32Model). Otherwise they are dropped on export.
  bool gguf_keeps_mtp = false;
  // llama_tensor_get_type's LLM_TYPE_70B rule: with this many layers (llama with 80, e.g.
  // R1-Distill-Llama-70B: 8 query heads share each attn_v) Q3_K/Q4_K attn_v gets Q5_K. 0: none.
  int64_t gguf_attn_v_more_bits_layers = 0;
  // What the config must hold for this family (beyond ValidateModelConfig).
  Status (*check)(const ModelConfig& c) = nullptr;
  // The blocks of decoder layer `layer` (also for MTP layers, layer >= num_hidden_layers);
  // `prefix` is "model.layers.<layer>.".
  LayerBlocks (*make_layer)(const ModelConfig& c, int64_t layer, const std::string& prefix) = nullptr;
  // A family whose layers are not composed as `h += block(norm(h))` (DeepSeek-V4's hyper-connection
  // residual streams) supplies its own composition of blocks here, and the tensors a checkpoint of
  // it holds; MakeTransformer / DeclareCheckpointTensors then call these instead (make_layer unused).
  Result<std::unique_ptr<Model>> (*make_model)(const ModelConfig& c, std::unique_ptr<WeightSource> src) = nullptr;
  std::vector<TensorDecl> (*declare_tensors)(const ModelConfig& c) = nullptr;
};

struct ArchRegistrar {
  explicit ArchRegistrar(const ArchSpec* spec);
};

// By architectures[0], else by model_type; null if unsupported.
const ArchSpec* FindArchitecture(const std::string& hf_architecture, const std::string& model_type);
inline const ArchSpec* FindArchitecture(const ModelConfig& c) { return FindArchitecture(c.architecture, c.model_type); }
const ArchSpec* FindGgufArchitecture(const std::string& gguf_arch);
std::string SupportedArchitectures();
const std::vector<const ArchSpec*>& AllArchitectures();
std::string SupportedGgufArchitectures();

}  // namespace qs
