#include "train/mla_grad.h"

#include <algorithm>
#include <cmath>

#include "model/rope.h"

namespace qs::train {

template <class T>
MlaShape<T> MlaShape<T>::Of(const ModelConfig& c, int64_t B, int64_t S) {
  MlaShape s;
  s.B = B;
  s.S = S;
  s.D = c.hidden_size;
  s.H = c.num_attention_heads;
  s.dn = c.qk_nope_head_dim;
  s.dr = c.qk_rope_head_dim;
  s.dv = c.v_head_dim;
  s.kvl = c.kv_lora_rank;
  s.qlr = c.q_lora_rank;
  s.eps = c.rms_norm_eps;
  // (dn + dr)^-0.5 (DeepSeek model.py softmax_scale; no YaRN mscale: the trainer uses plain RoPE).
  s.scale = static_cast<T>(std::pow(static_cast<double>(s.dn + s.dr), -0.5));
  return s;
}

template <class T>
RopeTable<T> MakeRopeTable(const ModelConfig& c, int64_t S) {
  Rope rope(c.rope, c.qk_rope_head_dim);
  RopeTable<T> t;
  t.dim = c.qk_rope_head_dim;
  const int64_t half = t.dim / 2;
  t.cs.resize(static_cast<size_t>(S * half * 2));
  for (int64_t p = 0; p < S; ++p)
    for (int64_t i = 0; i < half; ++i) {
      // The angle in fp32 as the engine forms it (model/rope.cc), cos/sin in double.
      const float ang = static_cast<float>(p) * rope.inv_freq()[static_cast<size_t>(i)];
      t.cs[static_cast<size_t>((p * half + i) * 2)] = static_cast<T>(std::cos(static_cast<double>(ang)));
      t.cs[static_cast<size_t>((p * half + i) * 2 + 1)] = static_cast<T>(std::sin(static_cast<double>(ang)));
    }
  return t;
}

template <class T>
void MlaForward(const MlaShape<T>& s, const MlaOff& off, const T* w, const RopeTable<T>& rope, const T* x,
                MlaAct<T>* a, T* out, ThreadPool* pool) {
  const int64_t N = s.N(), D = s.D, H = s.H, dn = s.dn, dr = s.dr, dv = s.dv, kvl = s.kvl, dqk = s.dqk(), S = s.S;
  const int64_t qw = H * dqk, kvw = kvl + dr, kvbw = H * (dn + dv);
  a->q.resize(static_cast<size_t>(N * qw));
  if (s.qlr > 0) {
    a->qa.resize(static_cast<size_t>(N * s.qlr));
    a->qan.resize(a->qa.size());
    a->qa_inv.resize(static_cast<size_t>(N));
    Linear(x, w + off.q_a, N, D, s.qlr, a->qa.data(), pool);
    RmsNormRows(a->qa.data(), s.qlr, w + off.q_a_norm, N, s.qlr, s.eps, a->qan.data(), s.qlr, a->qa_inv.data());
    Linear(a->qan.data(), w + off.q_b, N, s.qlr, qw, a->q.data(), pool);
  } else {
    Linear(x, w + off.q_proj, N, D, qw, a->q.data(), pool);
  }
  a->kva.resize(static_cast<size_t>(N * kvw));
  Linear(x, w + off.kv_a, N, D, kvw, a->kva.data(), pool);
  a->ckv.resize(static_cast<size_t>(N * kvl));
  a->ckv_inv.resize(static_cast<size_t>(N));
  RmsNormRows(a->kva.data(), kvw, w + off.kv_a_norm, N, kvl, s.eps, a->ckv.data(), kvl, a->ckv_inv.data());
  a->kpe.resize(static_cast<size_t>(N * dr));
  for (int64_t r = 0; r < N; ++r) {
    std::copy(&a->kva[r * kvw + kvl], &a->kva[r * kvw + kvw], &a->kpe[r * dr]);
    RopeRotate(rope, r % S, &a->kpe[r * dr], false);
    for (int64_t h = 0; h < H; ++h) RopeRotate(rope, r % S, &a->q[r * qw + h * dqk + dn], false);
  }
  a->kv.resize(static_cast<size_t>(N * kvbw));
  Linear(a->ckv.data(), w + off.kv_b, N, kvl, kvbw, a->kv.data(), pool);

  // Attention per (sequence, head): P[b, h, t, u] for u <= t (zeros above the diagonal).
  a->P.assign(static_cast<size_t>(s.B * H * S * S), T(0));
  a->o.assign(static_cast<size_t>(N * H * dv), T(0));
  Par(pool, s.B * H, S * S * (dqk + dv), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t b = i / H, h = i % H;
      T* P = &a->P[static_cast<size_t>(i * S * S)];
      for (int64_t t = 0; t < S; ++t) {
        const int64_t rt = b * S + t;
        const T* qn = &a->q[rt * qw + h * dqk];
        T mx = -INFINITY;
        for (int64_t u = 0; u <= t; ++u) {
          const int64_t ru = b * S + u;
          const T sc = s.scale * (DotT(qn, &a->kv[ru * kvbw + h * (dn + dv)], dn) + DotT(qn + dn, &a->kpe[ru * dr], dr));
          P[t * S + u] = sc;
          mx = std::max(mx, sc);
        }
        T sum = 0;
        for (int64_t u = 0; u <= t; ++u) sum += (P[t * S + u] = std::exp(P[t * S + u] - mx));
        T* o = &a->o[(rt * H + h) * dv];
        for (int64_t u = 0; u <= t; ++u) {
          const T p = (P[t * S + u] /= sum);
          const T* v = &a->kv[(b * S + u) * kvbw + h * (dn + dv) + dn];
          for (int64_t d = 0; d < dv; ++d) o[d] += p * v[d];
        }
      }
    }
  });
  Linear(a->o.data(), w + off.o, N, H * dv, D, out, pool);
}

template <class T>
void MlaBackward(const MlaShape<T>& s, const MlaOff& off, const T* w, const RopeTable<T>& rope, const T* x,
                 const MlaAct<T>& a, const T* dout, T* dx, T* g, ThreadPool* pool) {
  const int64_t N = s.N(), D = s.D, H = s.H, dn = s.dn, dr = s.dr, dv = s.dv, kvl = s.kvl, dqk = s.dqk(), S = s.S;
  const int64_t qw = H * dqk, kvw = kvl + dr, kvbw = H * (dn + dv);
  std::vector<T> d_o(static_cast<size_t>(N * H * dv), T(0));
  LinearBack(a.o.data(), w + off.o, dout, N, H * dv, D, d_o.data(), g + off.o, pool);

  // Attention backward per (sequence, head). dq and dkv rows of a head are written only by that
  // work item; dkpe is shared by the heads, so each head writes its own slice, summed after.
  std::vector<T> dq(static_cast<size_t>(N * qw), T(0)), dkv(static_cast<size_t>(N * kvbw), T(0));
  std::vector<T> dkpe_h(static_cast<size_t>(H * N * dr), T(0));
  Par(pool, s.B * H, S * S * (dqk + dv), [&](int64_t i0, int64_t i1) {
    std::vector<T> dP(static_cast<size_t>(S));
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t b = i / H, h = i % H;
      const T* P = &a.P[static_cast<size_t>(i * S * S)];
      T* dkpe = &dkpe_h[static_cast<size_t>(h * N * dr)];
      for (int64_t t = 0; t < S; ++t) {
        const int64_t rt = b * S + t;
        const T* go = &d_o[(rt * H + h) * dv];
        // dP[u] = dO_t · v_u;  dV_u += P[t, u] dO_t
        T dot = 0;
        for (int64_t u = 0; u <= t; ++u) {
          const int64_t ru = b * S + u;
          dP[u] = DotT(go, &a.kv[ru * kvbw + h * (dn + dv) + dn], dv);
          dot += dP[u] * P[t * S + u];
          T* gv = &dkv[ru * kvbw + h * (dn + dv) + dn];
          const T p = P[t * S + u];
          for (int64_t d = 0; d < dv; ++d) gv[d] += p * go[d];
        }
        // softmax backward: dScore[u] = P[u] (dP[u] - sum_v P[v] dP[v]); then the scaled dots.
        const T* qn = &a.q[rt * qw + h * dqk];
        T* gq = &dq[rt * qw + h * dqk];
        for (int64_t u = 0; u <= t; ++u) {
          const int64_t ru = b * S + u;
          const T ds = P[t * S + u] * (dP[u] - dot) * s.scale;
          if (ds == T(0)) continue;
          const T* kn = &a.kv[ru * kvbw + h * (dn + dv)];
          const T* kp = &a.kpe[ru * dr];
          T* gk = &dkv[ru * kvbw + h * (dn + dv)];
          for (int64_t d = 0; d < dn; ++d) {
            gq[d] += ds * kn[d];
            gk[d] += ds * qn[d];
          }
          T* gkp = &dkpe[ru * dr];
          for (int64_t d = 0; d < dr; ++d) {
            gq[dn + d] += ds * kp[d];
            gkp[d] += ds * qn[dn + d];
          }
        }
      }
    }
  });

  // kv = ckv W_kvb^T
  std::vector<T> dckv(static_cast<size_t>(N * kvl), T(0));
  LinearBack(a.ckv.data(), w + off.kv_b, dkv.data(), N, kvl, kvbw, dckv.data(), g + off.kv_b, pool);
  // dkva = [rms backward of dckv | inverse RoPE of sum_h dkpe_h]
  std::vector<T> dkva(static_cast<size_t>(N * kvw), T(0));
  RmsNormRowsBack(a.kva.data(), kvw, w + off.kv_a_norm, a.ckv_inv.data(), dckv.data(), kvl, N, kvl, dkva.data(), kvw,
                  g + off.kv_a_norm);
  for (int64_t r = 0; r < N; ++r) {
    T* dk = &dkva[r * kvw + kvl];
    for (int64_t h = 0; h < H; ++h)
      for (int64_t d = 0; d < dr; ++d) dk[d] += dkpe_h[static_cast<size_t>((h * N + r) * dr + d)];
    RopeRotate(rope, r % S, dk, true);
    for (int64_t h = 0; h < H; ++h) RopeRotate(rope, r % S, &dq[r * qw + h * dqk + dn], true);
  }
  LinearBack(x, w + off.kv_a, dkva.data(), N, D, kvw, dx, g + off.kv_a, pool);
  if (s.qlr > 0) {
    std::vector<T> dqan(static_cast<size_t>(N * s.qlr), T(0)), dqa(dqan.size(), T(0));
    LinearBack(a.qan.data(), w + off.q_b, dq.data(), N, s.qlr, qw, dqan.data(), g + off.q_b, pool);
    RmsNormRowsBack(a.qa.data(), s.qlr, w + off.q_a_norm, a.qa_inv.data(), dqan.data(), s.qlr, N, s.qlr, dqa.data(),
                    s.qlr, g + off.q_a_norm);
    LinearBack(x, w + off.q_a, dqa.data(), N, D, s.qlr, dx, g + off.q_a, pool);
  } else {
    LinearBack(x, w + off.q_proj, dq.data(), N, D, qw, dx, g + off.q_proj, pool);
  }
}

#define QS_INSTANTIATE(T)                                                                                          \
  template struct MlaShape<T>;                                                                                     \
  template RopeTable<T> MakeRopeTable<T>(const ModelConfig&, int64_t);                                             \
  template void MlaForward<T>(const MlaShape<T>&, const MlaOff&, const T*, const RopeTable<T>&, const T*,          \
                              MlaAct<T>*, T*, ThreadPool*);                                                        \
  template void MlaBackward<T>(const MlaShape<T>&, const MlaOff&, const T*, const RopeTable<T>&, const T*,         \
                               const MlaAct<T>&, const T*, T*, T*, ThreadPool*);
QS_INSTANTIATE(float)
QS_INSTANTIATE(double)
#undef QS_INSTANTIATE

}  // namespace qs::train
