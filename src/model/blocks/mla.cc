#include "model/blocks/mla.h"

#include <algorithm>
#include <cmath>

#include "base/thread_pool.h"
#include "kernels/ops.h"
#include "model/weight_source.h"

namespace qs {

namespace {
// Scratch shared by every MLA layer of a model (model/block.h Workspace).
struct MlaScratch {
  std::vector<float> qa, q, kva, qlat, olat, attn;
  std::vector<int32_t> sel;
  std::vector<int64_t> n_sel;
};
}  // namespace

MlaBlock::MlaBlock(const ModelConfig& c, std::string prefix, std::unique_ptr<KeySelector> selector)
    : p_(std::move(prefix)), hidden_(c.hidden_size), H_(c.num_attention_heads), dn_(c.qk_nope_head_dim),
      dr_(c.qk_rope_head_dim), dv_(c.v_head_dim), kv_lora_(c.kv_lora_rank), q_lora_(c.q_lora_rank),
      eps_(c.rms_norm_eps), rope_(c.rope, c.qk_rope_head_dim), selector_(std::move(selector)) {
  // (dn + dr)^-0.5 * mscale^2 (YaRN only): DeepSeek model.py `softmax_scale`.
  scale_ = static_cast<float>(std::pow(static_cast<double>(dn_ + dr_), -0.5) * rope_.softmax_mscale2());
}

void MlaBlock::VisitTensors(TensorVisitor& v) {
  const int64_t dqk = dn_ + dr_;
  if (q_lora_ > 0) {
    v.Matrix(p_ + "q_a_proj.weight", &q_a_, q_lora_, hidden_, TensorRole::kLinear);
    v.Vector(p_ + "q_a_layernorm.weight", &q_a_norm_, q_lora_, TensorRole::kNorm);
    v.Matrix(p_ + "q_b_proj.weight", &q_b_, H_ * dqk, q_lora_, TensorRole::kLinear);
  } else {
    v.Matrix(p_ + "q_proj.weight", &q_proj_, H_ * dqk, hidden_, TensorRole::kLinear);
  }
  v.Matrix(p_ + "kv_a_proj_with_mqa.weight", &kv_a_, kv_lora_ + dr_, hidden_, TensorRole::kLinear);
  v.Vector(p_ + "kv_a_layernorm.weight", &kv_a_norm_, kv_lora_, TensorRole::kNorm);
  if (split_kv_b_) {
    v.Matrix3D(p_ + "k_b_proj.weight", &k_b_, H_, kv_lora_, dn_);
    v.Matrix3D(p_ + "v_b_proj.weight", &v_b_, H_, dv_, kv_lora_);
  } else {
    v.Matrix(p_ + "kv_b_proj.weight", &kv_b_, H_ * (dn_ + dv_), kv_lora_, TensorRole::kLinear);
  }
  v.Matrix(p_ + "o_proj.weight", &o_, hidden_, H_ * dv_, TensorRole::kLinear);
  if (selector_) selector_->VisitTensors(v);
}

Status MlaBlock::Load(WeightSource& src) {
  const bool split = src.Has(p_ + "k_b_proj.weight") || src.Has(p_ + "v_b_proj.weight");
  split_kv_b_ = split && !src.Has(p_ + "kv_b_proj.weight");
  if (split && !split_kv_b_) {  // files with both carry the same numbers twice; the combined one is enough
    src.MarkUsed(p_ + "k_b_proj.weight");
    src.MarkUsed(p_ + "v_b_proj.weight");
  }
  return Block::Load(src);
}

Status MlaBlock::Finish(WeightSource&) {
  if (split_kv_b_) return Status::Ok();
  const int64_t H = H_, kvl = kv_lora_, dn = dn_, dv = dv_;
  k_b_store_ = std::make_shared<std::vector<float>>(static_cast<size_t>(H * kvl * dn));
  std::vector<float> row(static_cast<size_t>(kvl));
  float* kb = k_b_store_->data();
  for (int64_t h = 0; h < H; ++h)
    for (int64_t d = 0; d < dn; ++d) {
      DecodeRow(kv_b_, h * (dn + dv) + d, row.data());
      for (int64_t col = 0; col < kvl; ++col) kb[(h * kvl + col) * dn + d] = row[col];
    }
  k_b_.name = p_ + "k_b (W_UK^T from kv_b_proj)";
  k_b_.dtype = DType::kF32;
  k_b_.rows = H * kvl;
  k_b_.cols = dn;
  k_b_.data = reinterpret_cast<const uint8_t*>(kb);
  k_b_.row_stride = static_cast<size_t>(dn) * sizeof(float);
  return Status::Ok();
}

CacheLayout MlaBlock::cache_layout() const {
  // The latent row [kv_a_layernorm(c_kv) | rope(k_pe)] is both key and value (DeepSeek-V2 §2.1.2).
  return CacheLayout{kv_lora_ + dr_, 0, selector_ ? selector_->aux_width() : 0};
}

void MlaBlock::Forward(const float* x, const BatchRows& rows, int64_t layer, float* out, Workspace& ws, ThreadPool* pool,
                       const LayerTrace* trace) {
  MlaScratch& S_ = ws.Get<MlaScratch>();
  auto& qa_ = S_.qa;
  auto& q_ = S_.q;
  auto& kva_ = S_.kva;
  auto& qlat_ = S_.qlat;
  auto& olat_ = S_.olat;
  auto& attn_ = S_.attn;
  const auto& tok_cache_ = rows.caches;
  const auto& tok_pos_ = rows.positions;
  const int64_t T = rows.T();
  const int64_t dqk = dn_ + dr_, qw = H_ * dqk, kvw = kv_lora_ + dr_;
  q_.resize(static_cast<size_t>(T * qw));
  kva_.resize(static_cast<size_t>(T * kvw));
  qlat_.resize(static_cast<size_t>(T * H_ * kv_lora_));
  attn_.resize(static_cast<size_t>(T * H_ * dv_));

  // Queries: [T, H, dn | dr].
  // (The projections of x, q_a or q and kv_a, share one parallel region.)
  if (q_lora_ > 0) {
    qa_.resize(static_cast<size_t>(T * q_lora_));
    const MatMulJob jobs[2] = {{&q_a_, x, hidden_, T, qa_.data(), q_lora_}, {&kv_a_, x, hidden_, T, kva_.data(), kvw}};
    MatMulMany(jobs, 2, pool);
    for (int64_t t = 0; t < T; ++t) RmsNorm(&qa_[t * q_lora_], q_a_norm_.data(), q_lora_, eps_, &qa_[t * q_lora_]);
    MatMul(q_b_, qa_.data(), T, q_.data(), pool);
  } else {
    const WeightMatrix& q_w = q_proj_;
    const MatMulJob jobs[2] = {{&q_w, x, hidden_, T, q_.data(), qw}, {&kv_a_, x, hidden_, T, kva_.data(), kvw}};
    MatMulMany(jobs, 2, pool);
  }
  // Latent KV rows for the new tokens go straight into the cache.
  for (int64_t t = 0; t < T; ++t) {
    float* row = tok_cache_[t]->k(layer, tok_pos_[t]);
    const float* src = &kva_[t * kvw];
    RmsNorm(src, kv_a_norm_.data(), kv_lora_, eps_, row);  // normalises c_kv only
    for (int64_t i = 0; i < dr_; ++i) row[kv_lora_ + i] = src[kv_lora_ + i];
    rope_.Apply(row + kv_lora_, tok_pos_[t], RopeLayout::kInterleaved);  // k_pe: one head, shared
  }

  // Sparse attention: the selector (V3.2's lightning indexer) picks each query's keys from the
  // cache, including the rows just written; rows whose pick covers every position stay dense.
  const int64_t K = selector_ ? selector_->max_keys() : 0;
  if (selector_) {
    S_.sel.resize(static_cast<size_t>(T * K));
    S_.n_sel.resize(static_cast<size_t>(T));
    selector_->Select(x, q_lora_ > 0 ? qa_.data() : nullptr, rows, layer, S_.sel.data(), S_.n_sel.data(), ws, pool, trace);
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
      MatMul(k_b_.RowSlice(h * kv_lora_, kv_lora_), &q_[h * dqk], qw, T, &qlat_[h * kv_lora_], qls, nullptr);
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
      if (K > 0 && S_.n_sel[t] < S) {
        AttentionRows(qcat.data(), nh, kw, cache->k(layer, 0), kw, cache->k(layer, 0), kw, &S_.sel[t * K], S_.n_sel[t],
                      kw, kv_lora_, scale_, &olat_[t * qls + h0 * kv_lora_], kv_lora_, &scratch);
      } else {
        Attention(qcat.data(), nh, kw, cache->k(layer, 0), kw, cache->k(layer, 0), kw, S, kw, kv_lora_, scale_,
                  &olat_[t * qls + h0 * kv_lora_], kv_lora_, &scratch);
      }
    }
  };
  auto apply_uv = [&](int64_t h0, int64_t h1, int) {
    thread_local std::vector<float> row;
    row.resize(static_cast<size_t>(kv_lora_));
    for (int64_t h = h0; h < h1; ++h) {
      // o_h[t] = W_UV_h o_lat[t]: a [dv, kv_lora] matmul over T tokens.
      float* oh = &attn_[h * dv_];
      const float* ol = &olat_[h * kv_lora_];  // row stride H * kv_lora
      const int64_t r0 = v_b_.valid() ? h * dv_ : h * (dn_ + dv_) + dn_;
      const WeightMatrix& wv = v_b_.valid() ? v_b_ : kv_b_;
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

  MatMul(o_, attn_.data(), T, out, pool);
}

}  // namespace qs
