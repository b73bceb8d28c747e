#include "train/net.h"

#include <algorithm>

namespace qs::train {

template <class T>
Net<T>::Net(const ModelConfig& c, const LossOpts& lo) : c_(c), lo_(lo), L_(BuildLayout(c)) {
  w_.assign(static_cast<size_t>(L_.total), T(0));
  g_.assign(static_cast<size_t>(L_.total), T(0));
  acts_.resize(L_.layers.size());
  mtp_acts_.resize(L_.mtp.size());
}

template <class T>
void Net<T>::LayerFwd(const LayerOff& lo, LayerAct<T>* a, const T* x, T* out, const MoeOpts& mo, ThreadPool* pool) {
  const int64_t N = mo.B * mo.S, D = c_.hidden_size;
  const T* w = w_.data();
  a->x.assign(x, x + N * D);
  a->n1.resize(static_cast<size_t>(N * D));
  a->inv1.resize(static_cast<size_t>(N));
  RmsNormRows(x, D, w + lo.attn_norm, N, D, c_.rms_norm_eps, a->n1.data(), D, a->inv1.data());
  a->mid.resize(static_cast<size_t>(N * D));
  MlaForward(shape_, lo.mla, w, rope_, a->n1.data(), &a->attn, a->mid.data(), pool);
  for (int64_t i = 0; i < N * D; ++i) a->mid[i] += x[i];
  a->n2.resize(static_cast<size_t>(N * D));
  a->inv2.resize(static_cast<size_t>(N));
  RmsNormRows(a->mid.data(), D, w + lo.ffn_norm, N, D, c_.rms_norm_eps, a->n2.data(), D, a->inv2.data());
  if (lo.moe) MoeFwd(c_, mo, lo.moe_w, w, a->n2.data(), &a->moe, out, pool);
  else FfnFwd(lo.dense, w, a->n2.data(), N, D, &a->dense, out, pool);
  for (int64_t i = 0; i < N * D; ++i) out[i] += a->mid[i];
}

template <class T>
void Net<T>::LayerBack(const LayerOff& lo, const LayerAct<T>& a, const T* dout, T* dx, const MoeOpts& mo,
                       ThreadPool* pool) {
  const int64_t N = mo.B * mo.S, D = c_.hidden_size;
  const T* w = w_.data();
  T* g = g_.data();
  std::vector<T> dmid(dout, dout + N * D), dn(static_cast<size_t>(N * D), T(0));
  if (lo.moe) MoeBack(c_, mo, lo.moe_w, w, a.n2.data(), a.moe, dout, dn.data(), g, pool);
  else FfnBack(lo.dense, w, a.n2.data(), N, D, a.dense, dout, dn.data(), g, pool);
  RmsNormRowsBack(a.mid.data(), D, w + lo.ffn_norm, a.inv2.data(), dn.data(), D, N, D, dmid.data(), D, g + lo.ffn_norm);
  std::fill(dn.begin(), dn.end(), T(0));
  MlaBackward(shape_, lo.mla, w, rope_, a.n1.data(), a.attn, dmid.data(), dn.data(), g, pool);
  std::copy(dmid.begin(), dmid.end(), dx);
  RmsNormRowsBack(a.x.data(), D, w + lo.attn_norm, a.inv1.data(), dn.data(), D, N, D, dx, D, g + lo.attn_norm);
}

template <class T>
LossParts Net<T>::Step(const int32_t* tokens, int64_t B, int64_t S, bool grad, ThreadPool* pool,
                       std::vector<float>* logits_out, std::vector<float>* mtp_logits_out) {
  const int64_t N = B * S, D = c_.hidden_size, V = c_.vocab_size;
  const T* w = w_.data();
  T* g = g_.data();
  shape_ = MlaShape<T>::Of(c_, B, S);
  if (rope_len_ < S) {
    rope_ = MakeRopeTable<T>(c_, S);
    rope_len_ = S;
  }
  MoeOpts mo{B, S, lo_.balance_alpha};

  // Embedding and the main layers.
  std::vector<T> h(static_cast<size_t>(N * D)), next(h.size());
  for (int64_t r = 0; r < N; ++r) std::copy(w + L_.embed + tokens[r] * D, w + L_.embed + (tokens[r] + 1) * D, &h[r * D]);
  for (size_t l = 0; l < L_.layers.size(); ++l) {
    LayerFwd(L_.layers[l], &acts_[l], h.data(), next.data(), mo, pool);
    std::swap(h, next);
  }
  std::vector<T> hf(h.size()), invf(static_cast<size_t>(N));
  RmsNormRows(h.data(), D, w + L_.norm, N, D, c_.rms_norm_eps, hf.data(), D, invf.data());
  std::vector<T>& logits = logits_;
  logits.resize(static_cast<size_t>(N * V));  // every element written by Linear
  Linear(hf.data(), w + L_.head, N, D, V, logits.data(), pool);
  if (logits_out) logits_out->assign(logits.begin(), logits.end());

  LossParts lp;
  std::vector<int32_t> tgt(static_cast<size_t>(N));
  for (int64_t r = 0; r < N; ++r) tgt[r] = r % S + 1 < S ? tokens[r + 1] : -1;
  const int64_t n_main = B * (S - 1);
  lp.main = CrossEntropy(logits.data(), tgt.data(), N, V, 1.0, std::max<int64_t>(n_main, 1), grad, pool,
                         &lp.main_count) / static_cast<double>(std::max<int64_t>(n_main, 1));

  // MTP: row t takes norm(h_t) and token t+1 and predicts token t+2.
  const bool mtp = !L_.mtp.empty() && S >= 3;
  std::vector<T> e, inv_e, inv_h, cat, m0, m1, mf, inv_m;
  std::vector<T>& logits2 = logits2_;
  std::vector<int32_t> nxt(static_cast<size_t>(N)), tgt2(static_cast<size_t>(N));
  const int64_t n_mtp = B * (S - 2);
  if (mtp) {
    const MtpOff& M = L_.mtp[0];
    for (int64_t r = 0; r < N; ++r) {
      nxt[r] = r % S + 1 < S ? tokens[r + 1] : 0;  // the last row has no next token: padding, no loss
      tgt2[r] = r % S + 2 < S ? tokens[r + 2] : -1;
    }
    e.resize(h.size());
    for (int64_t r = 0; r < N; ++r) std::copy(w + L_.embed + nxt[r] * D, w + L_.embed + (nxt[r] + 1) * D, &e[r * D]);
    cat.resize(static_cast<size_t>(N * 2 * D));
    inv_e.resize(static_cast<size_t>(N));
    inv_h.resize(static_cast<size_t>(N));
    RmsNormRows(e.data(), D, w + M.enorm, N, D, c_.rms_norm_eps, cat.data(), 2 * D, inv_e.data());
    RmsNormRows(hf.data(), D, w + M.hnorm, N, D, c_.rms_norm_eps, cat.data() + D, 2 * D, inv_h.data());
    m0.resize(h.size());
    m1.resize(h.size());
    Linear(cat.data(), w + M.eh_proj, N, 2 * D, D, m0.data(), pool);
    LayerFwd(M.layer, &mtp_acts_[0], m0.data(), m1.data(), mo, pool);
    mf.resize(h.size());
    inv_m.resize(static_cast<size_t>(N));
    RmsNormRows(m1.data(), D, w + M.head_norm, N, D, c_.rms_norm_eps, mf.data(), D, inv_m.data());
    logits2.resize(logits.size());
    Linear(mf.data(), w + L_.head, N, D, V, logits2.data(), pool);
    if (mtp_logits_out) mtp_logits_out->assign(logits2.begin(), logits2.end());
    lp.mtp = CrossEntropy(logits2.data(), tgt2.data(), N, V, lo_.mtp_lambda, n_mtp, grad, pool, &lp.mtp_count) /
             static_cast<double>(n_mtp);
  }
  load_.clear();
  for (auto& a : acts_)
    if (!a.moe.load.empty()) {
      lp.balance += a.moe.bal_loss;
      load_.push_back(a.moe.load);
    }
  if (mtp && !mtp_acts_[0].moe.load.empty()) {
    lp.balance += mtp_acts_[0].moe.bal_loss;
    load_.push_back(mtp_acts_[0].moe.load);
  }
  lp.total = lp.main + (mtp ? lo_.mtp_lambda * lp.mtp : 0.0) + lp.balance;
  if (!grad) return lp;

  // Backward. logits / logits2 now hold d(loss)/d(logits).
  std::vector<T> dhf(h.size(), T(0));
  LinearBack(hf.data(), w + L_.head, logits.data(), N, D, V, dhf.data(), g + L_.head, pool);
  if (mtp) {
    const MtpOff& M = L_.mtp[0];
    std::vector<T> dmf(h.size(), T(0)), dm1(h.size(), T(0)), dm0(h.size(), T(0)), dcat(cat.size(), T(0));
    LinearBack(mf.data(), w + L_.head, logits2.data(), N, D, V, dmf.data(), g + L_.head, pool);
    RmsNormRowsBack(m1.data(), D, w + M.head_norm, inv_m.data(), dmf.data(), D, N, D, dm1.data(), D, g + M.head_norm);
    LayerBack(M.layer, mtp_acts_[0], dm1.data(), dm0.data(), mo, pool);
    LinearBack(cat.data(), w + M.eh_proj, dm0.data(), N, 2 * D, D, dcat.data(), g + M.eh_proj, pool);
    std::vector<T> de(h.size(), T(0));
    RmsNormRowsBack(e.data(), D, w + M.enorm, inv_e.data(), dcat.data(), 2 * D, N, D, de.data(), D, g + M.enorm);
    RmsNormRowsBack(hf.data(), D, w + M.hnorm, inv_h.data(), dcat.data() + D, 2 * D, N, D, dhf.data(), D,
                    g + M.hnorm);
    for (int64_t r = 0; r < N; ++r) {
      T* ge = g + L_.embed + nxt[r] * D;
      for (int64_t d = 0; d < D; ++d) ge[d] += de[r * D + d];
    }
  }
  std::vector<T> dh(h.size(), T(0)), dx(h.size());
  // h holds the last layer's output: the final norm's input.
  RmsNormRowsBack(h.data(), D, w + L_.norm, invf.data(), dhf.data(), D, N, D, dh.data(), D, g + L_.norm);
  for (size_t l = L_.layers.size(); l-- > 0;) {
    LayerBack(L_.layers[l], acts_[l], dh.data(), dx.data(), mo, pool);
    std::swap(dh, dx);
  }
  for (int64_t r = 0; r < N; ++r) {
    T* ge = g + L_.embed + tokens[r] * D;
    for (int64_t d = 0; d < D; ++d) ge[d] += dh[r * D + d];
  }
  return lp;
}

template <class T>
void Net<T>::UpdateRouterBias(double gamma) {
  size_t i = 0;
  auto update = [&](const LayerOff& lo) {
    if (!lo.moe || i >= load_.size()) return;
    const auto& load = load_[i++];
    double mean = 0;
    for (int64_t v : load) mean += static_cast<double>(v);
    mean /= static_cast<double>(load.size());
    T* b = w_.data() + lo.moe_w.bias;
    for (size_t e = 0; e < load.size(); ++e) {
      const double x = static_cast<double>(load[e]);
      // Overloaded experts lose bias, underloaded ones gain it (V3 §2.1.2, update speed γ).
      b[e] += static_cast<T>(x > mean ? -gamma : (x < mean ? gamma : 0.0));
    }
  };
  for (const auto& lo : L_.layers) update(lo);
  for (const auto& m : L_.mtp) update(m.layer);
}

template class Net<float>;
template class Net<double>;

}  // namespace qs::train
