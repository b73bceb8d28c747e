#include "model/mla.h"

#include <algorithm>
#include <cmath>

#include "base/thread_pool.h"
#include "kernels/ops.h"

namespace qs {

Result<MlaWeights> LoadMla(WeightSource& src, const std::string& p, const ModelConfig& c) {
  const int64_t H = c.num_attention_heads, dqk = c.qk_head_dim();
  MlaWeights w;
  if (c.q_lora_rank > 0) {
    QS_ASSIGN_OR_RETURN(w.q_a, src.Matrix(p + "q_a_proj.weight", c.q_lora_rank, c.hidden_size));
    QS_ASSIGN_OR_RETURN(w.q_a_norm, src.Vector(p + "q_a_layernorm.weight", c.q_lora_rank));
    QS_ASSIGN_OR_RETURN(w.q_b, src.Matrix(p + "q_b_proj.weight", H * dqk, c.q_lora_rank));
  } else {
    QS_ASSIGN_OR_RETURN(w.q, src.Matrix(p + "q_proj.weight", H * dqk, c.hidden_size));
  }
  QS_ASSIGN_OR_RETURN(w.kv_a, src.Matrix(p + "kv_a_proj_with_mqa.weight", c.kv_lora_rank + c.qk_rope_head_dim, c.hidden_size));
  QS_ASSIGN_OR_RETURN(w.kv_a_norm, src.Vector(p + "kv_a_layernorm.weight", c.kv_lora_rank));
  const bool split = src.Has(p + "k_b_proj.weight") || src.Has(p + "v_b_proj.weight");
  if (src.Has(p + "kv_b_proj.weight") || !split) {
    QS_ASSIGN_OR_RETURN(w.kv_b, src.Matrix(p + "kv_b_proj.weight", H * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank));
    if (split) {  // files with both carry the same numbers twice; the combined one is enough
      src.MarkUsed(p + "k_b_proj.weight");
      src.MarkUsed(p + "v_b_proj.weight");
    }
  } else {
    QS_ASSIGN_OR_RETURN(w.k_b, src.Matrix3D(p + "k_b_proj.weight", H, c.kv_lora_rank, c.qk_nope_head_dim));
    QS_ASSIGN_OR_RETURN(w.v_b, src.Matrix3D(p + "v_b_proj.weight", H, c.v_head_dim, c.kv_lora_rank));
  }
  QS_ASSIGN_OR_RETURN(w.o, src.Matrix(p + "o_proj.weight", c.hidden_size, H * c.v_head_dim));
  return w;
}

static float MlaScale(const ModelConfig& c, const Rope& rope) {
  // (dn + dr)^-0.5 * mscale^2 (YaRN only): DeepSeek model.py `softmax_scale`.
  return static_cast<float>(std::pow(static_cast<double>(c.qk_head_dim()), -0.5) * rope.softmax_mscale2());
}

MlaAttention::MlaAttention(const ModelConfig& c)
    : hidden_(c.hidden_size), H_(c.num_attention_heads), dn_(c.qk_nope_head_dim), dr_(c.qk_rope_head_dim),
      dv_(c.v_head_dim), kv_lora_(c.kv_lora_rank), q_lora_(c.q_lora_rank), eps_(c.rms_norm_eps),
      rope_(c.rope, c.qk_rope_head_dim) {
  scale_ = MlaScale(c, rope_);
}

void MlaAttention::Forward(const MlaWeights& w, const float* x, int64_t T, int64_t pos0, KvCache* cache,
                           int64_t layer, float* out, ThreadPool* pool) {
  const int64_t dqk = dn_ + dr_, qw = H_ * dqk, kvw = kv_lora_ + dr_;
  q_.resize(static_cast<size_t>(T * qw));
  kva_.resize(static_cast<size_t>(T * kvw));
  qlat_.resize(static_cast<size_t>(T * H_ * kv_lora_));
  attn_.resize(static_cast<size_t>(T * H_ * dv_));

  // Queries: [T, H, dn | dr].
  if (q_lora_ > 0) {
    qa_.resize(static_cast<size_t>(T * q_lora_));
    MatMul(w.q_a, x, T, qa_.data(), pool);
    for (int64_t t = 0; t < T; ++t) RmsNorm(&qa_[t * q_lora_], w.q_a_norm.data(), q_lora_, eps_, &qa_[t * q_lora_]);
    MatMul(w.q_b, qa_.data(), T, q_.data(), pool);
  } else {
    MatMul(w.q, x, T, q_.data(), pool);
  }
  // Latent KV rows for the new tokens go straight into the cache.
  MatMul(w.kv_a, x, T, kva_.data(), pool);
  for (int64_t t = 0; t < T; ++t) {
    float* row = cache->k(layer, pos0 + t);
    const float* src = &kva_[t * kvw];
    RmsNorm(src, w.kv_a_norm.data(), kv_lora_, eps_, row);  // normalises c_kv only
    for (int64_t i = 0; i < dr_; ++i) row[kv_lora_ + i] = src[kv_lora_ + i];
    rope_.Apply(row + kv_lora_, pos0 + t, RopeLayout::kInterleaved);  // k_pe: one head, shared
  }

  // One (token, head) pair per work item: rope q_pe, absorb W_UK, attend over the latent cache,
  // apply W_UV.
  auto body = [&](int64_t i0, int64_t i1, int) {
    thread_local std::vector<float> scores, olat, vrow;
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t t = i / H_, h = i % H_, pos = pos0 + t, S = pos + 1;
      float* qh = &q_[t * qw + h * dqk];
      float* qpe = qh + dn_;
      rope_.Apply(qpe, pos, RopeLayout::kInterleaved);
      float* ql = &qlat_[(t * H_ + h) * kv_lora_];
      if (w.k_b.valid()) {  // q_lat = W_UK_h^T q_nope, with W_UK_h^T stored as rows
        vrow.resize(static_cast<size_t>(std::max(kv_lora_, dn_)));
        for (int64_t c = 0; c < kv_lora_; ++c) {
          DecodeRow(w.k_b, h * kv_lora_ + c, vrow.data());
          ql[c] = Dot(vrow.data(), qh, dn_);
        }
      } else {
        for (int64_t c = 0; c < kv_lora_; ++c) ql[c] = 0.f;
        MatTVecAccumulate(w.kv_b, h * (dn_ + dv_), dn_, qh, ql);  // q_lat = W_UK_h^T q_nope
      }
      scores.resize(static_cast<size_t>(S));
      for (int64_t s = 0; s < S; ++s) {
        const float* kr = cache->k(layer, s);
        scores[s] = (Dot(ql, kr, kv_lora_) + Dot(qpe, kr + kv_lora_, dr_)) * scale_;
      }
      Softmax(scores.data(), S);
      olat.assign(static_cast<size_t>(kv_lora_), 0.f);
      for (int64_t s = 0; s < S; ++s) Axpy(scores[s], cache->k(layer, s), olat.data(), kv_lora_);
      float* oh = &attn_[(t * H_ + h) * dv_];
      vrow.resize(static_cast<size_t>(std::max(kv_lora_, dn_)));
      for (int64_t d = 0; d < dv_; ++d) {  // o_h = W_UV_h o_lat
        if (w.v_b.valid()) DecodeRow(w.v_b, h * dv_ + d, vrow.data());
        else DecodeRow(w.kv_b, h * (dn_ + dv_) + dn_ + d, vrow.data());
        oh[d] = Dot(vrow.data(), olat.data(), kv_lora_);
      }
    }
  };
  if (pool) pool->ParallelFor(T * H_, body);
  else body(0, T * H_, 0);

  MatMul(w.o, attn_.data(), T, out, pool);
}

}  // namespace qs
