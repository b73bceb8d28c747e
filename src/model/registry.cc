#include "model/registry.h"

#include <filesystem>

#include "io/checkpoint.h"
#include "io/gguf.h"
#include "model/gguf_config.h"

namespace qs {

namespace {
// DeepSeek-V2 and V3 share one implementation: every difference (routing rule, q LoRA, YaRN)
// is a config.json value.
const ArchEntry kArchitectures[] = {
    {"DeepseekV3ForCausalLM", "deepseek_v3", MakeDeepSeekModel},
    {"DeepseekV2ForCausalLM", "deepseek_v2", MakeDeepSeekModel},
    {"Qwen2ForCausalLM", "qwen2", MakeDenseModel},
    {"LlamaForCausalLM", "llama", MakeDenseModel},
};
}  // namespace

const ArchEntry* FindArchitecture(const ModelConfig& c) {
  for (const auto& a : kArchitectures)
    if (c.architecture == a.hf_architecture) return &a;
  if (c.architecture.empty())
    for (const auto& a : kArchitectures)
      if (c.model_type == a.model_type) return &a;
  return nullptr;
}

std::string SupportedArchitectures() {
  std::string s;
  for (const auto& a : kArchitectures) s += (s.empty() ? "" : ", ") + std::string(a.hf_architecture);
  return s;
}

Result<std::unique_ptr<Model>> LoadModel(std::unique_ptr<GgufFile> gguf) {
  QS_ASSIGN_OR_RETURN(ModelConfig cfg, ConfigFromGguf(*gguf));
  const ArchEntry* arch = FindArchitecture(cfg);
  if (!arch) return Unsupported(gguf->path() + ": architecture '" + cfg.architecture + "' is not supported");
  QS_ASSIGN_OR_RETURN(auto src, WeightSource::FromGguf(std::move(gguf), cfg));
  return arch->make(cfg, std::move(src));
}

Result<std::unique_ptr<Model>> LoadModel(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    // A single file: GGUF (metadata + tensors in one).
    QS_ASSIGN_OR_RETURN(auto gguf, GgufFile::Open(path));
    return LoadModel(std::move(gguf));
  }
  if (!fs::is_directory(path, ec))
    return NotFound(path + ": not a model directory (config.json + *.safetensors) or a .gguf file");
  const std::string cfg_path = (fs::path(path) / "config.json").string();
  if (!fs::exists(cfg_path, ec)) return NotFound(path + ": no config.json");
  QS_ASSIGN_OR_RETURN(ModelConfig cfg, LoadModelConfig(cfg_path));
  const ArchEntry* arch = FindArchitecture(cfg);
  if (!arch)
    return Unsupported(cfg_path + ": architecture '" + cfg.architecture + "' (model_type '" + cfg.model_type +
                       "') is not supported; supported: " + SupportedArchitectures());
  QS_ASSIGN_OR_RETURN(auto ck, Checkpoint::OpenDir(path));
  return arch->make(cfg, std::make_unique<WeightSource>(std::move(ck), cfg));
}

}  // namespace qs
