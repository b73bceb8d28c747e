// Multi-head Latent Attention (DeepSeek-V2 paper §2.1), absorbed form.
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
#pragma once

#include <memory>
#include <vector>

#include "kernels/matmul.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/rope.h"
#include "model/weight_source.h"

namespace qs {

class ThreadPool;

struct MlaWeights {
  WeightMatrix q_a, q_b;  // with q LoRA
  std::vector<float> q_a_norm;
  WeightMatrix q;         // without (q_lora_rank null, V2-Lite)
  WeightMatrix kv_a;      // [kv_lora + dr, hidden]
  std::vector<float> kv_a_norm;
  WeightMatrix kv_b;      // [H * (dn + dv), kv_lora]
  // Or llama.cpp's split of kv_b (newer deepseek2 GGUFs): W_UK_h^T and W_UV_h per head.
  WeightMatrix k_b;       // [H * kv_lora, dn]   (attn_k_b, ne {dn, kv_lora, H})
  WeightMatrix v_b;       // [H * dv, kv_lora]   (attn_v_b, ne {kv_lora, dv, H})
  // Without attn_k_b in the file, k_b is built at load time: W_UK_h^T in fp32 (exact widening of
  // kv_b's key rows, transposed), so absorbing W_UK is a plain matmul through the SIMD kernels.
  // Costs H * kv_lora * dn floats per layer (V2-Lite: 4 MiB, V3: 32 MiB per layer).
  std::shared_ptr<std::vector<float>> k_b_store;
  WeightMatrix o;         // [hidden, H * dv]
};

Result<MlaWeights> LoadMla(WeightSource& src, const std::string& prefix, const ModelConfig& c);

class MlaAttention {
 public:
  explicit MlaAttention(const ModelConfig& c);
  // x: [T, hidden] (already input_layernorm-ed), tokens at positions pos0..pos0+T-1; writes their
  // latent rows into cache layer `layer` and the attention output [T, hidden] into `out`.
  void Forward(const MlaWeights& w, const float* x, int64_t T, int64_t pos0, KvCache* cache,
               int64_t layer, float* out, ThreadPool* pool);
  // Batched: rows of x belong to the sequences in `segs` (continuous batching).
  void Forward(const MlaWeights& w, const float* x, int64_t T, const std::vector<AttnSegment>& segs,
               int64_t layer, float* out, ThreadPool* pool);
  int64_t cache_width() const { return kv_lora_ + dr_; }

 private:
  int64_t hidden_, H_, dn_, dr_, dv_, kv_lora_, q_lora_;
  double eps_;
  float scale_;
  Rope rope_;
  std::vector<float> qa_, q_, kva_, qlat_, olat_, attn_;  // scratch, reused across calls
  std::vector<KvCache*> tok_cache_;
  std::vector<int64_t> tok_pos_;
};

}  // namespace qs
