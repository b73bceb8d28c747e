// Synthetic checkpoints: the exact tensor layout of a released model (any supported config.json)
// filled with random but numerically sane weights, so tests and benchmarks can run at any size
// without downloading anything. Written tensor by tensor (never the whole model in memory).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/config.h"
#include "model/tensors.h"
#include "tensor/dtype.h"

namespace qs {

class GgufWriter;

// How a tensor is initialised (weights drawn like the golden fixtures: O(1) activations): by its
// role in the model (model/tensors.h).
using InitKind = TensorRole;

struct TensorSpec {
  std::string name;
  Shape shape;
  InitKind init;
  bool routed_expert = false;
};

// The tensors a checkpoint of this architecture holds, in HF names (MTP layers included): the
// model's one tensor walk (model/transformer.h DeclareCheckpointTensors).
Result<std::vector<TensorSpec>> CheckpointTensorSpecs(const ModelConfig& c);

struct SynthOptions {
  std::string config_path;
  std::string tokenizer_dir;  // optional: copy tokenizer.json / tokenizer_config.json from here
  // bf16 | f32 | fp8 (V3 release: e4m3 + F32 128x128 scale_inv) | fp4 (V4 release: e4m3 + F8_E8M0
  // `.scale` 128x128 for linears, packed e2m1 + F8_E8M0 1x32 `.scale` for routed experts).
  std::string dtype = "bf16";
  uint64_t seed = 0;
  std::string out_dir;
  uint64_t shard_bytes = 4ull << 30;
};

Status SynthesizeCheckpoint(const SynthOptions& o);

// The same random model written straight to a llama.cpp GGUF file of `gguf_type` (any
// `qiusuo quantize --type`), streamed tensor by tensor. The values are those SynthesizeCheckpoint
// draws for the same config and seed (before its bf16 / fp8 rounding), so a GGUF synthesised at
// type T equals `quantize --type T` of an f32 synthetic checkpoint, byte for byte.
struct SynthGgufOptions {
  std::string config_path;
  std::string out_path;
  std::string gguf_type = "f16";
  uint64_t seed = 0;
  int threads = 0;
  std::string model_name;  // default: the config's directory name
  // Extra metadata (tokenizer.* keys from a tokenizer directory), set by the caller.
  std::function<Status(GgufWriter*)> extra_metadata;
};
Status SynthesizeGguf(const SynthGgufOptions& o);

}  // namespace qs
