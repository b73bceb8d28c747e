// Multi-head Latent Attention (DeepSeek-V2 paper §2.1), absorbed form, as an AttentionBlock.
//
// Per token:  c_q  = q_a_layernorm(W_qa x)            [q_lora_rank]   (or q = W_q x without LoRA)
//             q    = W_qb c_q                          [H, dn + dr]    (nope | rope per head)
//             [c_kv | k_pe] = W_kva x                  [kv_lora_rank + dr]
//             c_kv = kv_a_layernorm(c_kv); k_pe = rope(k_pe)  -> cached (the latent KV cache)
// kv_b_proj is [H, dn + dv, kv_lora] (heads outermost): W_UK_h = rows [0, dn), W_UV_h = rows [dn, dn+dv).
// Absorbed attention never materialises per-head keys/values:
//             q_lat_h = W_UK_h^T q_nope_h              [kv_lora]
//             score_s = (q_lat_h . c_kv_s + q_pe_h . k_pe_s) * (dn+dr)^-0.5 * mscale^2
//             o_h     = W_UV_h (sum_s softmax(score)_s c_kv_s)     [dv]
//             out     = W_o [o_0 .. o_H-1]
// With a KeySelector (DeepSeek Sparse Attention, V3.2), each query attends only to the cached
// positions the selector picks; the rest of the block is unchanged.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "model/block.h"
#include "model/config.h"
#include "model/rope.h"

namespace qs {

// Chooses, per query row, which cached positions sparse attention reads. It sees the attention
// input and MLA's normalised q-LoRA latent, keeps its own per-token cache row (the aux row), and
// writes for row t up to max_keys() positions <= positions[t], ascending.
class KeySelector {
 public:
  virtual ~KeySelector() = default;
  virtual void VisitTensors(TensorVisitor& v) = 0;
  virtual int64_t aux_width() const = 0;
  virtual int64_t max_keys() const = 0;
  // sel: [T, max_keys()], n_sel: [T] (entries past n_sel[t] are -1).
  virtual void Select(const float* x, const float* q_latent, const BatchRows& rows, int64_t layer, int32_t* sel,
                      int64_t* n_sel, Workspace& ws, ThreadPool* pool, const LayerTrace* trace) = 0;
};

class MlaBlock final : public AttentionBlock {
 public:
  // `prefix`: "model.layers.L.self_attn.". `selector`: null for dense attention.
  MlaBlock(const ModelConfig& c, std::string prefix, std::unique_ptr<KeySelector> selector = nullptr);
  void VisitTensors(TensorVisitor& v) override;
  Status Load(WeightSource& src) override;
  Status Finish(WeightSource& src) override;
  CacheLayout cache_layout() const override;
  void Forward(const float* x, const BatchRows& rows, int64_t layer, float* out, Workspace& ws, ThreadPool* pool,
               const LayerTrace* trace) override;

 private:
  std::string p_;
  int64_t hidden_, H_, dn_, dr_, dv_, kv_lora_, q_lora_;
  double eps_;
  float scale_;
  Rope rope_;
  std::unique_ptr<KeySelector> selector_;
  bool split_kv_b_ = false;  // GGUF with llama.cpp's attn_k_b / attn_v_b instead of kv_b

  WeightMatrix q_a_, q_b_;  // with q LoRA
  std::vector<float> q_a_norm_;
  WeightMatrix q_proj_;     // without (q_lora_rank null, V2-Lite)
  WeightMatrix kv_a_;       // [kv_lora + dr, hidden]
  std::vector<float> kv_a_norm_;
  WeightMatrix kv_b_;       // [H * (dn + dv), kv_lora]
  // W_UK_h^T and W_UV_h per head: llama.cpp's split of kv_b (attn_k_b ne {dn, kv_lora, H},
  // attn_v_b ne {kv_lora, dv, H}), or, without attn_k_b in the file, W_UK^T built at load in fp32
  // (exact widening of kv_b's key rows, transposed) so absorbing W_UK is a plain matmul.
  // Costs H * kv_lora * dn floats per layer (V2-Lite: 4 MiB, V3: 32 MiB per layer).
  WeightMatrix k_b_, v_b_;
  std::shared_ptr<std::vector<float>> k_b_store_;
  WeightMatrix o_;          // [hidden, H * dv]
};

}  // namespace qs
