// Multi-head Latent Attention, forward and backward, in the *naive* (non-absorbed) form of
// DeepSeek-V2 §2.1: per head keys [k_nope_h | k_pe] and values v_h are expanded from the latent
// c_kv with kv_b_proj. It is the same function the engine computes in absorbed form
// (model/blocks/mla.cc); training needs the per-head products anyway.
//
//   qa   = x W_qa^T                     [N, qlr]      (q LoRA; else q = x W_q^T)
//   qan  = rms(qa) * q_a_layernorm      [N, qlr]
//   q    = qan W_qb^T                   [N, H, dn + dr], then RoPE on each head's last dr
//   kva  = x W_kva^T                    [N, kvl + dr]
//   ckv  = rms(kva[:, :kvl]) * kv_a_layernorm   [N, kvl]
//   kpe  = RoPE(kva[:, kvl:])           [N, dr]  (one key head shared by all query heads)
//   kv   = ckv W_kvb^T                  [N, H, dn + dv] = [k_nope_h | v_h]
//   P    = causal softmax(scale · (q_nope·k_nope + q_pe·kpe))   [B, H, S, S]
//   o    = P v                          [N, H, dv];  out = o W_o^T  [N, D]
// RoPE rotates interleaved pairs at position t within the sequence (model/rope.h).
#pragma once

#include <cstdint>
#include <vector>

#include "base/thread_pool.h"
#include "model/config.h"
#include "train/ops.h"
#include "train/params.h"

namespace qs::train {

template <class T>
struct MlaAct {
  std::vector<T> qa, qa_inv, qan, q, kva, ckv_inv, ckv, kpe, kv, P, o;
};

template <class T>
struct MlaShape {
  int64_t B = 0, S = 0, D = 0, H = 0, dn = 0, dr = 0, dv = 0, kvl = 0, qlr = 0;
  double eps = 1e-6;
  T scale = 0;
  int64_t N() const { return B * S; }
  int64_t dqk() const { return dn + dr; }
  static MlaShape Of(const ModelConfig& c, int64_t B, int64_t S);
};

// The RoPE table for positions 0..S-1 of qk_rope_head_dim (the engine's inv_freq, model/rope.h).
template <class T>
RopeTable<T> MakeRopeTable(const ModelConfig& c, int64_t S);

// x [N, D] -> out [N, D] (overwritten). w: the flat weights.
template <class T>
void MlaForward(const MlaShape<T>& s, const MlaOff& off, const T* w, const RopeTable<T>& rope, const T* x,
                MlaAct<T>* a, T* out, ThreadPool* pool);
// dout [N, D] -> dx [N, D] (accumulated), gradients into g (flat, accumulated).
template <class T>
void MlaBackward(const MlaShape<T>& s, const MlaOff& off, const T* w, const RopeTable<T>& rope, const T* x,
                 const MlaAct<T>& a, const T* dout, T* dx, T* g, ThreadPool* pool);

}  // namespace qs::train
