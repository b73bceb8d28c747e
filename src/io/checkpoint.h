// A Hugging Face checkpoint directory's weights: model.safetensors, or the shards named by
// model.safetensors.index.json. Every file is memory-mapped; tensors are views into the maps.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "io/safetensors.h"

namespace qs {

class Checkpoint {
 public:
  // `dir` holds model.safetensors.index.json (+ shards) or model.safetensors (or, failing both,
  // any *.safetensors files, loaded in name order).
  static Result<std::unique_ptr<Checkpoint>> OpenDir(const std::string& dir);

  const TensorView* Find(const std::string& name) const;
  // The file a tensor lives in (for error messages).
  std::string FileOf(const std::string& name) const;
  std::vector<std::string> Names() const;
  size_t num_files() const { return files_.size(); }
  uint64_t total_bytes() const;

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::unordered_map<std::string, std::pair<size_t, const TensorView*>> index_;
};

}  // namespace qs
