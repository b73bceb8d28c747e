// The vector kernels around the products (kernels/gemm_ops_impl.h) on every SIMD path the machine
// has, against their scalar twins and double precision: attention scores and weighted sums, the
// online-softmax Attention, ExpShift / SwiGlu and their vector exp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <tuple>
#include <vector>

#include "base/cpu.h"
#include "kernels/kernel_test_util.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"

namespace qs {
namespace {

using kernel_test::kU;
using kernel_test::RandomX;
using kernel_test::SimdIsas;

// Attention kernels vs their scalar twins (index-order sums): the same products, summed in another
// order, so within 2 d u sum|q k| (scores) and 2 S u sum|p v| (weighted sums), as for Dot.
TEST(Kernels, AttentionMatchesScalarTwin) {
  std::mt19937 rng(41);
  for (auto [nq, d, S] : {std::tuple<int64_t, int64_t, int64_t>{6, 128, 37}, {1, 576, 5}, {7, 64, 100}, {3, 20, 9}}) {
    const int64_t ks = d + 16;  // rows of a wider cache (other KV heads beside)
    auto q = RandomX(nq, d, rng), k = RandomX(S, ks, rng), p = RandomX(nq, S, rng);
    std::vector<float> ref_s(static_cast<size_t>(nq * S)), ref_o(static_cast<size_t>(nq * d));
    const Isa prev = SetIsaCap(Isa::kScalar);
    AttnScores(q.data(), nq, d, k.data(), ks, S, d, 0.125f, ref_s.data(), S);
    AttnWeightedSum(p.data(), S, nq, k.data(), ks, S, d, ref_o.data(), d);
    for (Isa isa : SimdIsas()) {
      SetIsaCap(isa);
      std::vector<float> sc(ref_s.size(), -1.f), o(ref_o.size(), -1.f);
      AttnScores(q.data(), nq, d, k.data(), ks, S, d, 0.125f, sc.data(), S);
      AttnWeightedSum(p.data(), S, nq, k.data(), ks, S, d, o.data(), d);
      for (int64_t i = 0; i < nq; ++i) {
        for (int64_t s = 0; s < S; ++s) {
          double b = 0;
          for (int64_t c = 0; c < d; ++c) b += std::fabs(q[i * d + c] * k[s * ks + c]) * 0.125;
          ASSERT_LE(std::fabs(sc[i * S + s] - ref_s[i * S + s]), 2.0 * d * kU * b + 1e-30) << IsaName(isa) << " score " << i << "," << s;
        }
        for (int64_t c = 0; c < d; ++c) {
          double b = 0;
          for (int64_t s = 0; s < S; ++s) b += std::fabs(p[i * S + s] * k[s * ks + c]);
          ASSERT_LE(std::fabs(o[i * d + c] - ref_o[i * d + c]), 2.0 * S * kU * b + 1e-30) << IsaName(isa) << " out " << i << "," << c;
        }
      }
    }
    SetIsaCap(prev);
  }
}

// The vector exp behind ExpShift (Attention's online softmax) and SwiGlu (Cephes expf's reduction
// and polynomial) is within 2 ulp of the exact value where it matters (x - max <= 0, -g); against
// the libm twin each element is within 4 ulp, the fp32 sum of n terms within (4 + n) 2u, and
// SwiGlu within ~8 ulp.
TEST(Kernels, ExpShiftAndSwiGluMatchScalarTwin) {
  std::mt19937 rng(51);
  std::normal_distribution<float> nd(0.f, 4.f);
  for (int64_t n : {1, 5, 16, 37, 300, 4096}) {
    std::vector<float> x(static_cast<size_t>(n)), g(x.size()), u(x.size());
    for (size_t i = 0; i < x.size(); ++i) x[i] = nd(rng), g[i] = nd(rng) * 3.f, u[i] = nd(rng);
    if (n > 4) x[3] = -200.f, g[2] = -120.f, g[4] = 95.f;  // underflow / overflow of e^-g
    const float m = *std::max_element(x.begin(), x.end());
    std::vector<float> ref = x, ref_sw(x.size());
    const Isa prev = SetIsaCap(Isa::kScalar);
    const float ref_sum = ExpShiftKernel(ref.data(), n, m);
    SwiGlu(g.data(), u.data(), n, ref_sw.data());
    for (Isa isa : SimdIsas()) {
      SetIsaCap(isa);
      std::vector<float> y = x, sw(x.size(), -1.f);
      const float sum = ExpShiftKernel(y.data(), n, m);
      SwiGlu(g.data(), u.data(), n, sw.data());
      ASSERT_LE(std::fabs(sum - ref_sum), (4.0 + n) * kU * 2 * ref_sum) << IsaName(isa) << " exp sum n=" << n;
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_LE(std::fabs(y[i] - ref[i]), 4.0 * kU * ref[i] + 1e-38) << IsaName(isa) << " exp n=" << n << " i=" << i;
        ASSERT_LE(std::fabs(sw[i] - ref_sw[i]), 8.0 * kU * std::fabs(ref_sw[i]) + 1e-38)
            << IsaName(isa) << " swiglu g=" << g[i] << " i=" << i;
      }
    }
    SetIsaCap(prev);
  }
  // exp itself against double precision on [-87, 0] and a few positive values.
  for (Isa isa : SimdIsas()) {
    const Isa prev = SetIsaCap(isa);
    std::vector<float> xs;
    for (float v = -87.f; v <= 10.f; v += 0.0137f) xs.push_back(v);
    const int64_t n = static_cast<int64_t>(xs.size());
    // e^v directly (ExpShift with m = 0), and through SwiGlu(g, 1): g / (1 + e^-g) at g = -v
    // gives -v / (1 + e^v).
    std::vector<float> e = xs;
    ExpShiftKernel(e.data(), static_cast<int64_t>(e.size()), 0.f);
    for (size_t i = 0; i < xs.size(); ++i) {
      const double want = std::exp(static_cast<double>(xs[i]));
      ASSERT_LE(std::fabs(e[i] - want), 4.0 * kU * want) << IsaName(isa) << " e^" << xs[i];
    }
    std::vector<float> one(xs.size(), 1.f), gneg(xs.size()), out(xs.size());
    for (int64_t i = 0; i < n; ++i) gneg[i] = -xs[i];
    SwiGlu(gneg.data(), one.data(), n, out.data());
    for (int64_t i = 0; i < n; ++i) {
      const double want = -static_cast<double>(xs[i]) / (1.0 + std::exp(static_cast<double>(xs[i])));
      ASSERT_LE(std::fabs(out[i] - want), 6.0 * kU * std::fabs(want) + 1e-38) << IsaName(isa) << " x=" << xs[i];
    }
    SetIsaCap(prev);
  }
}

// The online-softmax attention (kernels/ops.h Attention) against softmax(scale q.k) . v computed
// in double: each output is a convex combination of value rows, so its error is bounded by the
// relative errors of its weights (the vector exp, ~2 ulp; the fp32 dots, d u relative to
// sum|q k| times the score's effect e^.. ~ |score| u; the fp32 sums of up to S terms, S u) times
// sum_s p_s |v_s|: we allow (16 + 2 S + 2 d |scale q.k|max) u sum p |v|.
TEST(Kernels, OnlineAttentionMatchesDoubleSoftmax) {
  std::mt19937 rng(61);
  std::vector<float> scratch;
  for (auto [nq, dk, dv, S] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{6, 128, 128, 1}, {6, 128, 128, 63},
                               {8, 576, 512, 200}, {1, 64, 32, 65}, {3, 40, 40, 300}}) {
    const int64_t ks = dk + 8;
    auto q = RandomX(nq, dk, rng), k = RandomX(S, ks, rng), v2 = RandomX(S, ks, rng);
    const float scale = 1.f / std::sqrt(static_cast<float>(dk));
    for (bool same_kv : {false, true}) {  // MLA: the values are the first dv columns of the keys
      const float* v = same_kv ? k.data() : v2.data();
      for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
        if (isa > Cpu().max_isa) continue;
        const Isa prev = SetIsaCap(isa);
        std::vector<float> out(static_cast<size_t>(nq * dv), -1.f);
        Attention(q.data(), nq, dk, k.data(), ks, v, ks, S, dk, dv, scale, out.data(), dv, &scratch);
        SetIsaCap(prev);
        for (int64_t i = 0; i < nq; ++i) {
          std::vector<double> sc(static_cast<size_t>(S));
          double m = -1e300, smax = 0;
          for (int64_t s = 0; s < S; ++s) {
            double d = 0;
            for (int64_t c = 0; c < dk; ++c) d += static_cast<double>(q[i * dk + c]) * k[s * ks + c];
            sc[s] = d * scale;
            m = std::max(m, sc[s]);
            smax = std::max(smax, std::fabs(sc[s]));
          }
          double z = 0;
          for (auto& e : sc) z += (e = std::exp(e - m));
          for (int64_t c = 0; c < dv; ++c) {
            double want = 0, mag = 0;
            for (int64_t s = 0; s < S; ++s) want += sc[s] / z * v[s * ks + c], mag += sc[s] / z * std::fabs(v[s * ks + c]);
            const double tol = (16.0 + 2.0 * S + 2.0 * dk * smax) * kU * mag + 1e-30;
            ASSERT_LE(std::fabs(out[i * dv + c] - want), tol)
                << IsaName(isa) << " nq=" << nq << " dk=" << dk << " S=" << S << " i=" << i << " c=" << c;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace qs
