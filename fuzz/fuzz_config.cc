// Fuzz target: config.json parsing and its consistency checks on arbitrary bytes.
#include <cstdint>
#include <string>

#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = qs::ParseModelConfig(std::string(reinterpret_cast<const char*>(data), size), "fuzz/config.json");
  if (r.ok() && (r->hidden_size <= 0 || r->num_hidden_layers <= 0)) __builtin_trap();
  return 0;
}
