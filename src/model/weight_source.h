// Where a model's tensors come from (a safetensors checkpoint today, a GGUF file later), and the
// checked accessors the architectures use to pull weights out of it. Every accessor verifies the
// shape against config.json and names the file and tensor when something disagrees.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/checkpoint.h"
#include "kernels/matmul.h"
#include "model/config.h"

namespace qs {

class WeightSource {
 public:
  WeightSource(std::unique_ptr<Checkpoint> ck, const ModelConfig& cfg) : ck_(std::move(ck)), cfg_(cfg) {}

  bool Has(const std::string& name) const { return ck_->Find(name) != nullptr; }
  // A 2-D weight [rows, cols] (HF layout [out, in]); FP8 weights bring their `_scale_inv`.
  Result<WeightMatrix> Matrix(const std::string& name, int64_t rows, int64_t cols);
  // A 1-D vector of n values widened to fp32 (norm weights, biases).
  Result<std::vector<float>> Vector(const std::string& name, int64_t n);
  // Tensors that no accessor asked for (reported by the loader; MTP layers are expected here).
  std::vector<std::string> Unused() const;
  const Checkpoint& checkpoint() const { return *ck_; }

 private:
  Result<const TensorView*> Get(const std::string& name);
  std::unique_ptr<Checkpoint> ck_;
  ModelConfig cfg_;
  std::set<std::string> used_;
};

}  // namespace qs
