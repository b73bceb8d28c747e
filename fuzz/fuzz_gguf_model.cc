// Fuzz target: a GGUF file all the way to a loaded model and one forward pass — metadata to
// ModelConfig (model/gguf_config.cc), tensor renaming and expert splitting (model/weight_source.cc),
// shape checks (model/transformer.cc), then two tokens through the model. Any input must either be
// rejected with a Status or run without crashing.
#include <cstdint>
#include <vector>

#include "io/gguf.h"
#include "model/gguf_config.h"
#include "model/transformer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto g = qs::GgufFile::Parse(data, size, "fuzz.gguf");
  if (!g.ok()) return 0;
  auto cfg = qs::ConfigFromGguf(*g.value());
  if (!cfg.ok()) return 0;
  // Keep the fuzzer away from configs whose activations alone would exhaust memory.
  if (cfg->hidden_size * cfg->vocab_size > (1 << 24) || cfg->num_hidden_layers > 64) return 0;
  auto src = qs::WeightSource::FromGguf(std::move(g).value(), *cfg);
  if (!src.ok()) return 0;
  auto model = qs::MakeTransformer(*cfg, std::move(src).value());
  if (!model.ok()) return 0;
  auto cache = (*model)->NewCache(2);
  std::vector<int32_t> tokens = {0, static_cast<int32_t>(cfg->vocab_size - 1)};
  std::vector<float> logits(static_cast<size_t>(2 * cfg->vocab_size));
  (void)(*model)->Forward(tokens.data(), 2, cache.get(), logits.data(), nullptr);
  return 0;
}
