#include "model/blocks/v4_hc.h"

#include <algorithm>
#include <cmath>

namespace qs {

HcMixer::HcMixer(std::string prefix, int64_t hc, int64_t hidden, int64_t iters, double hc_eps, double norm_eps, bool head)
    : p_(std::move(prefix)),
      hc_(hc),
      D_(hidden),
      iters_(iters),
      hc_eps_(static_cast<float>(hc_eps)),
      norm_eps_(norm_eps),
      head_(head) {}

void HcMixer::VisitTensors(TensorVisitor& v) {
  const int64_t m = head_ ? hc_ : (2 + hc_) * hc_;
  v.Matrix(p_ + "fn", &fn_, m, hc_ * D_, TensorRole::kMixer);
  v.Vector(p_ + "base", &base_, m, TensorRole::kBias);
  v.Vector(p_ + "scale", &scale_, head_ ? 1 : 3, TensorRole::kBias);  // F32 in the release
}

namespace {
float Sig(float x) { return 1.0f / (1.0f + std::exp(-x)); }
}  // namespace

void HcMixer::Pre(const float* streams, int64_t T, float* x, float* rec, ThreadPool* pool) {
  const int64_t m = fn_.rows, n = hc_ * D_, hc = hc_;
  mix_.resize(static_cast<size_t>(T * m));
  MatMul(fn_, streams, T, mix_.data(), pool);
  for (int64_t t = 0; t < T; ++t) {
    const float* X = streams + t * n;
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(X[i]) * X[i];
    const float rs = 1.0f / std::sqrt(static_cast<float>(ss / static_cast<double>(n)) + static_cast<float>(norm_eps_));
    float* mx = &mix_[t * m];
    for (int64_t i = 0; i < m; ++i) mx[i] *= rs;
    float* r = rec + t * record_width();
    float* pre = r;
    for (int64_t j = 0; j < hc; ++j) pre[j] = Sig(mx[j] * scale_[0] + base_[j]) + hc_eps_;
    if (!head_) {
      float* post = r + hc;
      float* comb = r + 2 * hc;
      for (int64_t j = 0; j < hc; ++j) post[j] = 2.0f * Sig(mx[hc + j] * scale_[1] + base_[hc + j]);
      for (int64_t j = 0; j < hc * hc; ++j) comb[j] = mx[2 * hc + j] * scale_[2] + base_[2 * hc + j];
      auto rows = [&](bool softmax) {
        for (int64_t j = 0; j < hc; ++j) {
          float* row = comb + j * hc;
          if (softmax) {
            float mmax = row[0];
            for (int64_t k = 1; k < hc; ++k) mmax = std::max(mmax, row[k]);
            float s = 0;
            for (int64_t k = 0; k < hc; ++k) s += (row[k] = std::exp(row[k] - mmax));
            for (int64_t k = 0; k < hc; ++k) row[k] = row[k] / s + hc_eps_;
          } else {
            float s = 0;
            for (int64_t k = 0; k < hc; ++k) s += row[k];
            for (int64_t k = 0; k < hc; ++k) row[k] /= (s + hc_eps_);
          }
        }
      };
      auto cols = [&] {
        for (int64_t k = 0; k < hc; ++k) {
          float s = 0;
          for (int64_t j = 0; j < hc; ++j) s += comb[j * hc + k];
          for (int64_t j = 0; j < hc; ++j) comb[j * hc + k] /= (s + hc_eps_);
        }
      };
      rows(true);
      cols();
      for (int64_t it = 1; it < iters_; ++it) {
        rows(false);
        cols();
      }
    }
    float* y = x + t * D_;
    std::fill(y, y + D_, 0.f);
    for (int64_t j = 0; j < hc; ++j)
      for (int64_t i = 0; i < D_; ++i) y[i] += pre[j] * X[j * D_ + i];
  }
}

void HcMixer::Post(const float* f, int64_t T, const float* rec, float* streams) const {
  const int64_t hc = hc_;
  std::vector<float> old(static_cast<size_t>(hc * D_));
  for (int64_t t = 0; t < T; ++t) {
    float* S = streams + t * hc * D_;
    std::copy(S, S + hc * D_, old.begin());
    const float* post = rec + t * record_width() + hc;
    const float* comb = post + hc;
    for (int64_t k = 0; k < hc; ++k) {
      float* out = S + k * D_;
      for (int64_t i = 0; i < D_; ++i) {
        float acc = post[k] * f[t * D_ + i];
        for (int64_t j = 0; j < hc; ++j) acc += comb[j * hc + k] * old[j * D_ + i];
        out[i] = acc;
      }
    }
  }
}

}  // namespace qs
