#include "model/blocks/moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "base/thread_pool.h"
#include "kernels/ops.h"

namespace qs {

namespace {
struct MoeScratch {
  std::vector<float> logits, xe, ye, gu, ffn;
  std::vector<int32_t> ids;
  std::vector<float> wts;
  std::vector<std::vector<std::pair<int64_t, float>>> by_expert;  // (token, weight) per expert
  std::vector<std::pair<int64_t, int64_t>> active;                // (expert, first row in xe/ye)
  std::vector<MatMulJob> jobs;
};
}  // namespace

void FfnWeights::Visit(TensorVisitor& v, const std::string& p, int64_t hidden, int64_t inter, bool routed) {
  v.Matrix(p + "gate_proj.weight", &gate, inter, hidden, TensorRole::kLinear, routed);
  v.Matrix(p + "up_proj.weight", &up, inter, hidden, TensorRole::kLinear, routed);
  v.Matrix(p + "down_proj.weight", &down, hidden, inter, TensorRole::kLinear, routed);
}

void DenseFfnBlock::Forward(const float* x, int64_t T, float* out, Workspace& ws, ThreadPool* pool, const LayerTrace*) {
  FfnForward(w_, x, T, out, pool, &ws.Get<MoeScratch>().ffn);
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

MoeBlock::MoeBlock(const ModelConfig& c, std::string prefix)
    : prefix_(std::move(prefix)), p_(MakeRouterParams(c)), hidden_(c.hidden_size), inter_(c.moe_intermediate_size),
      shared_inter_(c.moe_intermediate_size * c.n_shared_experts), has_bias_(c.topk_method == TopkMethod::kNoauxTc),
      experts_(static_cast<size_t>(c.n_routed_experts)) {}

void MoeBlock::VisitTensors(TensorVisitor& v) {
  v.Matrix(prefix_ + "gate.weight", &router_, p_.n_experts, hidden_, TensorRole::kRouter);
  if (has_bias_) v.Vector(prefix_ + "gate.e_score_correction_bias", &bias_, p_.n_experts, TensorRole::kBias);
  for (int64_t e = 0; e < p_.n_experts; ++e)
    experts_[e].Visit(v, prefix_ + "experts." + std::to_string(e) + ".", hidden_, inter_, /*routed_expert=*/true);
  if (shared_inter_ > 0) shared_.Visit(v, prefix_ + "shared_experts.", hidden_, shared_inter_);
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
  p.scale_only_if_not_normalized = c.moe_scale_only_if_not_normalized;
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

void MoeBlock::Forward(const float* x, int64_t T, float* out, Workspace& ws, ThreadPool* pool, const LayerTrace* trace) {
  MoeScratch& sc = ws.Get<MoeScratch>();
  auto& logits_ = sc.logits;
  auto& ids_ = sc.ids;
  auto& wts_ = sc.wts;
  auto& xe_ = sc.xe;
  auto& ye_ = sc.ye;
  auto& scratch_ = sc.gu;
  auto& active_ = sc.active;
  auto& jobs_ = sc.jobs;
  const int64_t E = p_.n_experts, k = p_.k, D = hidden_;
  logits_.resize(static_cast<size_t>(T * E));
  ids_.resize(static_cast<size_t>(T * k));
  wts_.resize(static_cast<size_t>(T * k));
  MatMul(router_, x, T, logits_.data(), pool);
  for (int64_t t = 0; t < T; ++t)
    Route(p_, &logits_[t * E], bias_.empty() ? nullptr : bias_.data(), &ids_[t * k], &wts_[t * k]);
  if (trace && trace->experts) trace->experts->insert(trace->experts->end(), ids_.begin(), ids_.end());
  if (trace && trace->expert_weights) trace->expert_weights->insert(trace->expert_weights->end(), wts_.begin(), wts_.end());

  // Routed experts: gather the tokens that chose each expert so each expert runs once on its
  // batch (its weights are read once per forward; prefill batches by expert). All experts' gate
  // and up products (and the shared experts') then run in one parallel region, and all down
  // products in a second: two synchronisations per layer instead of three per expert.
  auto& by_expert = sc.by_expert;  // capacity kept between calls: no allocation in steady decode
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
      I = experts_[e].gate.rows;
    }
  const bool has_shared = shared_inter_ > 0;
  const int64_t Is = has_shared ? shared_.gate.rows : 0;
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
  if (has_shared) {
    jobs_.push_back({&shared_.gate, x, D, T, gs, Is});
    jobs_.push_back({&shared_.up, x, D, T, gs + T * Is, Is});
  }
  for (const auto& [e, r0] : active_) {
    const int64_t n = static_cast<int64_t>(by_expert[e].size());
    const float* xe = &xe_[r0 * D];
    jobs_.push_back({&experts_[e].gate, xe, D, n, gu + r0 * I, I});
    jobs_.push_back({&experts_[e].up, xe, D, n, gu + (n_rows + r0) * I, I});
  }
  MatMulMany(jobs_.data(), static_cast<int64_t>(jobs_.size()), pool);
  if (has_shared) SwiGlu(gs, gs + T * Is, T * Is, gs);
  SwiGlu(gu, gu + n_rows * I, n_rows * I, gu);
  jobs_.clear();
  if (has_shared) jobs_.push_back({&shared_.down, gs, Is, T, out, D});  // shared experts see every token
  for (const auto& [e, r0] : active_) {
    const int64_t n = static_cast<int64_t>(by_expert[e].size());
    jobs_.push_back({&experts_[e].down, gu + r0 * I, I, n, &ye_[r0 * D], D});
  }
  MatMulMany(jobs_.data(), static_cast<int64_t>(jobs_.size()), pool);
  if (!has_shared) std::fill(out, out + T * D, 0.f);
  for (const auto& [e, r0] : active_) {
    const auto& toks = by_expert[e];
    for (size_t j = 0; j < toks.size(); ++j)
      Axpy(toks[j].second, &ye_[(r0 + static_cast<int64_t>(j)) * D], out + toks[j].first * D, D);
  }
}

}  // namespace qs
