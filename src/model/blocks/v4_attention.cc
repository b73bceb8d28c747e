#include "model/blocks/v4_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/thread_pool.h"
#include "kernels/dsa.h"
#include "kernels/ops.h"

namespace qs {

V4Attention::V4Attention(const ModelConfig& c, std::string prefix, int64_t ratio)
    : p_(std::move(prefix)),
      hidden_(c.hidden_size),
      H_(c.num_attention_heads),
      D_(c.head_dim),
      rd_(c.qk_rope_head_dim),
      q_lora_(c.q_lora_rank),
      G_(c.o_groups),
      R_(c.o_lora_rank),
      window_(c.sliding_window),
      ratio_(ratio),
      idx_d_(c.index_head_dim),
      eps_(c.rms_norm_eps),
      qsim_(c.v4_qsim),
      rope_(c, ratio != 0) {
  if (ratio_ != 0) comp_ = std::make_unique<V4Compressor>(c, p_ + "compressor.", ratio_, D_, false);
  if (ratio_ == 4) indexer_ = std::make_unique<V4Indexer>(c, p_ + "indexer.");
}

void V4Attention::VisitTensors(TensorVisitor& v) {
  v.Vector(p_ + "attn_sink", &sink_, H_, TensorRole::kBias);
  v.Matrix(p_ + "wq_a.weight", &wq_a_, q_lora_, hidden_, TensorRole::kLinear);
  v.Vector(p_ + "q_norm.weight", &q_norm_, q_lora_, TensorRole::kNorm);
  v.Matrix(p_ + "wq_b.weight", &wq_b_, H_ * D_, q_lora_, TensorRole::kLinear);
  v.Matrix(p_ + "wkv.weight", &wkv_, D_, hidden_, TensorRole::kLinear);
  v.Vector(p_ + "kv_norm.weight", &kv_norm_, D_, TensorRole::kNorm);
  v.Matrix(p_ + "wo_a.weight", &wo_a_, G_ * R_, H_ * D_ / G_, TensorRole::kLinear);
  v.Matrix(p_ + "wo_b.weight", &wo_b_, hidden_, G_ * R_, TensorRole::kLinear);
  if (comp_) comp_->VisitTensors(v);
  if (indexer_) indexer_->VisitTensors(v);
}

// Group g of the output projection multiplies rows [g R, (g+1) R) of wo_a (README 4). An FP8
// view may start inside a 128-row scale block as long as it does not cross into the next one
// (the view's rows then all read the same scale row); otherwise the group is widened to fp32 once.
Status V4Attention::Finish(WeightSource&) {
  if (comp_) QS_RETURN_IF_ERROR(comp_->Finish());
  if (indexer_) QS_RETURN_IF_ERROR(indexer_->Finish());
  wo_a_groups_.clear();
  wo_a_owned_.clear();
  if (!wo_a_.valid()) return Status::Ok();
  for (int64_t g = 0; g < G_; ++g) {
    const int64_t r0 = g * R_;
    const bool scaled = wo_a_.dtype == DType::kF8E4M3;
    if (!scaled || r0 % wo_a_.block_rows == 0 || r0 % wo_a_.block_rows + R_ <= wo_a_.block_rows) {
      WeightMatrix s = wo_a_;
      s.rows = R_;
      s.data = wo_a_.data + static_cast<size_t>(r0) * wo_a_.row_stride;
      if (scaled) s.scale_inv = wo_a_.scale_inv + (r0 / wo_a_.block_rows) * wo_a_.scale_cols;
      s.packed = nullptr;
      s.packed_lanes = 0;
      if (scaled && r0 % wo_a_.block_rows != 0) s.block_rows = wo_a_.block_rows;  // rows stay in one block
      wo_a_groups_.push_back(s);
    } else {
      auto& buf = wo_a_owned_.emplace_back(static_cast<size_t>(R_ * wo_a_.cols));
      for (int64_t r = 0; r < R_; ++r) DecodeRow(wo_a_, r0 + r, &buf[r * wo_a_.cols]);
      WeightMatrix s;
      s.name = wo_a_.name;
      s.dtype = DType::kF32;
      s.rows = R_;
      s.cols = wo_a_.cols;
      s.data = reinterpret_cast<const uint8_t*>(buf.data());
      s.row_stride = static_cast<size_t>(wo_a_.cols) * 4;
      wo_a_groups_.push_back(s);
    }
  }
  return Status::Ok();
}

int64_t V4Attention::reach() const {
  int64_t r = window_;
  if (comp_) r = std::max(r, comp_->reach());
  if (indexer_) r = std::max(r, indexer_->reach());
  return r;
}

CacheLayout V4Attention::cache_layout() const {
  CacheLayout l;
  l.k_width = D_;
  l.aux_width = (comp_ ? comp_->aux_width() : 0) + (indexer_ ? indexer_->aux_width() : 0);
  return l;
}

void V4Attention::Forward(const float* x, const BatchRows& rows, int64_t layer, float* out, Workspace&,
                          ThreadPool* pool, const LayerTrace* trace) {
  const int64_t T = rows.T(), HD = H_ * D_;
  qr_.resize(static_cast<size_t>(T * q_lora_));
  q_.resize(static_cast<size_t>(T * HD));
  kv_.resize(static_cast<size_t>(T * D_));
  o_.resize(static_cast<size_t>(T * HD));
  og_.resize(static_cast<size_t>(T * G_ * R_));
  {
    MatMulJob jobs[2] = {{&wq_a_, x, hidden_, T, qr_.data(), q_lora_}, {&wkv_, x, hidden_, T, kv_.data(), D_}};
    MatMulMany(jobs, 2, pool);
  }
  for (int64_t t = 0; t < T; ++t) {
    RmsNorm(&qr_[t * q_lora_], q_norm_.data(), q_lora_, eps_, &qr_[t * q_lora_]);
    // The token's KV: kv_norm, RoPE on the last rd dims, FP8 round trip of the others (README 9).
    float* kv = &kv_[t * D_];
    RmsNorm(kv, kv_norm_.data(), D_, eps_, kv);
    rope_.Apply(kv + D_ - rd_, rows.positions[t]);
    if (qsim_) Fp8RoundTrip(kv, D_ - rd_, 64);
    std::copy(kv, kv + D_, rows.caches[t]->k(layer, rows.positions[t]));
  }
  MatMul(wq_b_, qr_.data(), T, q_.data(), pool);
  const int64_t off_idx = comp_ ? comp_->aux_width() : 0;
  if (comp_) comp_->Forward(x, rows, layer, 0, 0, rope_, qsim_, pool);
  if (indexer_) indexer_->Forward(x, qr_.data(), rows, layer, off_idx, D_, rope_, qsim_, pool, &sel_, trace);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D_)));
  auto body = [&](int64_t t0, int64_t t1, int) {
    thread_local std::vector<float> keys, sc;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t pos = rows.positions[t];
      KvCache* cache = rows.caches[t];
      float* q = &q_[t * HD];
      for (int64_t h = 0; h < H_; ++h) {  // per-head RMS norm without weight, then RoPE (README 2)
        float* qh = q + h * D_;
        double ss = 0;
        for (int64_t i = 0; i < D_; ++i) ss += static_cast<double>(qh[i]) * qh[i];
        const float inv = 1.0f / std::sqrt(static_cast<float>(ss / static_cast<double>(D_)) + static_cast<float>(eps_));
        for (int64_t i = 0; i < D_; ++i) qh[i] *= inv;
        rope_.Apply(qh + D_ - rd_, pos);
      }
      // Keys: the window (README 5), then the compressed entries (README 7).
      const int64_t w0 = std::max<int64_t>(0, pos - window_ + 1);
      int64_t S = pos - w0 + 1;
      const int64_t nb = comp_ ? (pos + 1) / ratio_ : 0;
      const int64_t nc = indexer_ ? static_cast<int64_t>(sel_[t].size()) : nb;
      keys.resize(static_cast<size_t>((S + nc) * D_));
      for (int64_t s = 0; s < S; ++s) std::copy(cache->k(layer, w0 + s), cache->k(layer, w0 + s) + D_, &keys[s * D_]);
      for (int64_t i = 0; i < nc; ++i) {
        const int64_t b = indexer_ ? sel_[t][i] : i;
        const float* e = cache->block(layer, b);
        std::copy(e, e + D_, &keys[(S + i) * D_]);
      }
      S += nc;
      sc.resize(static_cast<size_t>(H_ * S));
      AttnScores(q, H_, D_, keys.data(), D_, S, D_, scale, sc.data(), S);
      for (int64_t h = 0; h < H_; ++h) {
        // Softmax with the sink in the denominator only (README 6).
        float* p = &sc[h * S];
        float m = -std::numeric_limits<float>::infinity();
        for (int64_t s = 0; s < S; ++s) m = std::max(m, p[s]);
        float sum = 0.f;
        for (int64_t s = 0; s < S; ++s) sum += (p[s] = std::exp(p[s] - m));
        sum += std::exp(sink_[h] - m);
        for (int64_t s = 0; s < S; ++s) p[s] /= sum;
      }
      float* o = &o_[t * HD];
      AttnWeightedSum(sc.data(), S, H_, keys.data(), D_, S, D_, o, D_);
      for (int64_t h = 0; h < H_; ++h) rope_.Apply(o + h * D_ + D_ - rd_, pos, /*inverse=*/true);
    }
  };
  if (pool && T > 1) pool->ParallelFor(T, body, 1);
  else body(0, T, 0);
  // Grouped low-rank output (README 4): group g's heads through its wo_a rows, then wo_b.
  std::vector<MatMulJob> jobs;
  for (int64_t g = 0; g < G_; ++g)
    jobs.push_back({&wo_a_groups_[g], &o_[g * (HD / G_)], HD, T, &og_[g * R_], G_ * R_});
  MatMulMany(jobs.data(), static_cast<int64_t>(jobs.size()), pool);
  MatMul(wo_b_, og_.data(), T, out, pool);
}

}  // namespace qs
