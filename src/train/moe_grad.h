// Feed-forward blocks, forward and backward: the SwiGLU FFN (dense layers, each expert, the
// shared experts) and DeepSeekMoE as DeepSeek-V3 trains it (report §2.1.2):
//
//   s      = sigmoid(x W_gate^T)                     [N, E]  affinities
//   topk   = the K best of s + b (b: the correction bias; it steers selection only)
//   w_k    = s_k / sum_topk s · routed_scaling_factor  (weights from the *unbiased* scores)
//   out    = sum_k w_k FFN_{e_k}(x) + FFN_shared(x)
//
// b is not trained by gradient: after each step the trainer nudges b_e by ±γ toward balanced
// load (MoeAct::load counts the tokens each expert received). The complementary sequence-wise
// balance loss (eq. 17-20) is  L_bal = α Σ_e f_e P_e  per sequence of S tokens, with
// f_e = E / (K S) · #{t: e ∈ topk(t)} (a constant) and P_e = 1/S Σ_t s_e,t / Σ_j s_j,t.
#pragma once

#include <cstdint>
#include <vector>

#include "base/thread_pool.h"
#include "model/config.h"
#include "train/ops.h"
#include "train/params.h"

namespace qs::train {

template <class T>
struct FfnAct {
  std::vector<T> g, u, h;  // [n, I] each
};

// x [n, D] -> out [n, D] (overwritten).
template <class T>
void FfnFwd(const FfnOff& f, const T* w, const T* x, int64_t n, int64_t D, FfnAct<T>* a, T* out, ThreadPool* pool);
// dout [n, D] -> dx (accumulated), gradients into g.
template <class T>
void FfnBack(const FfnOff& f, const T* w, const T* x, int64_t n, int64_t D, const FfnAct<T>& a, const T* dout, T* dx,
             T* g, ThreadPool* pool);

template <class T>
struct MoeAct {
  std::vector<T> s;            // [N, E] sigmoid scores
  std::vector<int32_t> ids;    // [N, K]
  std::vector<T> wts;          // [N, K]
  std::vector<std::vector<int64_t>> rows;  // per expert: the (token * K + slot) it serves, in order
  std::vector<std::vector<T>> xin, y;      // per expert: gathered inputs [n_e, D], outputs [n_e, D]
  std::vector<FfnAct<T>> ex;
  FfnAct<T> shared;
  std::vector<T> shared_y;  // [N, D]
  std::vector<int64_t> load;  // [E] tokens per expert in this batch
  double bal_loss = 0;        // α Σ_e f_e P_e, averaged over the B sequences
};

struct MoeOpts {
  int64_t B = 0, S = 0;
  double alpha = 0;  // sequence-wise balance loss weight (V3: 0.0001)
};

template <class T>
void MoeFwd(const ModelConfig& c, const MoeOpts& o, const MoeOff& m, const T* w, const T* x, MoeAct<T>* a, T* out,
            ThreadPool* pool);
template <class T>
void MoeBack(const ModelConfig& c, const MoeOpts& o, const MoeOff& m, const T* w, const T* x, const MoeAct<T>& a,
             const T* dout, T* dx, T* g, ThreadPool* pool);

}  // namespace qs::train
