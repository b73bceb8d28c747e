// DeepSeek-V4's model composition (model.py `Transformer`, `Block`, `ParallelHead`): the
// embedding copied into hc_mult residual streams, per layer two sublayers each wrapped in an
// mHC mixer (blocks/v4_hc.h) with its RMSNorm, the hc head merging the streams, the final norm and
// the head. The transformer of model/transformer.cc keeps one residual stream, so the V4 spec
// (arch/deepseek_v4.cc) builds this composition through ArchSpec::make_model; the attention and
// FFN are ordinary blocks (blocks/v4_attention.h, blocks/v4_moe.h).
#pragma once

#include <memory>
#include <vector>

#include "base/status.h"
#include "model/model.h"
#include "model/tensors.h"
#include "model/weight_source.h"

namespace qs {

Result<std::unique_ptr<Model>> MakeHcTransformer(const ModelConfig& c, std::unique_ptr<WeightSource> src);
std::vector<TensorDecl> DeclareHcTransformerTensors(const ModelConfig& c);

}  // namespace qs
