// Manifold-constrained hyper-connections (mHC) of DeepSeek-V4 (model.py `Block.hc_pre` /
// `hc_post`, kernel.py `hc_split_sinkhorn`, `ParallelHead.hc_head`; fixture README item 11):
// the residual is hc_mult streams; before each sublayer a mix of the flattened streams gives
// pre / post weights and a Sinkhorn-normalised hc x hc combination matrix; the sublayer reads
// sum_i pre_i stream_i and writes stream'_k = post_k f + sum_j comb[j][k] stream_j.
#pragma once

#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "model/tensors.h"

namespace qs {

class ThreadPool;

// One sublayer's mixer ("layers.N.hc_attn_" / "layers.N.hc_ffn_"), or the head ("hc_head_",
// head = true: pre weights only).
class HcMixer {
 public:
  HcMixer(std::string prefix, int64_t hc, int64_t hidden, int64_t iters, double hc_eps, double norm_eps, bool head);
  void VisitTensors(TensorVisitor& v);
  // Floats per row of the mix record: pre[hc] | post[hc] | comb[hc][hc] (the fixture's hc.f32 row).
  int64_t record_width() const { return 2 * hc_ + hc_ * hc_; }
  // streams [T, hc, hidden] -> x [T, hidden]; rec [T, record_width()] keeps the weights for Post.
  void Pre(const float* streams, int64_t T, float* x, float* rec, ThreadPool* pool);
  // streams <- post f + comb^T streams, row by row (f: [T, hidden]).
  void Post(const float* f, int64_t T, const float* rec, float* streams) const;

 private:
  std::string p_;
  int64_t hc_, D_, iters_;
  float hc_eps_;
  double norm_eps_;
  bool head_;
  WeightMatrix fn_;
  std::vector<float> base_, scale_, mix_;
};

}  // namespace qs
