// Rotary position embedding (RoFormer, Su et al. 2021) with the scalings DeepSeek and Llama use.
// inv_freq is computed once from config.json; cos/sin per position on demand.
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"

namespace qs {

enum class RopeLayout {
  kInterleaved,  // pairs (x[2i], x[2i+1]): MLA in HF layout, llama.cpp rope type NORM (GPT-J style)
  kHalfSplit,    // pairs (x[i], x[i + d/2]): HF GQA models, llama.cpp rope type NEOX, the V3.2 indexer
};

class Rope {
 public:
  Rope(const RopeConfig& cfg, int64_t dim);
  int64_t dim() const { return dim_; }
  const std::vector<float>& inv_freq() const { return inv_freq_; }
  // Rotates x[0..dim) in place for position `pos`.
  void Apply(float* x, int64_t pos, RopeLayout layout) const { ApplyHeads(x, 1, 0, pos, layout); }
  // Rotates n_heads vectors x + i * stride (i < n_heads) for one position; cos/sin computed once.
  void ApplyHeads(float* x, int64_t n_heads, int64_t stride, int64_t pos, RopeLayout layout) const;
  // YaRN attention-temperature factor: mscale(factor, mscale_all_dim)^2 multiplies the softmax
  // scale (DeepSeek-V2 §2.1 + YaRN §3.4); 1 without YaRN.
  double softmax_mscale2() const { return softmax_mscale2_; }

 private:
  int64_t dim_;
  std::vector<float> inv_freq_;
  float cos_sin_scale_ = 1.0f;  // HF: mscale(factor, mscale) / mscale(factor, mscale_all_dim)
  double softmax_mscale2_ = 1.0;
};

double YarnMscale(double factor, double mscale);

}  // namespace qs
