// DeepSeek Sparse Attention's lightning indexer (DeepSeek-V3.2-Exp paper §2.1; reference
// inference/model.py `Indexer`, with upstream's fix: its RoPE is non-interleaved). A KeySelector
// for the MLA block: for each query it scores every visible cached position and MLA then attends
// to the index_topk best only.
//
// Per token t (x: the attention input, qr: MLA's q_a_layernorm(q_a_proj x)):
//   q      = wq_b qr                                  [nh, d]   (heads outermost)
//   k      = LayerNorm(wk x)  (weight + bias)         [d]       one key shared by all heads
//   q, k   : RoPE on the *first* qk_rope_head_dim dims, half-split pairs (x[i], x[i + r/2]),
//            MLA's YaRN frequencies and positions; then Hadamard rotation (x H_d / sqrt(d))
//   q̂, s_q : e4m3 per head, one ue8m0 scale per d values (kernels/dsa.h); k̂, s_k likewise,
//            cached as the aux row [s_k | k̂] so decode and prefill score the same keys
//   w      = weights_proj(x) * nh^-0.5 * s_q[h] * d^-0.5                       [nh]
//   I[t,j] = s_k[j] * sum_h w[h] * relu(q̂_h . k̂_j)          for positions j <= t
//   keys   = the min(index_topk, t + 1) positions with the highest I (future positions are never
//            candidates: the causal mask comes before top-k)
#pragma once

#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "model/blocks/mla.h"
#include "model/config.h"
#include "model/rope.h"

namespace qs {

class Indexer final : public KeySelector {
 public:
  // `prefix`: "model.layers.L.self_attn.indexer.".
  Indexer(const ModelConfig& c, std::string prefix);
  void VisitTensors(TensorVisitor& v) override;
  int64_t aux_width() const override { return 1 + d_; }  // [s_k | k̂]
  int64_t max_keys() const override { return topk_; }
  void Select(const float* x, const float* q_latent, const BatchRows& rows, int64_t layer, int32_t* sel,
              int64_t* n_sel, Workspace& ws, ThreadPool* pool, const LayerTrace* trace) override;

 private:
  std::string p_;
  int64_t hidden_, q_lora_, nh_, d_, topk_, dr_;
  double eps_ = 1e-6;  // model.py LayerNorm default
  Rope rope_;
  WeightMatrix wq_b_, wk_, weights_proj_;  // [nh*d, q_lora], [d, hidden], [nh, hidden]
  std::vector<float> k_norm_w_, k_norm_b_;
};

}  // namespace qs
