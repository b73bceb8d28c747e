// Fuzz target: the safetensors header parser on arbitrary bytes.
#include <cstdint>
#include <cstring>

#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = qs::ParseSafetensors(data, size, "fuzz.safetensors");
  if (r.ok()) {
    // Every view handed out must lie inside the input.
    for (const auto& t : r.value()) {
      if (t.data < data || t.data + t.nbytes > data + size) __builtin_trap();
    }
  }
  return 0;
}
