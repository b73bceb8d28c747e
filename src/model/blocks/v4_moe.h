// DeepSeek-V4's MoE (model.py `Gate`, `MoE`, `Expert`; fixtures/deepseek-v4-golden/README.md
// items 12-13): sqrt(softplus) scores; the first num_hash_layers layers take their experts from a
// stored table by token id (tid2eid), the others the top-k of score + bias; weights are the
// unbiased scores of the chosen experts, normalised, times routed_scaling_factor; one shared expert;
// SwiGLU with gate <= swiglu_limit and |up| <= swiglu_limit for routed and shared experts alike.
#pragma once

#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "model/block.h"
#include "model/config.h"

namespace qs {

struct V4Expert {
  WeightMatrix w1, w2, w3;  // w1 (gate) / w3 (up) [inter, hidden], w2 (down) [hidden, inter]
};

class V4Moe final : public FfnBlock {
 public:
  V4Moe(const ModelConfig& c, std::string prefix, bool hash);
  void VisitTensors(TensorVisitor& v) override;
  Status Load(WeightSource& src) override;  // the walk, then LoadTable
  // Hash layers' tid2eid (integers, outside the walk's matrices); for a composition that bound
  // the matrices with its own walk.
  Status LoadTable(WeightSource& src);
  // Hash routing reads the rows' token ids; the model sets them before each forward.
  void set_tokens(const int32_t* tokens) { tokens_ = tokens; }
  void Forward(const float* x, int64_t T, float* out, Workspace& ws, ThreadPool* pool, const LayerTrace* trace) override;
  int64_t routed_per_token() const override { return k_; }

 private:
  // y (+)= w2(clamped silu(w1 x) * w3 x * weight) for the rows x (n of them, stride hidden).
  void RunExpert(const V4Expert& e, const float* x, int64_t n, const float* weight, float* y, ThreadPool* pool);

  std::string p_;
  int64_t hidden_, inter_, n_exp_, k_, vocab_;
  bool hash_;
  float limit_, route_scale_;
  const int32_t* tokens_ = nullptr;
  WeightMatrix gate_;
  std::vector<float> bias_;
  std::vector<int64_t> tid2eid_;  // [vocab, k]
  std::vector<V4Expert> experts_;
  V4Expert shared_;
  std::vector<float> scores_, xg_, h1_, h3_, yg_;
  std::vector<int32_t> ids_;
  std::vector<float> wts_;
};

}  // namespace qs
