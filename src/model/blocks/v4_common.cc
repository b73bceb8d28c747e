#include "model/blocks/v4_common.h"

#include <algorithm>
#include <cmath>

namespace qs {

V4Rope::V4Rope(const ModelConfig& c, bool compressed) {
  const int64_t dim = c.qk_rope_head_dim;
  const double base = compressed ? c.compress_rope_theta : c.rope.theta;
  freq_.resize(static_cast<size_t>(dim / 2));
  const float fbase = static_cast<float>(base);
  for (int64_t i = 0; i < dim / 2; ++i)
    freq_[i] = 1.0f / std::pow(fbase, static_cast<float>(2 * i) / static_cast<float>(dim));
  // YaRN (model.py find_correction_range / linear_ramp_factor), compressed layers only.
  if (compressed && c.rope.scaling == RopeScaling::kYarn && c.rope.original_max_position > 0) {
    const double orig = static_cast<double>(c.rope.original_max_position);
    auto corr = [&](double rot) { return dim * std::log(orig / (rot * 2 * M_PI)) / (2 * std::log(base)); };
    double low = std::max(std::floor(corr(c.rope.beta_fast)), 0.0);
    double high = std::min(std::ceil(corr(c.rope.beta_slow)), static_cast<double>(dim - 1));
    if (low == high) high += 0.001;
    const float factor = static_cast<float>(c.rope.factor);
    for (int64_t i = 0; i < dim / 2; ++i) {
      const float ramp = std::clamp((static_cast<float>(i) - static_cast<float>(low)) / static_cast<float>(high - low), 0.0f, 1.0f);
      const float smooth = 1.0f - ramp;
      freq_[i] = freq_[i] / factor * (1.0f - smooth) + freq_[i] * smooth;
    }
  }
}

void V4Rope::Apply(float* x, int64_t pos, bool inverse) const {
  const float p = static_cast<float>(pos);
  for (size_t i = 0; i < freq_.size(); ++i) {
    const float a = p * freq_[i];  // fp32 angle, one rounding (README 3)
    const float c = static_cast<float>(std::cos(static_cast<double>(a)));
    float s = static_cast<float>(std::sin(static_cast<double>(a)));
    if (inverse) s = -s;
    const float x0 = x[2 * i], x1 = x[2 * i + 1];
    x[2 * i] = x0 * c - x1 * s;
    x[2 * i + 1] = x0 * s + x1 * c;
  }
}

}  // namespace qs
