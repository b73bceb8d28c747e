#include "model/moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "base/thread_pool.h"
#include "kernels/ops.h"

namespace qs {

Result<FfnWeights> LoadFfn(WeightSource& src, const std::string& p, int64_t hidden, int64_t inter) {
  FfnWeights w;
  QS_ASSIGN_OR_RETURN(w.gate, src.Matrix(p + "gate_proj.weight", inter, hidden));
  QS_ASSIGN_OR_RETURN(w.up, src.Matrix(p + "up_proj.weight", inter, hidden));
  QS_ASSIGN_OR_RETURN(w.down, src.Matrix(p + "down_proj.weight", hidden, inter));
  return w;
}

void FfnForward(const FfnWeights& w, const float* x, int64_t T, float* out, ThreadPool* pool,
                std::vector<float>* scratch) {
  const int64_t inter = w.gate.rows;
  scratch->resize(static_cast<size_t>(2 * T * inter));
  float* g = scratch->data();
  float* u = g + T * inter;
  const int64_t D = w.gate.cols;
  const MatMulJob gu[2] = {{&w.gate, x, D, T, g, inter}, {&w.up, x, D, T, u, inter}};
  MatMulMany(gu, 2, pool);  // one parallel region, x quantized once
  SwiGlu(g, u, T * inter, g);
  MatMul(w.down, g, T, out, pool);
}

Result<MoeWeights> LoadMoe(WeightSource& src, const std::string& p, const ModelConfig& c) {
  MoeWeights w;
  QS_ASSIGN_OR_RETURN(w.router, src.Matrix(p + "gate.weight", c.n_routed_experts, c.hidden_size));
  const std::string bias = p + "gate.e_score_correction_bias";
  if (c.topk_method == TopkMethod::kNoauxTc) {
    QS_ASSIGN_OR_RETURN(w.bias, src.Vector(bias, c.n_routed_experts));
  } else if (src.Has(bias)) {
    return InvalidArgument(src.Where(bias) + " is present but config.json's topk_method is " + ToString(c.topk_method) +
                           " (the correction bias belongs to noaux_tc)");
  }
  w.experts.resize(static_cast<size_t>(c.n_routed_experts));
  for (int64_t e = 0; e < c.n_routed_experts; ++e) {
    QS_ASSIGN_OR_RETURN(w.experts[e], LoadFfn(src, p + "experts." + std::to_string(e) + ".", c.hidden_size,
                                              c.moe_intermediate_size));
  }
  if (c.n_shared_experts > 0) {
    w.has_shared = true;
    QS_ASSIGN_OR_RETURN(w.shared, LoadFfn(src, p + "shared_experts.", c.hidden_size,
                                          c.moe_intermediate_size * c.n_shared_experts));
  }
  return w;
}

RouterParams MakeRouterParams(const ModelConfig& c) {
  RouterParams p;
  p.scoring = c.scoring_func;
  p.method = c.topk_method;
  p.n_experts = c.n_routed_experts;
  p.n_group = c.n_group;
  p.topk_group = c.topk_group;
  p.k = c.num_experts_per_tok;
  p.norm_topk_prob = c.norm_topk_prob;
  p.routed_scaling_factor = c.routed_scaling_factor;
  p.scale_only_if_not_normalized = c.model_type == "deepseek_v2";
  return p;
}

void Route(const RouterParams& p, const float* logits, const float* bias, int32_t* ids, float* weights) {
  const int64_t E = p.n_experts;
  // Scores: softmax over all routed experts (V2) or per-expert sigmoid (V3), in fp32.
  thread_local std::vector<float> s, sel;
  s.assign(logits, logits + E);
  if (p.scoring == ScoringFunc::kSoftmax) Softmax(s.data(), E);
  else for (auto& v : s) v = Sigmoid(v);
  // Selection scores: the correction bias only steers selection (V3 §2.1.2, "auxiliary-loss-free").
  sel = s;
  if (bias) for (int64_t e = 0; e < E; ++e) sel[e] += bias[e];

  // Group limit: keep the topk_group best groups (score = max, or top-2 sum for noaux_tc).
  if (p.method != TopkMethod::kGreedy && p.n_group > 1) {
    const int64_t G = p.n_group, per = E / G;
    std::vector<float> gscore(static_cast<size_t>(G));
    for (int64_t g = 0; g < G; ++g) {
      const float* b = &sel[g * per];
      if (p.method == TopkMethod::kNoauxTc) {
        float m1 = -INFINITY, m2 = -INFINITY;
        for (int64_t i = 0; i < per; ++i) {
          if (b[i] > m1) { m2 = m1; m1 = b[i]; }
          else if (b[i] > m2) m2 = b[i];
        }
        gscore[g] = m1 + m2;
      } else {
        gscore[g] = *std::max_element(b, b + per);
      }
    }
    std::vector<int64_t> gorder(static_cast<size_t>(G));
    std::iota(gorder.begin(), gorder.end(), 0);
    std::stable_sort(gorder.begin(), gorder.end(), [&](int64_t a, int64_t b) { return gscore[a] > gscore[b]; });
    std::vector<bool> keep(static_cast<size_t>(G), false);
    for (int64_t i = 0; i < p.topk_group; ++i) keep[gorder[i]] = true;
    for (int64_t e = 0; e < E; ++e)
      if (!keep[e / per]) sel[e] = -INFINITY;  // model.py masks with -inf
  }
  // Top-k by selection score, best first (ties: lower index, as torch.topk in practice).
  std::vector<int32_t> order(static_cast<size_t>(E));
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + p.k, order.end(), [&](int32_t a, int32_t b) {
    return sel[a] > sel[b] || (sel[a] == sel[b] && a < b);
  });
  float sum = 0.f;
  for (int64_t i = 0; i < p.k; ++i) {
    ids[i] = order[i];
    weights[i] = s[order[i]];  // unbiased score
    sum += weights[i];
  }
  const bool normalize = p.norm_topk_prob && p.k > 1;
  if (normalize)
    for (int64_t i = 0; i < p.k; ++i) weights[i] /= sum;
  if (!(normalize && p.scale_only_if_not_normalized))
    for (int64_t i = 0; i < p.k; ++i) weights[i] *= static_cast<float>(p.routed_scaling_factor);
}

void MoeBlock::Forward(const MoeWeights& w, const float* x, int64_t T, float* out, ThreadPool* pool,
                       int32_t* ids_out, float* weights_out) {
  const int64_t E = p_.n_experts, k = p_.k, D = hidden_;
  logits_.resize(static_cast<size_t>(T * E));
  ids_.resize(static_cast<size_t>(T * k));
  wts_.resize(static_cast<size_t>(T * k));
  MatMul(w.router, x, T, logits_.data(), pool);
  for (int64_t t = 0; t < T; ++t)
    Route(p_, &logits_[t * E], w.bias.empty() ? nullptr : w.bias.data(), &ids_[t * k], &wts_[t * k]);
  if (ids_out) std::copy(ids_.begin(), ids_.end(), ids_out);
  if (weights_out) std::copy(wts_.begin(), wts_.end(), weights_out);

  // Routed experts: gather the tokens that chose each expert so each expert runs once on its
  // batch (its weights are read once per forward; prefill batches by expert). All experts' gate
  // and up products (and the shared experts') then run in one parallel region, and all down
  // products in a second: two synchronisations per layer instead of three per expert.
  auto& by_expert = by_expert_;  // capacity kept between calls: no allocation in steady decode
  by_expert.resize(static_cast<size_t>(E));
  for (auto& v : by_expert) v.clear();
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < k; ++i) by_expert[ids_[t * k + i]].emplace_back(t, wts_[t * k + i]);
  // Row offsets of each active expert's tokens in xe_ / ye_ (experts in index order).
  int64_t n_rows = 0, I = 0;
  active_.clear();
  for (int64_t e = 0; e < E; ++e)
    if (!by_expert[e].empty()) {
      active_.push_back({e, n_rows});
      n_rows += static_cast<int64_t>(by_expert[e].size());
      I = w.experts[e].gate.rows;
    }
  const int64_t Is = w.has_shared ? w.shared.gate.rows : 0;
  xe_.resize(static_cast<size_t>(n_rows * D));
  ye_.resize(static_cast<size_t>(n_rows * D));
  scratch_.resize(static_cast<size_t>(2 * n_rows * I + 2 * T * Is));
  float* gu = scratch_.data();          // experts: [n_rows, I] gate, then [n_rows, I] up
  float* gs = gu + 2 * n_rows * I;      // shared: [T, Is] gate, then [T, Is] up
  for (const auto& [e, r0] : active_) {
    const auto& toks = by_expert[e];
    for (size_t j = 0; j < toks.size(); ++j)
      std::copy(x + toks[j].first * D, x + (toks[j].first + 1) * D, &xe_[(r0 + static_cast<int64_t>(j)) * D]);
  }
  jobs_.clear();
  if (w.has_shared) {
    jobs_.push_back({&w.shared.gate, x, D, T, gs, Is});
    jobs_.push_back({&w.shared.up, x, D, T, gs + T * Is, Is});
  }
  for (const auto& [e, r0] : active_) {
    const int64_t n = static_cast<int64_t>(by_expert[e].size());
    const float* xe = &xe_[r0 * D];
    jobs_.push_back({&w.experts[e].gate, xe, D, n, gu + r0 * I, I});
    jobs_.push_back({&w.experts[e].up, xe, D, n, gu + (n_rows + r0) * I, I});
  }
  MatMulMany(jobs_.data(), static_cast<int64_t>(jobs_.size()), pool);
  if (w.has_shared) SwiGlu(gs, gs + T * Is, T * Is, gs);
  SwiGlu(gu, gu + n_rows * I, n_rows * I, gu);
  jobs_.clear();
  if (w.has_shared) jobs_.push_back({&w.shared.down, gs, Is, T, out, D});  // shared experts see every token
  for (const auto& [e, r0] : active_) {
    const int64_t n = static_cast<int64_t>(by_expert[e].size());
    jobs_.push_back({&w.experts[e].down, gu + r0 * I, I, n, &ye_[r0 * D], D});
  }
  MatMulMany(jobs_.data(), static_cast<int64_t>(jobs_.size()), pool);
  if (!w.has_shared) std::fill(out, out + T * D, 0.f);
  for (const auto& [e, r0] : active_) {
    const auto& toks = by_expert[e];
    for (size_t j = 0; j < toks.size(); ++j)
      Axpy(toks[j].second, &ye_[(r0 + static_cast<int64_t>(j)) * D], out + toks[j].first * D, D);
  }
}

}  // namespace qs
