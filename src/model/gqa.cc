#include "model/gqa.h"

#include <cmath>

#include "base/thread_pool.h"
#include "kernels/ops.h"

namespace qs {

Result<GqaWeights> LoadGqa(WeightSource& src, const std::string& p, const ModelConfig& c) {
  const int64_t H = c.num_attention_heads, KV = c.num_key_value_heads, hd = c.head_dim, D = c.hidden_size;
  GqaWeights w;
  QS_ASSIGN_OR_RETURN(w.q, src.Matrix(p + "q_proj.weight", H * hd, D));
  QS_ASSIGN_OR_RETURN(w.k, src.Matrix(p + "k_proj.weight", KV * hd, D));
  QS_ASSIGN_OR_RETURN(w.v, src.Matrix(p + "v_proj.weight", KV * hd, D));
  QS_ASSIGN_OR_RETURN(w.o, src.Matrix(p + "o_proj.weight", D, H * hd));
  if (c.attention_bias) {
    QS_ASSIGN_OR_RETURN(w.bq, src.Vector(p + "q_proj.bias", H * hd));
    QS_ASSIGN_OR_RETURN(w.bk, src.Vector(p + "k_proj.bias", KV * hd));
    QS_ASSIGN_OR_RETURN(w.bv, src.Vector(p + "v_proj.bias", KV * hd));
  }
  return w;
}

GqaAttention::GqaAttention(const ModelConfig& c)
    : hidden_(c.hidden_size), H_(c.num_attention_heads), KV_(c.num_key_value_heads), hd_(c.head_dim),
      scale_(static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.head_dim)))),
      layout_(c.rope_interleaved ? RopeLayout::kInterleaved : RopeLayout::kHalfSplit), rope_(c.rope, c.head_dim) {}

static void AddBias(float* y, const std::vector<float>& b, int64_t T) {
  if (b.empty()) return;
  const int64_t n = static_cast<int64_t>(b.size());
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < n; ++i) y[t * n + i] += b[i];
}

void GqaAttention::Forward(const GqaWeights& w, const float* x, int64_t T, int64_t pos0, KvCache* cache,
                           int64_t layer, float* out, ThreadPool* pool) {
  Forward(w, x, T, {AttnSegment{0, T, pos0, cache}}, layer, out, pool);
}

void GqaAttention::Forward(const GqaWeights& w, const float* x, int64_t T, const std::vector<AttnSegment>& segs,
                           int64_t layer, float* out, ThreadPool* pool) {
  ExpandSegments(segs, T, &tok_cache_, &tok_pos_);
  const int64_t qw = H_ * hd_, kw = KV_ * hd_, group = H_ / KV_;
  q_.resize(static_cast<size_t>(T * qw));
  k_.resize(static_cast<size_t>(T * kw));
  v_.resize(static_cast<size_t>(T * kw));
  attn_.resize(static_cast<size_t>(T * qw));
  // q, k and v in one parallel region, x quantized once.
  const MatMulJob qkv[3] = {{&w.q, x, hidden_, T, q_.data(), qw}, {&w.k, x, hidden_, T, k_.data(), kw},
                            {&w.v, x, hidden_, T, v_.data(), kw}};
  MatMulMany(qkv, 3, pool);
  AddBias(q_.data(), w.bq, T);
  AddBias(k_.data(), w.bk, T);
  AddBias(v_.data(), w.bv, T);
  // Keys are roped once, when they enter the cache.
  for (int64_t t = 0; t < T; ++t) {
    const int64_t pos = tok_pos_[t];
    float* kr = tok_cache_[t]->k(layer, pos);
    float* vr = tok_cache_[t]->v(layer, pos);
    for (int64_t i = 0; i < kw; ++i) kr[i] = k_[t * kw + i];
    for (int64_t i = 0; i < kw; ++i) vr[i] = v_[t * kw + i];
    rope_.ApplyHeads(kr, KV_, hd_, pos, layout_);
    rope_.ApplyHeads(&q_[t * qw], H_, hd_, pos, layout_);
  }
  // One (token, KV head) pair per work item: the group's query heads share every key and value
  // row, which the attention kernels read once for all of them.
  auto body = [&](int64_t i0, int64_t i1, int) {
    thread_local std::vector<float> scratch;
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t t = i / KV_, g = i % KV_, S = tok_pos_[t] + 1;
      KvCache* cache = tok_cache_[t];
      const float* qg = &q_[t * qw + g * group * hd_];  // [group, hd]
      Attention(qg, group, hd_, cache->k(layer, 0) + g * hd_, kw, cache->v(layer, 0) + g * hd_, kw, S, hd_, hd_, scale_,
                &attn_[t * qw + g * group * hd_], hd_, &scratch);
    }
  };
  if (pool) pool->ParallelFor(T * KV_, body);
  else body(0, T * KV_, 0);
  MatMul(w.o, attn_.data(), T, out, pool);
}

}  // namespace qs
