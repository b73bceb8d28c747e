// LoadModel: a Hugging Face directory or a GGUF file -> config -> weights -> the transformer.
// Which architecture it is comes from the specs (model/arch/arch.h); nothing here names one.
#include <filesystem>

#include "io/checkpoint.h"
#include "io/gguf.h"
#include "model/arch/arch.h"
#include "model/gguf_config.h"
#include "model/transformer.h"

namespace qs {

Result<std::unique_ptr<Model>> LoadModel(std::unique_ptr<GgufFile> gguf) {
  QS_ASSIGN_OR_RETURN(ModelConfig cfg, ConfigFromGguf(*gguf));
  QS_ASSIGN_OR_RETURN(auto src, WeightSource::FromGguf(std::move(gguf), cfg));
  return MakeTransformer(cfg, std::move(src));
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
  if (!FindArchitecture(cfg))
    return Unsupported(cfg_path + ": architecture '" + cfg.architecture + "' (model_type '" + cfg.model_type +
                       "') is not supported; supported: " + SupportedArchitectures());
  QS_ASSIGN_OR_RETURN(auto ck, Checkpoint::OpenDir(path));
  return MakeTransformer(cfg, std::make_unique<WeightSource>(std::move(ck), cfg));
}

}  // namespace qs
