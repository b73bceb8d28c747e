#include "model/blocks/gqa.h"

#include <cmath>

#include "base/thread_pool.h"
#include "kernels/ops.h"

namespace qs {

namespace {
struct GqaScratch {
  std::vector<float> q, k, v, attn;
};
}  // namespace

GqaBlock::GqaBlock(const ModelConfig& c, std::string prefix)
    : p_(std::move(prefix)), hidden_(c.hidden_size), H_(c.num_attention_heads), KV_(c.num_key_value_heads),
      hd_(c.head_dim), bias_(c.attention_bias),
      scale_(static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.head_dim)))),
      layout_(c.rope_interleaved ? RopeLayout::kInterleaved : RopeLayout::kHalfSplit), rope_(c.rope, c.head_dim) {}

void GqaBlock::VisitTensors(TensorVisitor& v) {
  const int64_t D = hidden_;
  v.Matrix(p_ + "q_proj.weight", &wq_, H_ * hd_, D, TensorRole::kLinear);
  if (bias_) v.Vector(p_ + "q_proj.bias", &bq_, H_ * hd_, TensorRole::kBias);
  v.Matrix(p_ + "k_proj.weight", &wk_, KV_ * hd_, D, TensorRole::kLinear);
  if (bias_) v.Vector(p_ + "k_proj.bias", &bk_, KV_ * hd_, TensorRole::kBias);
  v.Matrix(p_ + "v_proj.weight", &wv_, KV_ * hd_, D, TensorRole::kLinear);
  if (bias_) v.Vector(p_ + "v_proj.bias", &bv_, KV_ * hd_, TensorRole::kBias);
  v.Matrix(p_ + "o_proj.weight", &wo_, D, H_ * hd_, TensorRole::kLinear);
}

static void AddBias(float* y, const std::vector<float>& b, int64_t T) {
  if (b.empty()) return;
  const int64_t n = static_cast<int64_t>(b.size());
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < n; ++i) y[t * n + i] += b[i];
}

void GqaBlock::Forward(const float* x, const BatchRows& rows, int64_t layer, float* out, Workspace& ws, ThreadPool* pool,
                       const LayerTrace*) {
  GqaScratch& sc = ws.Get<GqaScratch>();
  auto& q_ = sc.q;
  auto& k_ = sc.k;
  auto& v_ = sc.v;
  auto& attn_ = sc.attn;
  const auto& tok_cache_ = rows.caches;
  const auto& tok_pos_ = rows.positions;
  const int64_t T = rows.T();
  const int64_t qw = H_ * hd_, kw = KV_ * hd_, group = H_ / KV_;
  q_.resize(static_cast<size_t>(T * qw));
  k_.resize(static_cast<size_t>(T * kw));
  v_.resize(static_cast<size_t>(T * kw));
  attn_.resize(static_cast<size_t>(T * qw));
  // q, k and v in one parallel region, x quantized once.
  const MatMulJob qkv[3] = {{&wq_, x, hidden_, T, q_.data(), qw}, {&wk_, x, hidden_, T, k_.data(), kw},
                            {&wv_, x, hidden_, T, v_.data(), kw}};
  MatMulMany(qkv, 3, pool);
  AddBias(q_.data(), bq_, T);
  AddBias(k_.data(), bk_, T);
  AddBias(v_.data(), bv_, T);
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
  MatMul(wo_, attn_.data(), T, out, pool);
}

}  // namespace qs
