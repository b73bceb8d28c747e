// The whole trainable model: embedding, decoder layers (h += MLA(rms(h)); h += FFN(rms(h))),
// final norm, untied head, and the MTP module of DeepSeek-V3 §2.2:
//
//   main:  logits_t = head(norm(h_t))                  -> CE against token t+1
//   MTP:   m_t = eh_proj [enorm(Emb(x_{t+1})) ; hnorm(norm(h_t))]   (embedding half first)
//          m   = decoder layer(m) over the same positions
//          logits'_t = head(shared_head.norm(m_t))     -> CE against token t+2, weight λ
//
// The MTP input is the main model's *final-norm* output, as the engine's Model::ForwardMtp
// consumes it (model/transformer.cc), so a trained checkpoint drafts the way it was trained. The
// MTP module shares the main embedding and head (§2.2).
//
// Loss = CE_main + λ CE_mtp + Σ_moe-layers L_bal. Batches are B sequences of S tokens; row
// r = b * S + t.
#pragma once

#include <cstdint>
#include <vector>

#include "base/thread_pool.h"
#include "model/config.h"
#include "train/mla_grad.h"
#include "train/moe_grad.h"
#include "train/params.h"

namespace qs::train {

struct LossOpts {
  double mtp_lambda = 0.3;   // V3 uses 0.3 for the first 10T tokens
  double balance_alpha = 1e-4;
};

struct LossParts {
  double main = 0, mtp = 0, balance = 0;  // means (main and mtp per predicted token)
  double total = 0;
  int64_t main_count = 0, mtp_count = 0;
};

template <class T>
struct LayerAct {
  std::vector<T> x, n1, inv1, mid, n2, inv2;  // [N, D] residual in, norms; [N] inverse rms
  MlaAct<T> attn;
  FfnAct<T> dense;
  MoeAct<T> moe;
};

template <class T>
class Net {
 public:
  Net(const ModelConfig& c, const LossOpts& lo);
  const ModelConfig& config() const { return c_; }
  const Layout& layout() const { return L_; }
  std::vector<T>& weights() { return w_; }
  std::vector<T>& grads() { return g_; }
  const std::vector<T>& weights() const { return w_; }

  // tokens [B, S]. Computes the loss; with grad, *adds* its gradient to grads(). logits, if
  // given, receives the main head's logits [B * S, V]; mtp_logits the MTP head's [B * S, V]
  // (row t predicts token t + 2; each sequence's last row is padding).
  LossParts Step(const int32_t* tokens, int64_t B, int64_t S, bool grad, ThreadPool* pool,
                 std::vector<float>* logits = nullptr, std::vector<float>* mtp_logits = nullptr);
  // Tokens routed to each expert in the last Step, per MoE layer (main layers then MTP).
  const std::vector<std::vector<int64_t>>& expert_load() const { return load_; }
  // The aux-loss-free update (§2.1.2): b_e += γ sign(mean load - load_e), per MoE layer.
  void UpdateRouterBias(double gamma);

 private:
  void LayerFwd(const LayerOff& lo, LayerAct<T>* a, const T* x, T* out, const MoeOpts& mo, ThreadPool* pool);
  void LayerBack(const LayerOff& lo, const LayerAct<T>& a, const T* dout, T* dx, const MoeOpts& mo,
                 ThreadPool* pool);

  ModelConfig c_;
  LossOpts lo_;
  Layout L_;
  std::vector<T> w_, g_;
  std::vector<LayerAct<T>> acts_, mtp_acts_;
  std::vector<std::vector<int64_t>> load_;
  std::vector<T> logits_, logits2_;  // [N, V], kept between steps (64 MB at N = 2048, V = 8192)
  MlaShape<T> shape_;
  RopeTable<T> rope_;
  int64_t rope_len_ = 0;
};

}  // namespace qs::train
