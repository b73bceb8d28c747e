// The one architecture registry: maps config.json's `architectures[0]` (or `model_type`) to the
// factory that builds the model. Architecture specifics live only in src/model/arch/.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "model/config.h"
#include "model/model.h"
#include "model/weight_source.h"

namespace qs {

using ModelFactory = Result<std::unique_ptr<Model>> (*)(const ModelConfig&, std::unique_ptr<WeightSource>);

struct ArchEntry {
  const char* hf_architecture;  // e.g. "DeepseekV3ForCausalLM"
  const char* model_type;       // e.g. "deepseek_v3"
  ModelFactory make;
};

// Null if the architecture is not supported.
const ArchEntry* FindArchitecture(const ModelConfig& c);
std::string SupportedArchitectures();

// Factories (one per file in src/model/arch/).
Result<std::unique_ptr<Model>> MakeDeepSeekModel(const ModelConfig&, std::unique_ptr<WeightSource>);
Result<std::unique_ptr<Model>> MakeDenseModel(const ModelConfig&, std::unique_ptr<WeightSource>);

}  // namespace qs
