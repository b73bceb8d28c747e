// The generic decoder-only transformer (see transformer.cc): layers composed of the blocks an
// architecture spec chooses (model/arch/arch.h), and the one walk over a model's tensors.
#pragma once

#include <memory>
#include <vector>

#include "base/status.h"
#include "model/config.h"
#include "model/model.h"
#include "model/tensors.h"
#include "model/weight_source.h"

namespace qs {

// Loads every layer's weights (shapes checked against `c`) and returns the model.
Result<std::unique_ptr<Model>> MakeTransformer(const ModelConfig& c, std::unique_ptr<WeightSource> src);

// Every tensor a checkpoint of this config holds, in HF names and walk order, MTP layers
// included (what `synth` writes, what the GGUF plan converts, what the loader binds).
Result<std::vector<TensorDecl>> DeclareCheckpointTensors(const ModelConfig& c);

}  // namespace qs
