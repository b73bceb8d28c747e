// Feed-forward blocks: the dense SwiGLU MLP and DeepSeekMoE (DeepSeek-V2 §2.2, V3 §2.1.2):
// shared experts always on, routed experts chosen per token by the gate.
#pragma once

#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "model/block.h"
#include "model/config.h"

namespace qs {

class ThreadPool;

// down(silu(gate(x)) * up(x))
struct FfnWeights {
  WeightMatrix gate, up, down;  // gate/up [inter, hidden], down [hidden, inter]
  // Lists the three projections under `prefix` (gate_proj / up_proj / down_proj).
  void Visit(TensorVisitor& v, const std::string& prefix, int64_t hidden, int64_t inter, bool routed_expert = false);
};
// x: [T, hidden] -> out: [T, hidden]. `scratch` is reused between calls.
void FfnForward(const FfnWeights& w, const float* x, int64_t T, float* out, ThreadPool* pool,
                std::vector<float>* scratch);

// The dense SwiGLU MLP block ("model.layers.L.mlp.").
class DenseFfnBlock final : public FfnBlock {
 public:
  DenseFfnBlock(const ModelConfig& c, std::string prefix)
      : p_(std::move(prefix)), hidden_(c.hidden_size), inter_(c.intermediate_size) {}
  void VisitTensors(TensorVisitor& v) override { w_.Visit(v, p_, hidden_, inter_); }
  void Forward(const float* x, int64_t T, float* out, Workspace& ws, ThreadPool* pool, const LayerTrace* trace) override;

 private:
  std::string p_;
  int64_t hidden_, inter_;
  FfnWeights w_;
};

// The routing rule, separated so tests can pin it down. `logits`: the gate's raw outputs
// [n_routed_experts]. Writes k expert ids (best selection score first) and their final weights.
struct RouterParams {
  ScoringFunc scoring;
  TopkMethod method;
  int64_t n_experts, n_group, topk_group, k;
  bool norm_topk_prob;
  double routed_scaling_factor;
  // HF DeepseekV2 scales only when it does not renormalise; V3 (and model.py) always scale
  // (config feature flag moe_scale_only_if_not_normalized, set by the architecture spec).
  bool scale_only_if_not_normalized;
};
RouterParams MakeRouterParams(const ModelConfig& c);
void Route(const RouterParams& p, const float* logits, const float* bias, int32_t* ids, float* weights);

// DeepSeekMoE ("model.layers.L.mlp."): router, optional noaux_tc correction bias, routed experts,
// shared experts.
class MoeBlock final : public FfnBlock {
 public:
  MoeBlock(const ModelConfig& c, std::string prefix);
  void VisitTensors(TensorVisitor& v) override;
  void Forward(const float* x, int64_t T, float* out, Workspace& ws, ThreadPool* pool, const LayerTrace* trace) override;
  int64_t routed_per_token() const override { return p_.k; }

 private:
  std::string prefix_;
  RouterParams p_;
  int64_t hidden_, inter_, shared_inter_;
  bool has_bias_;
  WeightMatrix router_;      // mlp.gate.weight [n_routed_experts, hidden]
  std::vector<float> bias_;  // e_score_correction_bias (noaux_tc), empty otherwise
  std::vector<FfnWeights> experts_;
  FfnWeights shared_;        // width moe_intermediate_size * n_shared_experts (if any)
};

}  // namespace qs
