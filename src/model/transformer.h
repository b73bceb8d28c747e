// The generic decoder-only transformer (see transformer.cc); architectures instantiate it.
#pragma once

#include <memory>

#include "base/status.h"
#include "model/config.h"
#include "model/model.h"
#include "model/weight_source.h"

namespace qs {

// Loads every layer's weights (shapes checked against `c`) and returns the model.
Result<std::unique_ptr<Model>> MakeTransformer(const ModelConfig& c, std::unique_ptr<WeightSource> src);

}  // namespace qs
