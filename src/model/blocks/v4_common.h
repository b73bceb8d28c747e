// Pieces shared by DeepSeek-V4's blocks (reference: deepseek-ai/DeepSeek-V4-Flash inference/model.py;
// semantics as fixtures/deepseek-v4-golden/README.md lists them, items cited as "README n").
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"

namespace qs {

// model.py precompute_freqs_cis for the rope dims [nope | rope] of V4 (interleaved pairs,
// README 3): compressed layers (ratio != 0) use compress_rope_theta with YaRN, window-only layers
// rope_theta without. Frequencies and the angle pos * f are fp32 as model.py computes them.
class V4Rope {
 public:
  V4Rope() = default;
  V4Rope(const ModelConfig& c, bool compressed);
  int64_t dim() const { return static_cast<int64_t>(freq_.size()) * 2; }
  // Rotates x[0..dim) by +pos (inverse: by -pos, the complex conjugate; README 4).
  void Apply(float* x, int64_t pos, bool inverse = false) const;

 private:
  std::vector<float> freq_;
};

// Which kind a layer is (README 1): 0 window only, 4 CSA, anything else HCA.
inline int64_t V4Ratio(const ModelConfig& c, int64_t layer) {
  return layer >= 0 && layer < static_cast<int64_t>(c.compress_ratios.size()) ? c.compress_ratios[static_cast<size_t>(layer)] : 0;
}

}  // namespace qs
