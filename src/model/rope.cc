#include "model/rope.h"

#include <algorithm>
#include <cmath>

namespace qs {

double YarnMscale(double factor, double mscale) {
  if (factor <= 1.0) return 1.0;
  return 0.1 * mscale * std::log(factor) + 1.0;
}

namespace {
// Dimension index where the wavelength equals original_max_position / num_rotations
// (YaRN §3.2, "find_correction_dim" in DeepSeek's model.py and HF).
double CorrectionDim(double num_rot, double dim, double base, double max_pos) {
  return dim * std::log(max_pos / (num_rot * 2.0 * M_PI)) / (2.0 * std::log(base));
}
}  // namespace

Rope::Rope(const RopeConfig& cfg, int64_t dim) : dim_(dim) {
  const int64_t half = dim / 2;
  inv_freq_.resize(static_cast<size_t>(half));
  // Base frequencies in fp32 as the reference computes them: 1 / base^(2i/d).
  std::vector<float> base(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    base[i] = static_cast<float>(1.0 / std::pow(cfg.theta, static_cast<double>(2 * i) / static_cast<double>(dim)));
  if (static_cast<int64_t>(cfg.freq_divisors.size()) == half) {
    // llama.cpp's rope_freqs tensor (llama3 scaling precomputed by its converter): theta / divisor.
    for (int64_t i = 0; i < half; ++i) inv_freq_[i] = base[i] / cfg.freq_divisors[static_cast<size_t>(i)];
    return;
  }
  switch (cfg.scaling) {
    case RopeScaling::kNone:
      inv_freq_ = base;
      break;
    case RopeScaling::kLinear:
      for (int64_t i = 0; i < half; ++i) inv_freq_[i] = static_cast<float>(base[i] / cfg.factor);
      break;
    case RopeScaling::kYarn: {
      const double d = static_cast<double>(dim), orig = static_cast<double>(cfg.original_max_position);
      double low = std::floor(CorrectionDim(cfg.beta_fast, d, cfg.theta, orig));
      double high = std::ceil(CorrectionDim(cfg.beta_slow, d, cfg.theta, orig));
      low = std::max(low, 0.0);
      high = std::min(high, d - 1);
      if (low == high) high += 0.001;
      for (int64_t i = 0; i < half; ++i) {
        // ramp 0 below `low` (keep the original frequency: extrapolation), 1 above `high`
        // (divide by factor: interpolation), linear between.
        float ramp = static_cast<float>(std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0));
        float f = base[i];
        inv_freq_[i] = f / static_cast<float>(cfg.factor) * ramp + f * (1.0f - ramp);
      }
      const double all_dim = YarnMscale(cfg.factor, cfg.mscale_all_dim);
      softmax_mscale2_ = all_dim * all_dim;
      cos_sin_scale_ = static_cast<float>(YarnMscale(cfg.factor, cfg.mscale) / all_dim);
      break;
    }
    case RopeScaling::kLlama3: {
      // Llama 3.1: long wavelengths divided by factor, short kept, smooth blend between.
      const double orig = static_cast<double>(cfg.original_max_position);
      const double low_wl = orig / cfg.low_freq_factor, high_wl = orig / cfg.high_freq_factor;
      for (int64_t i = 0; i < half; ++i) {
        double f = base[i];
        double wl = 2.0 * M_PI / f;
        double r;
        if (wl < high_wl) r = f;
        else if (wl > low_wl) r = f / cfg.factor;
        else {
          double smooth = (orig / wl - cfg.low_freq_factor) / (cfg.high_freq_factor - cfg.low_freq_factor);
          r = (1 - smooth) * f / cfg.factor + smooth * f;
        }
        inv_freq_[i] = static_cast<float>(r);
      }
      break;
    }
  }
}

void Rope::ApplyHeads(float* x, int64_t n_heads, int64_t stride, int64_t pos, RopeLayout layout) const {
  const int64_t half = dim_ / 2;
  thread_local std::vector<float> cs;
  cs.resize(static_cast<size_t>(2 * half));
  for (int64_t i = 0; i < half; ++i) {
    // Angle in fp32 (torch.outer(t, freqs) in the reference), cos/sin of that value.
    const float ang = static_cast<float>(pos) * inv_freq_[i];
    cs[2 * i] = static_cast<float>(std::cos(static_cast<double>(ang))) * cos_sin_scale_;
    cs[2 * i + 1] = static_cast<float>(std::sin(static_cast<double>(ang))) * cos_sin_scale_;
  }
  for (int64_t hd = 0; hd < n_heads; ++hd) {
    float* v = x + hd * stride;
    for (int64_t i = 0; i < half; ++i) {
      const float c = cs[2 * i], s = cs[2 * i + 1];
      float* a = layout == RopeLayout::kInterleaved ? &v[2 * i] : &v[i];
      float* b = layout == RopeLayout::kInterleaved ? &v[2 * i + 1] : &v[i + half];
      const float x0 = *a, x1 = *b;
      *a = x0 * c - x1 * s;
      *b = x0 * s + x1 * c;
    }
  }
}

}  // namespace qs
