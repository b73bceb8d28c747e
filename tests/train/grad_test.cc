// Gradients of every block and of a whole tiny model against central finite differences in
// double precision (the trainer's math is templated on the scalar; training runs it in float).
#include <gtest/gtest.h>

#include <random>

#include "train/mla_grad.h"
#include "train/moe_grad.h"
#include "train/net.h"
#include "train_util.h"

namespace qs::train {
namespace {

using test::CheckFd;
using test::TinyConfig;

std::vector<double> Rand(size_t n, uint32_t seed, double scale = 1.0) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> v(n);
  for (auto& x : v) x = u(g) * scale;
  return v;
}

// Weights drawn larger than at initialisation (std 0.02 would leave the tiny blocks nearly
// linear) and router biases that actually change the selection.
std::vector<double> TestWeights(const ModelConfig& c, const Layout& L) {
  std::vector<double> w;
  InitParams(L, 7, &w);
  for (const ParamInfo& p : L.params) {
    double* d = w.data() + p.offset;
    if (p.init == ParamInfo::kNormal)
      for (int64_t i = 0; i < p.size; ++i) d[i] *= 20.0;
    else if (p.init == ParamInfo::kOnes)
      for (int64_t i = 0; i < p.size; ++i) d[i] = 1.0 + 0.3 * std::sin(static_cast<double>(i + p.offset));
    else if (!p.trainable)
      for (int64_t i = 0; i < p.size; ++i) d[i] = 0.05 * std::cos(static_cast<double>(3 * i + 1));
  }
  (void)c;
  return w;
}

std::vector<int64_t> CoordsWithPrefix(const Layout& L, const std::string& prefix, int per) {
  std::vector<int64_t> c;
  for (const ParamInfo& p : L.params)
    if (p.trainable && p.name.rfind(prefix, 0) == 0)
      for (int k = 0; k < per && k < p.size; ++k) c.push_back(p.offset + (k * 7919 + 13) % p.size);
  return c;
}

std::vector<int64_t> AllCoords(size_t n, int step) {
  std::vector<int64_t> c;
  for (size_t i = 0; i < n; i += static_cast<size_t>(step)) c.push_back(static_cast<int64_t>(i));
  return c;
}

TEST(TrainGrad, RmsNormMatchesFiniteDifferences) {
  const int64_t n = 7;
  auto x = Rand(n, 1), w = Rand(n, 2), R = Rand(n, 3);
  std::vector<double> y(n);
  auto f = [&] {
    RmsNormFwd(x.data(), w.data(), n, 1e-6, y.data());
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += y[i] * R[i];
    return s;
  };
  const double inv = RmsNormFwd(x.data(), w.data(), n, 1e-6, y.data());
  std::vector<double> dx(n, 0.0), dw(n, 0.0);
  RmsNormBack(x.data(), w.data(), inv, R.data(), n, dx.data(), dw.data());
  CheckFd(f, &x, dx, AllCoords(n, 1), "rmsnorm x");
  CheckFd(f, &w, dw, AllCoords(n, 1), "rmsnorm w");
}

TEST(TrainGrad, MlaBlockMatchesFiniteDifferences) {
  for (int64_t q_lora : {6, 0}) {
    Dims d;
    ModelConfig c = TinyConfig();
    c.q_lora_rank = q_lora;
    const Layout L = BuildLayout(c);
    auto w = TestWeights(c, L);
    const int64_t B = 2, S = 5, N = B * S, D = c.hidden_size;
    auto x = Rand(static_cast<size_t>(N * D), 11), R = Rand(static_cast<size_t>(N * D), 12);
    const auto s = MlaShape<double>::Of(c, B, S);
    const auto rope = MakeRopeTable<double>(c, S);
    const MlaOff& off = L.layers[0].mla;
    MlaAct<double> a;
    std::vector<double> out(static_cast<size_t>(N * D));
    auto f = [&] {
      MlaForward(s, off, w.data(), rope, x.data(), &a, out.data(), nullptr);
      double r = 0;
      for (size_t i = 0; i < out.size(); ++i) r += out[i] * R[i];
      return r;
    };
    f();
    std::vector<double> dx(x.size(), 0.0), g(w.size(), 0.0);
    MlaBackward(s, off, w.data(), rope, x.data(), a, R.data(), dx.data(), g.data(), nullptr);
    const std::string what = q_lora > 0 ? "MLA (q LoRA)" : "MLA (q_proj)";
    CheckFd(f, &w, g, CoordsWithPrefix(L, "model.layers.0.self_attn.", 6), what + " weights");
    CheckFd(f, &x, dx, AllCoords(x.size(), 3), what + " input");
  }
}

TEST(TrainGrad, DenseFfnMatchesFiniteDifferences) {
  const ModelConfig c = TinyConfig();
  const Layout L = BuildLayout(c);
  auto w = TestWeights(c, L);
  const int64_t N = 6, D = c.hidden_size;
  auto x = Rand(static_cast<size_t>(N * D), 21), R = Rand(static_cast<size_t>(N * D), 22);
  FfnAct<double> a;
  std::vector<double> out(x.size());
  auto f = [&] {
    FfnFwd(L.layers[0].dense, w.data(), x.data(), N, D, &a, out.data(), nullptr);
    double r = 0;
    for (size_t i = 0; i < out.size(); ++i) r += out[i] * R[i];
    return r;
  };
  f();
  std::vector<double> dx(x.size(), 0.0), g(w.size(), 0.0);
  FfnBack(L.layers[0].dense, w.data(), x.data(), N, D, a, R.data(), dx.data(), g.data(), nullptr);
  CheckFd(f, &w, g, CoordsWithPrefix(L, "model.layers.0.mlp.", 8), "dense FFN weights");
  CheckFd(f, &x, dx, AllCoords(x.size(), 1), "dense FFN input");
}

TEST(TrainGrad, MoeBlockMatchesFiniteDifferences) {
  const ModelConfig c = TinyConfig();
  const Layout L = BuildLayout(c);
  auto w = TestWeights(c, L);
  const int64_t B = 2, S = 5, N = B * S, D = c.hidden_size;
  auto x = Rand(static_cast<size_t>(N * D), 31), R = Rand(static_cast<size_t>(N * D), 32);
  // A balance weight large enough that its gradient is visible next to the output's.
  const MoeOpts mo{B, S, 0.5};
  const MoeOff& m = L.layers[1].moe_w;
  MoeAct<double> a;
  std::vector<double> out(x.size());
  auto f = [&] {
    MoeFwd(c, mo, m, w.data(), x.data(), &a, out.data(), nullptr);
    double r = a.bal_loss;
    for (size_t i = 0; i < out.size(); ++i) r += out[i] * R[i];
    return r;
  };
  f();
  int64_t used = 0;
  for (int64_t v : a.load) used += v > 0;
  EXPECT_GE(used, 3) << "the test input should reach most experts";
  std::vector<double> dx(x.size(), 0.0), g(w.size(), 0.0);
  MoeBack(c, mo, m, w.data(), x.data(), a, R.data(), dx.data(), g.data(), nullptr);
  CheckFd(f, &w, g, CoordsWithPrefix(L, "model.layers.1.mlp.", 6), "MoE weights");
  CheckFd(f, &x, dx, AllCoords(x.size(), 1), "MoE input");
}

TEST(TrainGrad, WholeModelWithMtpMatchesFiniteDifferences) {
  const ModelConfig c = TinyConfig();
  LossOpts lo;
  lo.mtp_lambda = 0.3;
  lo.balance_alpha = 0.05;
  Net<double> net(c, lo);
  net.weights() = TestWeights(c, net.layout());
  const int64_t B = 2, S = 6;
  std::vector<int32_t> tok(static_cast<size_t>(B * S));
  for (size_t i = 0; i < tok.size(); ++i) tok[i] = static_cast<int32_t>((i * 7 + 3) % c.vocab_size);
  std::fill(net.grads().begin(), net.grads().end(), 0.0);
  const LossParts lp = net.Step(tok.data(), B, S, true, nullptr);
  EXPECT_GT(lp.mtp, 0);
  EXPECT_GT(lp.balance, 0);
  const std::vector<double> g = net.grads();
  auto f = [&] { return net.Step(tok.data(), B, S, false, nullptr).total; };
  CheckFd(f, &net.weights(), g, test::SomeCoords(net.layout(), 3), "whole model", 1e-6, 1e-3 * lp.total);
  // The router bias is no parameter of the loss's gradient: it only selects.
  for (const ParamInfo& p : net.layout().params)
    if (!p.trainable)
      for (int64_t i = 0; i < p.size; ++i) EXPECT_EQ(g[static_cast<size_t>(p.offset + i)], 0.0) << p.name;
}

TEST(TrainGrad, FloatPathAgreesWithDouble) {
  const ModelConfig c = TinyConfig();
  Net<double> nd(c, LossOpts{});
  Net<float> nf(c, LossOpts{});
  nd.weights() = TestWeights(c, nd.layout());
  nf.weights().assign(nd.weights().begin(), nd.weights().end());
  const int64_t B = 2, S = 6;
  std::vector<int32_t> tok(static_cast<size_t>(B * S));
  for (size_t i = 0; i < tok.size(); ++i) tok[i] = static_cast<int32_t>((i * 5 + 1) % c.vocab_size);
  std::fill(nd.grads().begin(), nd.grads().end(), 0.0);
  std::fill(nf.grads().begin(), nf.grads().end(), 0.f);
  const double ld = nd.Step(tok.data(), B, S, true, nullptr).total;
  const double lf = nf.Step(tok.data(), B, S, true, nullptr).total;
  EXPECT_NEAR(lf, ld, 1e-5 * std::abs(ld));
  double num = 0, den = 0;
  for (size_t i = 0; i < nd.grads().size(); ++i) {
    const double e = nf.grads()[i] - nd.grads()[i];
    num += e * e;
    den += nd.grads()[i] * nd.grads()[i];
  }
  EXPECT_LT(std::sqrt(num / den), 1e-4);
}

}  // namespace
}  // namespace qs::train
