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
    const int64_t kvl = c.kv_lora_rank, dn = c.qk_nope_head_dim, dv = c.v_head_dim;
    w.k_b_store = std::make_shared<std::vector<float>>(static_cast<size_t>(H * kvl * dn));
    std::vector<float> row(static_cast<size_t>(kvl));
    float* kb = w.k_b_store->data();
    for (int64_t h = 0; h < H; ++h)
      for (int64_t d = 0; d < dn; ++d) {
        DecodeRow(w.kv_b, h * (dn + dv) + d, row.data());
        for (int64_t col = 0; col < kvl; ++col) kb[(h * kvl + col) * dn + d] = row[col];
      }
    w.k_b.name = p + "k_b (W_UK^T from kv_b_proj)";
    w.k_b.dtype = DType::kF32;
    w.k_b.rows = H * kvl;
    w.k_b.cols = dn;
    w.k_b.data = reinterpret_cast<const uint8_t*>(kb);
    w.k_b.row_stride = static_cast<size_t>(dn) * sizeof(float);
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
  Forward(w, x, T, {AttnSegment{0, T, pos0, cache}}, layer, out, pool);
}

void MlaAttention::Forward(const MlaWeights& w, const float* x, int64_t T, const std::vector<AttnSegment>& segs,
                           int64_t layer, float* out, ThreadPool* pool) {
  // Row t of x belongs to tok_cache_[t] at position tok_pos_[t].
  ExpandSegments(segs, T, &tok_cache_, &tok_pos_);
  const int64_t dqk = dn_ + dr_, qw = H_ * dqk, kvw = kv_lora_ + dr_;
  q_.resize(static_cast<size_t>(T * qw));
  kva_.resize(static_cast<size_t>(T * kvw));
  qlat_.resize(static_cast<size_t>(T * H_ * kv_lora_));
  attn_.resize(static_cast<size_t>(T * H_ * dv_));

  // Queries: [T, H, dn | dr].
  // (The projections of x, q_a or q and kv_a, share one parallel region.)
  if (q_lora_ > 0) {
    qa_.resize(static_cast<size_t>(T * q_lora_));
    const MatMulJob jobs[2] = {{&w.q_a, x, hidden_, T, qa_.data(), q_lora_}, {&w.kv_a, x, hidden_, T, kva_.data(), kvw}};
    MatMulMany(jobs, 2, pool);
    for (int64_t t = 0; t < T; ++t) RmsNorm(&qa_[t * q_lora_], w.q_a_norm.data(), q_lora_, eps_, &qa_[t * q_lora_]);
    MatMul(w.q_b, qa_.data(), T, q_.data(), pool);
  } else {
    const MatMulJob jobs[2] = {{&w.q, x, hidden_, T, q_.data(), qw}, {&w.kv_a, x, hidden_, T, kva_.data(), kvw}};
    MatMulMany(jobs, 2, pool);
  }
  // Latent KV rows for the new tokens go straight into the cache.
  for (int64_t t = 0; t < T; ++t) {
    float* row = tok_cache_[t]->k(layer, tok_pos_[t]);
    const float* src = &kva_[t * kvw];
    RmsNorm(src, w.kv_a_norm.data(), kv_lora_, eps_, row);  // normalises c_kv only
    for (int64_t i = 0; i < dr_; ++i) row[kv_lora_ + i] = src[kv_lora_ + i];
    rope_.Apply(row + kv_lora_, tok_pos_[t], RopeLayout::kInterleaved);  // k_pe: one head, shared
  }

  // Absorbed attention (DeepSeek-V2 §2.1.3; model.py attn_impl "absorb") in three steps:
  //  1. per head, all T tokens at once (each head's W_UK_h read once per forward):
  //       q_lat[t, h] = W_UK_h^T q_nope[t, h]                        [T, H, kv_lora]
  //  2. per token and group of heads: every head attends over the same latent cache, so the
  //     cached rows [c_kv | k_pe] are read once for the group (online softmax, kernels/ops.h
  //     Attention): scores = [q_lat | q_pe] . row, o_lat[t, h] = sum_s p_s c_kv[s]  [T, H, kv_lora]
  //  3. per head, all T tokens: o[t, h] = W_UV_h o_lat[t, h]           [T, H, dv]
  for (int64_t t = 0; t < T; ++t) rope_.ApplyHeads(&q_[t * qw + dn_], H_, dqk, tok_pos_[t], RopeLayout::kInterleaved);
  const int64_t kw = kv_lora_ + dr_, qls = H_ * kv_lora_;
  olat_.resize(static_cast<size_t>(T * H_ * kv_lora_));
  auto absorb_q = [&](int64_t h0, int64_t h1, int) {
    for (int64_t h = h0; h < h1; ++h)  // k_b rows are W_UK_h^T: a [kv_lora, dn] matmul over T tokens
      MatMul(w.k_b.RowSlice(h * kv_lora_, kv_lora_), &q_[h * dqk], qw, T, &qlat_[h * kv_lora_], qls, nullptr);
  };
  // Heads per work item: up to 8 share each cached row read, but decode keeps >= 8 items so the
  // threads stay balanced (V2-Lite's 16 heads: 2 per item at T = 1).
  const int64_t hpi = std::clamp<int64_t>(H_ * T / 8, 1, 8);
  const int64_t hgroups = (H_ + hpi - 1) / hpi;
  auto attend = [&](int64_t i0, int64_t i1, int) {  // items: (token, group of heads)
    thread_local std::vector<float> qcat, scratch;
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t t = i / hgroups, h0 = (i % hgroups) * hpi, nh = std::min(hpi, H_ - h0);
      KvCache* cache = tok_cache_[t];
      const int64_t S = tok_pos_[t] + 1;  // causal: keys 0..pos of this token's sequence
      qcat.resize(static_cast<size_t>(nh * kw));
      for (int64_t j = 0; j < nh; ++j) {  // [q_lat | q_pe] per head, the layout of a cached row
        const float* ql = &qlat_[t * qls + (h0 + j) * kv_lora_];
        std::copy(ql, ql + kv_lora_, &qcat[j * kw]);
        const float* qpe = &q_[t * qw + (h0 + j) * dqk + dn_];
        std::copy(qpe, qpe + dr_, &qcat[j * kw + kv_lora_]);
      }
      // Keys are the cached rows [c_kv | k_pe], values their c_kv part: one pass over the cache.
      Attention(qcat.data(), nh, kw, cache->k(layer, 0), kw, cache->k(layer, 0), kw, S, kw, kv_lora_, scale_,
                &olat_[t * qls + h0 * kv_lora_], kv_lora_, &scratch);
    }
  };
  auto apply_uv = [&](int64_t h0, int64_t h1, int) {
    thread_local std::vector<float> row;
    row.resize(static_cast<size_t>(kv_lora_));
    for (int64_t h = h0; h < h1; ++h) {
      // o_h[t] = W_UV_h o_lat[t]: a [dv, kv_lora] matmul over T tokens.
      float* oh = &attn_[h * dv_];
      const float* ol = &olat_[h * kv_lora_];  // row stride H * kv_lora
      const int64_t r0 = w.v_b.valid() ? h * dv_ : h * (dn_ + dv_) + dn_;
      const WeightMatrix& wv = w.v_b.valid() ? w.v_b : w.kv_b;
      if (wv.dtype != DType::kF8E4M3 || r0 % wv.block_rows == 0) {
        MatMul(wv.RowSlice(r0, dv_), ol, qls, T, oh, H_ * dv_, nullptr);
      } else {  // an FP8 slice that does not start on a scale block: row by row
        for (int64_t d = 0; d < dv_; ++d) {
          DecodeRow(wv, r0 + d, row.data());
          for (int64_t t = 0; t < T; ++t) oh[t * H_ * dv_ + d] = Dot(row.data(), &ol[t * qls], kv_lora_);
        }
      }
    }
  };
  if (T < 4) {
    // Decode: one parallel region, a group of heads per work item doing all three steps.
    auto group = [&](int64_t g0, int64_t g1, int tid) {
      for (int64_t g = g0; g < g1; ++g) {
        const int64_t h0 = g * hpi, h1 = std::min(H_, h0 + hpi);
        absorb_q(h0, h1, tid);
        for (int64_t t = 0; t < T; ++t) attend(t * hgroups + g, t * hgroups + g + 1, tid);
        apply_uv(h0, h1, tid);
      }
    };
    if (pool) pool->ParallelFor(hgroups, group);
    else group(0, hgroups, 0);
  } else {
    // Prefill: each step over its own work items (per head: W_UK_h / W_UV_h read once for all T).
    if (pool) pool->ParallelFor(H_, absorb_q);
    else absorb_q(0, H_, 0);
    if (pool) pool->ParallelFor(T * hgroups, attend);
    else attend(0, T * hgroups, 0);
    if (pool) pool->ParallelFor(H_, apply_uv);
    else apply_uv(0, H_, 0);
  }

  MatMul(w.o, attn_.data(), T, out, pool);
}

}  // namespace qs
