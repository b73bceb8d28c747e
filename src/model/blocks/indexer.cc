#include "model/blocks/indexer.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "base/thread_pool.h"
#include "kernels/dsa.h"
#include "model/gguf_names.h"

namespace qs {

namespace {

struct IndexerScratch {
  std::vector<float> q, k, w, scores, tmp;
  std::vector<int32_t> order;
};

// llama.cpp's names for the indexer (gguf-py constants.py MODEL_TENSOR.INDEXER_*).
const GgufNameRegistrar kGgufNames({
    {"model.layers.{L}.self_attn.indexer.wq_b.weight", "blk.{L}.indexer.attn_q_b.weight"},
    {"model.layers.{L}.self_attn.indexer.wk.weight", "blk.{L}.indexer.attn_k.weight"},
    {"model.layers.{L}.self_attn.indexer.k_norm.weight", "blk.{L}.indexer.k_norm.weight"},
    {"model.layers.{L}.self_attn.indexer.k_norm.bias", "blk.{L}.indexer.k_norm.bias"},
    {"model.layers.{L}.self_attn.indexer.weights_proj.weight", "blk.{L}.indexer.proj.weight"},
});

}  // namespace

Indexer::Indexer(const ModelConfig& c, std::string prefix)
    : p_(std::move(prefix)), hidden_(c.hidden_size), q_lora_(c.q_lora_rank), nh_(c.index_n_heads),
      d_(c.index_head_dim), topk_(c.index_topk), dr_(c.qk_rope_head_dim), rope_(c.rope, c.qk_rope_head_dim) {}

void Indexer::VisitTensors(TensorVisitor& v) {
  v.Matrix(p_ + "wq_b.weight", &wq_b_, nh_ * d_, q_lora_, TensorRole::kLinear);
  v.Matrix(p_ + "wk.weight", &wk_, d_, hidden_, TensorRole::kLinear);
  v.Vector(p_ + "k_norm.weight", &k_norm_w_, d_, TensorRole::kNorm);
  v.Vector(p_ + "k_norm.bias", &k_norm_b_, d_, TensorRole::kNormBias);
  // weights_proj stays bf16 in the FP8 release (never block-quantised).
  v.Matrix(p_ + "weights_proj.weight", &weights_proj_, nh_, hidden_, TensorRole::kPlain);
}

void Indexer::Select(const float* x, const float* qr, const BatchRows& rows, int64_t layer, int32_t* sel,
                     int64_t* n_sel, Workspace& ws, ThreadPool* pool, const LayerTrace* trace) {
  IndexerScratch& sc = ws.Get<IndexerScratch>();
  const int64_t T = rows.T(), qw = nh_ * d_;
  sc.q.resize(static_cast<size_t>(T * qw));
  sc.k.resize(static_cast<size_t>(T * d_));
  sc.w.resize(static_cast<size_t>(T * nh_));
  // Projections: k and the head weights read x (one parallel region), q reads MLA's latent.
  const MatMulJob jobs[2] = {{&wk_, x, hidden_, T, sc.k.data(), d_}, {&weights_proj_, x, hidden_, T, sc.w.data(), nh_}};
  MatMulMany(jobs, 2, pool);
  MatMul(wq_b_, qr, T, sc.q.data(), pool);

  const float head_scale = static_cast<float>(std::pow(static_cast<double>(nh_), -0.5));
  const float dim_scale = static_cast<float>(std::pow(static_cast<double>(d_), -0.5));
  std::vector<float>& tmp = sc.tmp;
  tmp.resize(static_cast<size_t>(d_));
  for (int64_t t = 0; t < T; ++t) {
    const int64_t pos = rows.positions[t];
    // Key: LayerNorm, RoPE (first dr dims, half-split), Hadamard, e4m3 -> the aux cache row.
    float* k = &sc.k[t * d_];
    LayerNorm(k, k_norm_w_.data(), k_norm_b_.data(), d_, eps_, k);
    rope_.Apply(k, pos, RopeLayout::kHalfSplit);
    HadamardRotate(k, d_);
    float* row = rows.caches[t]->aux(layer, pos);
    row[0] = QuantizeE4M3Ue8m0(k, d_, row + 1);
    // Queries per head, and the per-head weights with both scales folded in (model.py:
    // weights * n_heads^-0.5 * q_scale * softmax_scale).
    for (int64_t h = 0; h < nh_; ++h) {
      float* q = &sc.q[t * qw + h * d_];
      rope_.Apply(q, pos, RopeLayout::kHalfSplit);
      HadamardRotate(q, d_);
      std::copy(q, q + d_, tmp.begin());
      const float s_q = QuantizeE4M3Ue8m0(tmp.data(), d_, q);
      float& w = sc.w[t * nh_ + h];
      w = w * head_scale * s_q * dim_scale;
    }
  }

  // Scores over each row's visible positions, in chunks of keys so decode (one row) still splits
  // across threads; then top-k per row.
  int64_t S_max = 0;
  for (int64_t t = 0; t < T; ++t) S_max = std::max(S_max, rows.positions[t] + 1);
  const bool want_scores = trace && trace->index_scores;
  bool any_sparse = want_scores;
  for (int64_t t = 0; t < T; ++t) any_sparse = any_sparse || rows.positions[t] + 1 > topk_;
  if (any_sparse) {
    sc.scores.resize(static_cast<size_t>(T * S_max));
    constexpr int64_t kChunk = 512;
    const int64_t chunks = (S_max + kChunk - 1) / kChunk;
    auto body = [&](int64_t i0, int64_t i1, int) {
      thread_local std::vector<float> scratch;
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t t = i / chunks, j0 = (i % chunks) * kChunk, S = rows.positions[t] + 1;
        if (j0 >= S || (!want_scores && S <= topk_)) continue;
        KvCache* cache = rows.caches[t];
        IndexScores(&sc.q[t * qw], nh_, d_, &sc.w[t * nh_], cache->aux(layer, j0), cache->aux_width(),
                    std::min(kChunk, S - j0), &sc.scores[t * S_max + j0], &scratch);
      }
    };
    if (pool) pool->ParallelFor(T * chunks, body);
    else body(0, T * chunks, 0);
  }
  for (int64_t t = 0; t < T; ++t) {
    const int64_t S = rows.positions[t] + 1;
    int32_t* st = sel + t * topk_;
    std::fill(st, st + topk_, -1);
    if (S <= topk_) {  // every visible position: exactly dense causal attention
      std::iota(st, st + S, 0);
      n_sel[t] = S;
      continue;
    }
    const float* s = &sc.scores[t * S_max];
    std::vector<int32_t>& order = sc.order;
    order.resize(static_cast<size_t>(S));
    std::iota(order.begin(), order.end(), 0);
    std::nth_element(order.begin(), order.begin() + topk_ - 1, order.end(),
                     [&](int32_t a, int32_t b) { return s[a] > s[b] || (s[a] == s[b] && a < b); });
    std::copy(order.begin(), order.begin() + topk_, st);
    std::sort(st, st + topk_);  // ascending: cache rows read in order
    n_sel[t] = topk_;
  }
  if (trace && trace->selected) trace->selected->insert(trace->selected->end(), sel, sel + T * topk_);
  if (want_scores) {
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = rows.positions[t] + 1; j < S_max; ++j) sc.scores[t * S_max + j] = -INFINITY;
    trace->index_scores->insert(trace->index_scores->end(), sc.scores.begin(), sc.scores.begin() + T * S_max);
  }
}

}  // namespace qs
