// Feed-forward blocks: the dense SwiGLU MLP and DeepSeekMoE (DeepSeek-V2 §2.2, V3 §2.1.2):
// shared experts always on, routed experts chosen per token by the gate.
#pragma once

#include <vector>

#include "kernels/matmul.h"
#include "model/config.h"
#include "model/weight_source.h"

namespace qs {

class ThreadPool;

// down(silu(gate(x)) * up(x))
struct FfnWeights {
  WeightMatrix gate, up, down;  // gate/up [inter, hidden], down [hidden, inter]
};
Result<FfnWeights> LoadFfn(WeightSource& src, const std::string& prefix, int64_t hidden, int64_t inter);
// x: [T, hidden] -> out: [T, hidden]. `scratch` is reused between calls.
void FfnForward(const FfnWeights& w, const float* x, int64_t T, float* out, ThreadPool* pool,
                std::vector<float>* scratch);

struct MoeWeights {
  WeightMatrix router;       // mlp.gate.weight [n_routed_experts, hidden]
  std::vector<float> bias;   // e_score_correction_bias (noaux_tc), empty otherwise
  std::vector<FfnWeights> experts;
  bool has_shared = false;
  FfnWeights shared;         // width moe_intermediate_size * n_shared_experts
};
Result<MoeWeights> LoadMoe(WeightSource& src, const std::string& prefix, const ModelConfig& c);

// The routing rule, separated so tests can pin it down. `logits`: the gate's raw outputs
// [n_routed_experts]. Writes k expert ids (best selection score first) and their final weights.
struct RouterParams {
  ScoringFunc scoring;
  TopkMethod method;
  int64_t n_experts, n_group, topk_group, k;
  bool norm_topk_prob;
  double routed_scaling_factor;
  // HF DeepseekV2 scales only when it does not renormalise; V3 (and model.py) always scale.
  bool scale_only_if_not_normalized;
};
RouterParams MakeRouterParams(const ModelConfig& c);
void Route(const RouterParams& p, const float* logits, const float* bias, int32_t* ids, float* weights);

class MoeBlock {
 public:
  explicit MoeBlock(const ModelConfig& c) : p_(MakeRouterParams(c)), hidden_(c.hidden_size) {}
  // x: [T, hidden] -> out: [T, hidden]. ids/weights (optional): [T, k] routing decisions.
  void Forward(const MoeWeights& w, const float* x, int64_t T, float* out, ThreadPool* pool,
               int32_t* ids_out, float* weights_out);

 private:
  RouterParams p_;
  int64_t hidden_;
  std::vector<float> logits_, xe_, ye_, scratch_;
  std::vector<int32_t> ids_;
  std::vector<float> wts_;
  std::vector<std::vector<std::pair<int64_t, float>>> by_expert_;  // (token, weight) per expert, reused
  std::vector<std::pair<int64_t, int64_t>> active_;  // (expert, first row in xe_/ye_)
  std::vector<MatMulJob> jobs_;
};

}  // namespace qs
