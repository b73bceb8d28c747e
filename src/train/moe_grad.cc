#include "train/moe_grad.h"

#include <algorithm>
#include <numeric>

namespace qs::train {

template <class T>
void FfnFwd(const FfnOff& f, const T* w, const T* x, int64_t n, int64_t D, FfnAct<T>* a, T* out, ThreadPool* pool) {
  const int64_t I = f.inter;
  a->g.resize(static_cast<size_t>(n * I));
  a->u.resize(a->g.size());
  a->h.resize(a->g.size());
  Linear(x, w + f.gate, n, D, I, a->g.data(), pool);
  Linear(x, w + f.up, n, D, I, a->u.data(), pool);
  SwiGluFwd(a->g.data(), a->u.data(), n * I, a->h.data());
  Linear(a->h.data(), w + f.down, n, I, D, out, pool);
}

template <class T>
void FfnBack(const FfnOff& f, const T* w, const T* x, int64_t n, int64_t D, const FfnAct<T>& a, const T* dout, T* dx,
             T* g, ThreadPool* pool) {
  const int64_t I = f.inter;
  std::vector<T> dh(static_cast<size_t>(n * I), T(0)), dg(dh.size(), T(0)), du(dh.size(), T(0));
  LinearBack(a.h.data(), w + f.down, dout, n, I, D, dh.data(), g + f.down, pool);
  SwiGluBack(a.g.data(), a.u.data(), dh.data(), n * I, dg.data(), du.data());
  LinearBack(x, w + f.gate, dg.data(), n, D, I, dx, g + f.gate, pool);
  LinearBack(x, w + f.up, du.data(), n, D, I, dx, g + f.up, pool);
}

template <class T>
void MoeFwd(const ModelConfig& c, const MoeOpts& o, const MoeOff& m, const T* w, const T* x, MoeAct<T>* a, T* out,
            ThreadPool* pool) {
  const int64_t N = o.B * o.S, D = c.hidden_size, E = c.n_routed_experts, K = c.num_experts_per_tok;
  a->s.resize(static_cast<size_t>(N * E));
  Linear(x, w + m.router, N, D, E, a->s.data(), pool);
  for (auto& v : a->s) v = T(1) / (T(1) + std::exp(-v));
  a->ids.resize(static_cast<size_t>(N * K));
  a->wts.resize(static_cast<size_t>(N * K));
  a->rows.assign(static_cast<size_t>(E), {});
  a->load.assign(static_cast<size_t>(E), 0);
  const T* bias = w + m.bias;
  std::vector<int32_t> order(static_cast<size_t>(E));
  std::vector<T> sel(static_cast<size_t>(E));
  for (int64_t t = 0; t < N; ++t) {
    const T* s = &a->s[t * E];
    for (int64_t e = 0; e < E; ++e) sel[e] = s[e] + bias[e];
    std::iota(order.begin(), order.end(), 0);
    // Best first, ties to the lower index: the engine's Route (model/blocks/moe.cc).
    std::partial_sort(order.begin(), order.begin() + K, order.end(),
                      [&](int32_t p, int32_t q) { return sel[p] > sel[q] || (sel[p] == sel[q] && p < q); });
    T sum = 0;
    for (int64_t k = 0; k < K; ++k) sum += s[order[k]];
    for (int64_t k = 0; k < K; ++k) {
      const int32_t e = order[k];
      a->ids[t * K + k] = e;
      T wk = s[e];
      if (c.norm_topk_prob && K > 1) wk /= sum;
      a->wts[t * K + k] = wk * static_cast<T>(c.routed_scaling_factor);
      a->rows[e].push_back(t * K + k);
      ++a->load[e];
    }
  }
  // Each expert once on the rows routed to it.
  a->xin.resize(static_cast<size_t>(E));
  a->y.resize(static_cast<size_t>(E));
  a->ex.resize(static_cast<size_t>(E));
  std::fill(out, out + N * D, T(0));
  for (int64_t e = 0; e < E; ++e) {
    const auto& rows = a->rows[e];
    const int64_t n = static_cast<int64_t>(rows.size());
    if (n == 0) continue;
    a->xin[e].resize(static_cast<size_t>(n * D));
    a->y[e].resize(static_cast<size_t>(n * D));
    for (int64_t j = 0; j < n; ++j) std::copy(x + (rows[j] / K) * D, x + (rows[j] / K + 1) * D, &a->xin[e][j * D]);
    FfnFwd(m.experts[e], w, a->xin[e].data(), n, D, &a->ex[e], a->y[e].data(), pool);
    for (int64_t j = 0; j < n; ++j) {
      const T wk = a->wts[rows[j]];
      T* ot = out + (rows[j] / K) * D;
      const T* y = &a->y[e][j * D];
      for (int64_t d = 0; d < D; ++d) ot[d] += wk * y[d];
    }
  }
  if (m.shared.inter > 0) {
    a->shared_y.resize(static_cast<size_t>(N * D));
    FfnFwd(m.shared, w, x, N, D, &a->shared, a->shared_y.data(), pool);
    for (int64_t i = 0; i < N * D; ++i) out[i] += a->shared_y[i];
  }
  // Sequence-wise balance loss (reported; its gradient is added in MoeBack).
  a->bal_loss = 0;
  if (o.alpha > 0) {
    for (int64_t b = 0; b < o.B; ++b) {
      std::vector<double> f(static_cast<size_t>(E), 0.0), P(static_cast<size_t>(E), 0.0);
      for (int64_t t = b * o.S; t < (b + 1) * o.S; ++t) {
        double z = 0;
        for (int64_t e = 0; e < E; ++e) z += a->s[t * E + e];
        for (int64_t e = 0; e < E; ++e) P[e] += a->s[t * E + e] / z / static_cast<double>(o.S);
        for (int64_t k = 0; k < K; ++k) f[a->ids[t * K + k]] += static_cast<double>(E) / static_cast<double>(K * o.S);
      }
      double l = 0;
      for (int64_t e = 0; e < E; ++e) l += f[e] * P[e];
      a->bal_loss += o.alpha * l / static_cast<double>(o.B);
    }
  }
}

template <class T>
void MoeBack(const ModelConfig& c, const MoeOpts& o, const MoeOff& m, const T* w, const T* x, const MoeAct<T>& a,
             const T* dout, T* dx, T* g, ThreadPool* pool) {
  const int64_t N = o.B * o.S, D = c.hidden_size, E = c.n_routed_experts, K = c.num_experts_per_tok;
  std::vector<T> dwts(static_cast<size_t>(N * K), T(0));
  for (int64_t e = 0; e < E; ++e) {
    const auto& rows = a.rows[e];
    const int64_t n = static_cast<int64_t>(rows.size());
    if (n == 0) continue;
    std::vector<T> dy(static_cast<size_t>(n * D)), dxin(static_cast<size_t>(n * D), T(0));
    for (int64_t j = 0; j < n; ++j) {
      const T* go = dout + (rows[j] / K) * D;
      const T wk = a.wts[rows[j]];
      for (int64_t d = 0; d < D; ++d) dy[j * D + d] = wk * go[d];
      dwts[rows[j]] = DotT(go, &a.y[e][j * D], D);
    }
    FfnBack(m.experts[e], w, a.xin[e].data(), n, D, a.ex[e], dy.data(), dxin.data(), g, pool);
    for (int64_t j = 0; j < n; ++j) {
      T* dxt = dx + (rows[j] / K) * D;
      for (int64_t d = 0; d < D; ++d) dxt[d] += dxin[j * D + d];
    }
  }
  if (m.shared.inter > 0) FfnBack(m.shared, w, x, N, D, a.shared, dout, dx, g, pool);

  // Scores: through the top-k weights, and the balance loss through P.
  std::vector<T> ds(static_cast<size_t>(N * E), T(0));
  const T rsf = static_cast<T>(c.routed_scaling_factor);
  for (int64_t t = 0; t < N; ++t) {
    const T* s = &a.s[t * E];
    T* d = &ds[t * E];
    if (c.norm_topk_prob && K > 1) {
      // w_k = rsf s_k / Z, Z = sum_j s_j (j over the top-k):  ds_k = rsf (dw_k - sum_j dw_j s_j / Z) / Z
      T z = 0, dot = 0;
      for (int64_t k = 0; k < K; ++k) {
        z += s[a.ids[t * K + k]];
        dot += dwts[t * K + k] * s[a.ids[t * K + k]];
      }
      for (int64_t k = 0; k < K; ++k) d[a.ids[t * K + k]] += rsf * (dwts[t * K + k] - dot / z) / z;
    } else {
      for (int64_t k = 0; k < K; ++k) d[a.ids[t * K + k]] += rsf * dwts[t * K + k];
    }
  }
  if (o.alpha > 0) {
    for (int64_t b = 0; b < o.B; ++b) {
      std::vector<T> f(static_cast<size_t>(E), T(0));
      for (int64_t t = b * o.S; t < (b + 1) * o.S; ++t)
        for (int64_t k = 0; k < K; ++k) f[a.ids[t * K + k]] += static_cast<T>(E) / static_cast<T>(K * o.S);
      // dL/ds'_e,t = α f_e / (S B);  s'_e = s_e / Z:  ds_j = (G_j - sum_e G_e s_e / Z) / Z.
      const T coef = static_cast<T>(o.alpha) / static_cast<T>(o.S * o.B);
      for (int64_t t = b * o.S; t < (b + 1) * o.S; ++t) {
        const T* s = &a.s[t * E];
        T z = 0, dot = 0;
        for (int64_t e = 0; e < E; ++e) {
          z += s[e];
          dot += coef * f[e] * s[e];
        }
        for (int64_t e = 0; e < E; ++e) ds[t * E + e] += (coef * f[e] - dot / z) / z;
      }
    }
  }
  for (int64_t i = 0; i < N * E; ++i) ds[i] *= a.s[i] * (T(1) - a.s[i]);  // sigmoid'
  LinearBack(x, w + m.router, ds.data(), N, D, E, dx, g + m.router, pool);
}

#define QS_INSTANTIATE(T)                                                                                          \
  template void FfnFwd<T>(const FfnOff&, const T*, const T*, int64_t, int64_t, FfnAct<T>*, T*, ThreadPool*);       \
  template void FfnBack<T>(const FfnOff&, const T*, const T*, int64_t, int64_t, const FfnAct<T>&, const T*, T*,    \
                           T*, ThreadPool*);                                                                       \
  template void MoeFwd<T>(const ModelConfig&, const MoeOpts&, const MoeOff&, const T*, const T*, MoeAct<T>*, T*,   \
                          ThreadPool*);                                                                            \
  template void MoeBack<T>(const ModelConfig&, const MoeOpts&, const MoeOff&, const T*, const T*,                  \
                           const MoeAct<T>&, const T*, T*, T*, ThreadPool*);
QS_INSTANTIATE(float)
QS_INSTANTIATE(double)
#undef QS_INSTANTIATE

}  // namespace qs::train
