// Trainer checkpoints. The model is written as a released-style Hugging Face directory:
// config.json (the V3 class from its arch spec, num_nextn_predict_layers 1), generation_config.json
// and model.safetensors in fp32 under the released names, the MTP module as the last layer with
// copies of the shared embedding and head (model.layers.N.embed_tokens / shared_head.head), so
// `qiusuo logits`, `run`, `serve` and `quantize` read it as they read DeepSeek's checkpoints.
// Resuming also needs train_state.safetensors (AdamW moments) and train_state.json (step,
// data position, the options the run was started with).
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "model/config.h"
#include "train/params.h"

namespace qs::train {

std::string ConfigJson(const ModelConfig& c);
Result<ModelConfig> ReadTrainConfig(const std::string& dir);

Status SaveModel(const ModelConfig& c, const Layout& L, const std::vector<float>& w, const std::string& dir);
// Reads every parameter of L from dir/model.safetensors (f32), checking names and shapes.
Status LoadModelParams(const Layout& L, const std::string& dir, std::vector<float>* w);

struct TrainState {
  int64_t step = 0;
  int64_t tokens_seen = 0;
  std::vector<float> m, v;  // AdamW moments, flat like the weights
  std::string options_json;  // the options of the run (informational; the CLI compares dims)
};
Status SaveTrainState(const TrainState& s, const std::string& dir);
Status LoadTrainState(const std::string& dir, int64_t total, TrainState* s);

}  // namespace qs::train
