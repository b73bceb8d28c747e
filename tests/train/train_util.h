// Shared pieces of the trainer tests: a tiny config that exercises every path (q LoRA, a dense
// first layer, MoE with shared experts and top-2 routing, one MTP module) and a finite-difference
// checker.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "train/params.h"

namespace qs::train::test {

inline ModelConfig TinyConfig() {
  Dims d;
  d.vocab = 13;
  d.hidden = 8;
  d.layers = 2;
  d.heads = 2;
  d.q_lora = 6;
  d.kv_lora = 4;
  d.nope = 3;
  d.rope = 4;
  d.v_dim = 3;
  d.inter = 10;
  d.moe_inter = 5;
  d.experts = 4;
  d.shared = 1;
  d.topk = 2;
  d.dense_layers = 1;
  d.max_pos = 16;
  d.mtp = 1;
  return MakeTrainConfig(d);
}

// Larger initial weights than training uses, so every path carries gradients well above the
// finite-difference noise.
inline void ScaleUp(std::vector<double>* w, double f) {
  for (auto& v : *w) v *= f;
}

// Central differences of f at the given coordinates of x compared with the analytic gradient.
// In double with h = 1e-6 the truncation error is O(h^2 f''') ~ 1e-12 and the rounding error
// ~ 1e-16 |f| / h ~ 1e-10 |f| (absolute), so the check is |fd - an| < tol (|fd| + |an| + floor)
// with tol 1e-6 and `floor` ~ 1e-3 |f| covering that rounding noise for tiny gradients.
inline void CheckFd(const std::function<double()>& f, std::vector<double>* x, const std::vector<double>& grad,
                    const std::vector<int64_t>& coords, const std::string& what, double tol = 1e-6,
                    double floor = 1e-7) {
  const double h = 1e-6;
  int checked = 0;
  for (int64_t i : coords) {
    const double keep = (*x)[i];
    (*x)[i] = keep + h;
    const double fp = f();
    (*x)[i] = keep - h;
    const double fm = f();
    (*x)[i] = keep;
    const double fd = (fp - fm) / (2 * h);
    const double an = grad[static_cast<size_t>(i)];
    const double err = std::abs(fd - an) / (std::abs(fd) + std::abs(an) + floor);
    EXPECT_LT(err, tol) << what << " coordinate " << i << ": finite difference " << fd << " analytic " << an;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

// Up to `per` coordinates of each parameter (deterministic spread).
inline std::vector<int64_t> SomeCoords(const Layout& L, int per) {
  std::vector<int64_t> c;
  for (const ParamInfo& p : L.params) {
    if (!p.trainable) continue;
    for (int k = 0; k < per && k < p.size; ++k) c.push_back(p.offset + (k * 7919 + 13) % p.size);
  }
  return c;
}

}  // namespace qs::train::test
