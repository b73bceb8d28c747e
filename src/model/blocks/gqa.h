// Grouped-query attention (Ainslie et al. 2023) as Hugging Face's modeling_llama / modeling_qwen2
// compute it: the attention of Qwen2 (R1-Distill-Qwen), Llama (R1-Distill-Llama, DeepSeek-LLM,
// DeepSeek-Coder).
//
// Per token:  q = W_q x (+ b_q)   [H,  hd]      k = W_k x (+ b_k)   [KV, hd]      v = W_v x (+ b_v)
//             rope(q), rope(k) at the token's position (half-split pairs for HF weights, adjacent
//             pairs for llama.cpp `llama` GGUFs whose Q/K rows were permuted by the converter)
//             k, v -> cache;  query head h reads kv head h / (H / KV)   (repeat_kv)
//             o_h = softmax(q_h . k_s / sqrt(hd)) v_s;  out = W_o [o_0 .. o_H-1]
#pragma once

#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "model/block.h"
#include "model/config.h"
#include "model/rope.h"

namespace qs {

class GqaBlock final : public AttentionBlock {
 public:
  // `prefix`: "model.layers.L.self_attn.".
  GqaBlock(const ModelConfig& c, std::string prefix);
  void VisitTensors(TensorVisitor& v) override;
  CacheLayout cache_layout() const override { return CacheLayout{KV_ * hd_, KV_ * hd_, 0}; }
  void Forward(const float* x, const BatchRows& rows, int64_t layer, float* out, Workspace& ws, ThreadPool* pool,
               const LayerTrace* trace) override;

 private:
  std::string p_;
  int64_t hidden_, H_, KV_, hd_;
  bool bias_;
  float scale_;
  RopeLayout layout_;
  Rope rope_;
  WeightMatrix wq_, wk_, wv_, wo_;    // q [H*hd, hidden], k/v [KV*hd, hidden], o [hidden, H*hd]
  std::vector<float> bq_, bk_, bv_;   // empty without attention_bias
};

}  // namespace qs
