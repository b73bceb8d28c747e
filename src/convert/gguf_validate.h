// The project's GGUF validator: does a parsed GGUF file describe a model the engine (and
// llama.cpp) can run? Checks a known architecture whose metadata gives a consistent config,
// every tensor the config implies present with llama.cpp's shape and a type that can hold it,
// data offsets aligned, inside the file and not overlapping, and notes what llama.cpp would
// miss (no tokenizer, no general.file_type) as warnings. Used by `qiusuo info` and the tests.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "io/gguf.h"

namespace qs {

struct GgufValidation {
  std::vector<std::string> errors;    // each names the key or tensor
  std::vector<std::string> warnings;  // unexpected tensors, missing optional keys
  bool ok() const { return errors.empty(); }
  // Ok, or InvalidArgument listing every error ("<file>: ...; ...").
  Status ToStatus(const std::string& file) const;
};

GgufValidation ValidateGgufModel(const GgufFile& g);

}  // namespace qs
