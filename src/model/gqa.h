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

#include <vector>

#include "kernels/matmul.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/rope.h"
#include "model/weight_source.h"

namespace qs {

class ThreadPool;

struct GqaWeights {
  WeightMatrix q, k, v, o;        // q [H*hd, hidden], k/v [KV*hd, hidden], o [hidden, H*hd]
  std::vector<float> bq, bk, bv;  // empty without attention_bias
};

Result<GqaWeights> LoadGqa(WeightSource& src, const std::string& prefix, const ModelConfig& c);

class GqaAttention {
 public:
  explicit GqaAttention(const ModelConfig& c);
  // x: [T, hidden] (already input_layernorm-ed) at positions pos0..pos0+T-1; appends their k/v
  // rows to cache layer `layer` and writes the attention output [T, hidden] into `out`.
  void Forward(const GqaWeights& w, const float* x, int64_t T, int64_t pos0, KvCache* cache,
               int64_t layer, float* out, ThreadPool* pool);
  // Batched: rows of x belong to the sequences in `segs` (continuous batching).
  void Forward(const GqaWeights& w, const float* x, int64_t T, const std::vector<AttnSegment>& segs,
               int64_t layer, float* out, ThreadPool* pool);
  int64_t kv_width() const { return KV_ * hd_; }

 private:
  int64_t hidden_, H_, KV_, hd_;
  float scale_;
  RopeLayout layout_;
  Rope rope_;
  std::vector<float> q_, k_, v_, attn_;  // scratch, reused across calls
  std::vector<KvCache*> tok_cache_;
  std::vector<int64_t> tok_pos_;
};

}  // namespace qs
