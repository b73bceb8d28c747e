#include "model/blocks/v4_moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/ops.h"
#include "model/weight_source.h"

namespace qs {

V4Moe::V4Moe(const ModelConfig& c, std::string prefix, bool hash)
    : p_(std::move(prefix)),
      hidden_(c.hidden_size),
      inter_(c.moe_intermediate_size),
      n_exp_(c.n_routed_experts),
      k_(c.num_experts_per_tok),
      vocab_(c.vocab_size),
      hash_(hash),
      limit_(static_cast<float>(c.swiglu_limit)),
      route_scale_(static_cast<float>(c.routed_scaling_factor)),
      experts_(static_cast<size_t>(c.n_routed_experts)) {}

void V4Moe::VisitTensors(TensorVisitor& v) {
  v.Matrix(p_ + "gate.weight", &gate_, n_exp_, hidden_, TensorRole::kRouter);
  if (!hash_) v.Vector(p_ + "gate.bias", &bias_, n_exp_, TensorRole::kBias);
  // Declared for synth / info only (no matrix to bind); Load reads it as integers.
  if (hash_) v.Matrix(p_ + "gate.tid2eid", nullptr, vocab_, k_, TensorRole::kExpertIds);
  for (int64_t e = 0; e < n_exp_; ++e) {
    const std::string q = p_ + "experts." + std::to_string(e) + ".";
    V4Expert& x = experts_[e];
    v.Matrix(q + "w1.weight", &x.w1, inter_, hidden_, TensorRole::kLinear, true);
    v.Matrix(q + "w2.weight", &x.w2, hidden_, inter_, TensorRole::kLinear, true);
    v.Matrix(q + "w3.weight", &x.w3, inter_, hidden_, TensorRole::kLinear, true);
  }
  v.Matrix(p_ + "shared_experts.w1.weight", &shared_.w1, inter_, hidden_, TensorRole::kLinear);
  v.Matrix(p_ + "shared_experts.w2.weight", &shared_.w2, hidden_, inter_, TensorRole::kLinear);
  v.Matrix(p_ + "shared_experts.w3.weight", &shared_.w3, inter_, hidden_, TensorRole::kLinear);
}

Status V4Moe::Load(WeightSource& src) {
  QS_RETURN_IF_ERROR(FfnBlock::Load(src));
  return LoadTable(src);
}

Status V4Moe::LoadTable(WeightSource& src) {
  if (!hash_) return Status::Ok();
  QS_ASSIGN_OR_RETURN(tid2eid_, src.Ints(p_ + "gate.tid2eid", vocab_, k_));
  for (int64_t e : tid2eid_)
    if (e < 0 || e >= n_exp_)
      return InvalidArgument(src.Where(p_ + "gate.tid2eid") + " holds expert id " + std::to_string(e) +
                             " outside [0, " + std::to_string(n_exp_) + ")");
  return Status::Ok();
}

void V4Moe::RunExpert(const V4Expert& e, const float* x, int64_t n, const float* weight, float* y, ThreadPool* pool) {
  h1_.resize(static_cast<size_t>(n * inter_));
  h3_.resize(static_cast<size_t>(n * inter_));
  MatMulJob jobs[2] = {{&e.w1, x, hidden_, n, h1_.data(), inter_}, {&e.w3, x, hidden_, n, h3_.data(), inter_}};
  MatMulMany(jobs, 2, pool);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < inter_; ++i) {
      float g = h1_[t * inter_ + i], u = h3_[t * inter_ + i];
      if (limit_ > 0) {
        u = std::clamp(u, -limit_, limit_);
        g = std::min(g, limit_);
      }
      float h = g / (1.0f + std::exp(-g)) * u;
      if (weight) h *= weight[t];
      h1_[t * inter_ + i] = h;
    }
  MatMul(e.w2, h1_.data(), n, y, pool);
}

void V4Moe::Forward(const float* x, int64_t T, float* out, Workspace&, ThreadPool* pool, const LayerTrace* trace) {
  scores_.resize(static_cast<size_t>(T * n_exp_));
  MatMul(gate_, x, T, scores_.data(), pool);
  ids_.resize(static_cast<size_t>(T * k_));
  wts_.resize(static_cast<size_t>(T * k_));
  std::vector<int32_t> order(static_cast<size_t>(n_exp_));
  std::vector<float> biased(static_cast<size_t>(n_exp_));
  for (int64_t t = 0; t < T; ++t) {
    float* s = &scores_[t * n_exp_];
    for (int64_t e = 0; e < n_exp_; ++e) {
      const float v = s[e];
      s[e] = std::sqrt(v > 20.0f ? v : std::log1p(std::exp(v)));  // torch softplus (threshold 20)
    }
    int32_t* ids = &ids_[t * k_];
    if (hash_) {
      for (int64_t j = 0; j < k_; ++j) ids[j] = static_cast<int32_t>(tid2eid_[tokens_[t] * k_ + j]);
    } else {
      for (int64_t e = 0; e < n_exp_; ++e) biased[e] = s[e] + bias_[e];
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + k_, order.end(), [&](int32_t a, int32_t b) {
        return biased[a] != biased[b] ? biased[a] > biased[b] : a < b;
      });
      std::copy(order.begin(), order.begin() + k_, ids);
    }
    float sum = 0.f;
    for (int64_t j = 0; j < k_; ++j) sum += s[ids[j]];
    for (int64_t j = 0; j < k_; ++j) wts_[t * k_ + j] = s[ids[j]] / sum * route_scale_;
  }
  if (trace && trace->experts) trace->experts->insert(trace->experts->end(), ids_.begin(), ids_.end());
  if (trace && trace->expert_weights) trace->expert_weights->insert(trace->expert_weights->end(), wts_.begin(), wts_.end());
  std::fill(out, out + T * hidden_, 0.f);
  // Each expert once over the rows that chose it (model.py's loop over experts), then the shared one.
  std::vector<int64_t> rows;
  std::vector<float> w;
  for (int64_t e = 0; e < n_exp_; ++e) {
    rows.clear();
    w.clear();
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < k_; ++j)
        if (ids_[t * k_ + j] == e) rows.push_back(t), w.push_back(wts_[t * k_ + j]);
    if (rows.empty()) continue;
    const int64_t n = static_cast<int64_t>(rows.size());
    xg_.resize(static_cast<size_t>(n * hidden_));
    yg_.resize(static_cast<size_t>(n * hidden_));
    for (int64_t i = 0; i < n; ++i) std::copy(x + rows[i] * hidden_, x + (rows[i] + 1) * hidden_, &xg_[i * hidden_]);
    RunExpert(experts_[e], xg_.data(), n, w.data(), yg_.data(), pool);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < hidden_; ++c) out[rows[i] * hidden_ + c] += yg_[i * hidden_ + c];
  }
  yg_.resize(static_cast<size_t>(T * hidden_));
  RunExpert(shared_, x, T, nullptr, yg_.data(), pool);
  for (int64_t i = 0; i < T * hidden_; ++i) out[i] += yg_[i];
}

}  // namespace qs
