// The trainer end to end: its parameters are the engine's tensor walk, its checkpoints load in
// the engine with the same logits (main and MTP), training lowers the loss, runs are deterministic
// across thread counts and across a save / resume, and gradients agree with PyTorch autograd.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "convert/synth.h"
#include "io/safetensors.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "testutil.h"
#include "train/checkpoint.h"
#include "train/trainer.h"
#include "train_util.h"

namespace qs::train {
namespace {

using test::TinyConfig;

std::vector<int32_t> PatternTokens(int64_t n, int64_t V) {
  // A learnable stream: short repeating phrases with a little variety.
  std::vector<int32_t> t;
  for (int64_t i = 0; static_cast<int64_t>(t.size()) < n; ++i) {
    const int32_t a = static_cast<int32_t>(2 + (i % 5)), b = static_cast<int32_t>(2 + ((i * 3) % 7) % (V - 2));
    for (int32_t x : {a, b, static_cast<int32_t>((a + b) % V), static_cast<int32_t>(1)}) t.push_back(x);
  }
  t.resize(static_cast<size_t>(n));
  return t;
}

ModelConfig SmallConfig() {
  Dims d;
  d.vocab = 32;
  d.hidden = 32;
  d.layers = 2;
  d.heads = 2;
  d.q_lora = 16;
  d.kv_lora = 16;
  d.nope = 8;
  d.rope = 8;
  d.v_dim = 8;
  d.inter = 64;
  d.moe_inter = 16;
  d.experts = 4;
  d.shared = 1;
  d.topk = 2;
  d.dense_layers = 1;
  d.max_pos = 64;
  return MakeTrainConfig(d);
}

TEST(Train, ParametersAreTheEngineTensorWalk) {
  for (ModelConfig c : {TinyConfig(), SmallConfig()}) {
    auto specs = CheckpointTensorSpecs(c);
    ASSERT_TRUE(specs.ok()) << specs.status().message();
    std::map<std::string, Shape> engine;
    for (const auto& s : *specs) engine[s.name] = s.shape;
    const Layout L = BuildLayout(c);
    std::map<std::string, Shape> ours;
    for (const auto& p : L.params) ours[p.name] = p.shape;
    // The checkpoint adds the MTP module's copies of the shared embedding and head.
    const std::string m = "model.layers." + std::to_string(c.num_hidden_layers) + ".";
    ours[m + "embed_tokens.weight"] = {c.vocab_size, c.hidden_size};
    ours[m + "shared_head.head.weight"] = {c.vocab_size, c.hidden_size};
    EXPECT_EQ(ours, engine);
  }
}

TEST(Train, CheckpointLoadsInTheEngineWithTheSameLogits) {
  const ModelConfig c = SmallConfig();
  Net<float> net(c, LossOpts{});
  InitParams(net.layout(), 3, &net.weights());
  for (auto& v : net.weights()) v *= 10.f;  // logits well away from uniform
  // Router biases that matter for the selection.
  for (const auto& p : net.layout().params)
    if (!p.trainable)
      for (int64_t i = 0; i < p.size; ++i) net.weights()[static_cast<size_t>(p.offset + i)] = 0.01f * static_cast<float>(i % 3);
  const std::string dir = qs::test::TempDir("train_ckpt");
  ASSERT_TRUE(SaveModel(c, net.layout(), net.weights(), dir).ok());
  const std::vector<int32_t> tok = {0, 5, 9, 3, 3, 17, 30, 1, 2, 8, 4};
  const int64_t S = static_cast<int64_t>(tok.size()), V = c.vocab_size, D = c.hidden_size;
  std::vector<float> ours, ours_mtp;
  net.Step(tok.data(), 1, S, false, nullptr, &ours, &ours_mtp);

  // In the engine: main logits, then the MTP head over the final-norm hidden states.
  auto model = LoadModel(dir);
  ASSERT_TRUE(model.ok()) << model.status().message();
  ThreadPool pool(2);
  auto cache = (*model)->NewCache(S);
  std::vector<float> logits(static_cast<size_t>(S * V));
  ForwardTrace tr;
  tr.record_final_hidden = true;
  ASSERT_TRUE((*model)->Forward(tok.data(), S, cache.get(), logits.data(), &pool, &tr).ok());
  float dmax = 0, scale = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    dmax = std::max(dmax, std::abs(logits[i] - ours[i]));
    scale = std::max(scale, std::abs(ours[i]));
  }
  EXPECT_GT(scale, 0.5f);
  EXPECT_LT(dmax, 2e-4f * std::max(1.f, scale)) << "main logits: engine vs trainer";
  ASSERT_EQ((*model)->mtp_modules(), 1);
  auto mcache = (*model)->NewMtpCache(S);
  std::vector<float> mtp(static_cast<size_t>((S - 1) * V));
  ASSERT_TRUE((*model)->ForwardMtp(tr.final_hidden.data(), &tok[1], S - 1, mcache.get(), mtp.data(), &pool).ok());
  float dm = 0;
  for (size_t i = 0; i < mtp.size(); ++i) dm = std::max(dm, std::abs(mtp[i] - ours_mtp[i]));
  EXPECT_LT(dm, 2e-4f * std::max(1.f, scale)) << "MTP logits: engine vs trainer";
  (void)D;

  // And through the CLI: `qiusuo logits` on the checkpoint.
  std::string ids, out;
  for (size_t i = 0; i < tok.size(); ++i) ids += (i ? "," : "") + std::to_string(tok[i]);
  const std::string f = dir + "/logits.bin";
  ASSERT_EQ(qs::test::RunCommand(qs::test::QiusuoBin() + " logits --model " + dir + " --tokens " + ids + " --out " + f, &out), 0) << out;
  auto cli = qs::test::ReadF32File(f);
  ASSERT_EQ(cli.size(), ours.size());
  float dc = 0;
  for (size_t i = 0; i < cli.size(); ++i) dc = std::max(dc, std::abs(cli[i] - ours[i]));
  EXPECT_LT(dc, 2e-4f * std::max(1.f, scale)) << "qiusuo logits vs trainer";
}

TEST(Train, StepsReduceTheLossAndBalanceTheExperts) {
  const ModelConfig c = SmallConfig();
  Net<float> net(c, LossOpts{});
  TrainOpts o;
  o.steps = 60;
  o.batch = 4;
  o.seq = 16;
  o.log_every = 0;
  o.optim.lr = 3e-3;
  o.optim.warmup = 5;
  InitParams(net.layout(), o.seed, &net.weights());
  std::vector<float> m(net.weights().size(), 0.f), v(m.size(), 0.f);
  const auto stream = PatternTokens(4000, c.vocab_size);
  ThreadPool pool(2);
  TrainReport rep;
  ASSERT_TRUE(Train(net, o, stream, {}, 0, 0, &m, &v, nullptr, &pool, &rep).ok());
  EXPECT_EQ(rep.steps_run, 60);
  EXPECT_LT(rep.last_loss, 0.6 * rep.first_loss) << rep.first_loss << " -> " << rep.last_loss;
  EXPECT_NEAR(rep.first_loss, std::log(static_cast<double>(c.vocab_size)), 0.3);  // starts near uniform
  // The bias moved: the aux-loss-free update ran.
  double moved = 0;
  for (const auto& p : net.layout().params)
    if (!p.trainable)
      for (int64_t i = 0; i < p.size; ++i) moved += std::abs(net.weights()[static_cast<size_t>(p.offset + i)]);
  EXPECT_GT(moved, 0);
}

TEST(Train, DeterministicAcrossThreadsAndResume) {
  const ModelConfig c = SmallConfig();
  TrainOpts o;
  o.steps = 8;
  o.batch = 2;
  o.seq = 12;
  o.log_every = 0;
  o.optim.warmup = 2;
  const auto stream = PatternTokens(2000, c.vocab_size);
  const std::string ckpt = qs::test::TempDir("train_resume");
  // threads; stop_at > 0: stop there and save the state to ckpt; resume: start from ckpt.
  auto run = [&](int threads, int64_t stop_at, bool resume) {
    Net<float> net(c, LossOpts{});
    std::vector<float> m, v;
    int64_t start = 0;
    if (!resume) {
      InitParams(net.layout(), o.seed, &net.weights());
      m.assign(net.weights().size(), 0.f);
      v.assign(m.size(), 0.f);
    } else {
      EXPECT_TRUE(LoadModelParams(net.layout(), ckpt, &net.weights()).ok());
      TrainState st;
      EXPECT_TRUE(LoadTrainState(ckpt, net.layout().total, &st).ok());
      start = st.step;
      m = st.m;
      v = st.v;
    }
    ThreadPool pool(threads);
    TrainOpts oo = o;
    auto save = [&](int64_t step, int64_t tokens) -> Status {
      QS_RETURN_IF_ERROR(SaveModel(c, net.layout(), net.weights(), ckpt));
      return SaveTrainState(TrainState{step, tokens, m, v, "{}"}, ckpt);
    };
    // The schedule is that of the full run (o.steps); the partial run stops early.
    EXPECT_TRUE(Train(net, oo, stream, {}, start, 0, &m, &v, nullptr, &pool, nullptr, nullptr, stop_at).ok());
    if (stop_at > 0) {
      EXPECT_TRUE(save(stop_at, 0).ok());
    }
    return net.weights();
  };
  const auto one = run(1, 0, false);
  const auto two = run(2, 0, false);
  EXPECT_EQ(one, two) << "results depend on the thread count";
  run(2, 5, false);
  const auto resumed = run(2, 0, true);
  EXPECT_EQ(resumed, one) << "a resumed run differs from an uninterrupted one";
}

// PyTorch autograd as the oracle (tests/train/torch_oracle.py rebuilds the model from the
// safetensors in float64): the float trainer's loss and every gradient tensor agree to a
// relative error of 1e-4 (fp32 accumulation over sums of <= a few hundred terms: ~1e-6 per
// operation, amplified by the chain of ~30 operations; measured ~1e-6..1e-5).
TEST(Train, GradientsMatchPytorchAutograd) {
  std::string out;
  if (qs::test::RunCommand("/usr/bin/python3 -c 'import torch' 2>&1", &out) != 0)
    GTEST_SKIP() << "/usr/bin/python3 has no torch (Debian python3-torch): " << out;
  const ModelConfig c = SmallConfig();
  LossOpts lo;
  lo.mtp_lambda = 0.3;
  lo.balance_alpha = 0.01;
  Net<float> net(c, lo);
  InitParams(net.layout(), 5, &net.weights());
  for (auto& v : net.weights()) v *= 4.f;  // logits of a few units: every path carries gradient
  for (const auto& p : net.layout().params)
    if (!p.trainable)
      for (int64_t i = 0; i < p.size; ++i) net.weights()[static_cast<size_t>(p.offset + i)] = 0.02f * static_cast<float>((i * 7) % 5);
  const std::string dir = qs::test::TempDir("train_torch");
  ASSERT_TRUE(SaveModel(c, net.layout(), net.weights(), dir).ok());
  const int64_t B = 2, S = 9;
  std::vector<int32_t> tok(static_cast<size_t>(B * S));
  for (size_t i = 0; i < tok.size(); ++i) tok[i] = static_cast<int32_t>((i * 11 + 4) % c.vocab_size);
  std::string ids;
  for (size_t i = 0; i < tok.size(); ++i) ids += (i ? "," : "") + std::to_string(tok[i]);
  std::fill(net.grads().begin(), net.grads().end(), 0.f);
  const LossParts lp = net.Step(tok.data(), B, S, true, nullptr);
  const std::string cmd = "/usr/bin/python3 " + std::string(QS_TRAIN_TEST_DIR) + "/torch_oracle.py --model " + dir +
                          " --tokens " + ids + " --batch " + std::to_string(B) + " --mtp-lambda 0.3 --balance-alpha 0.01 --out " +
                          dir + "/torch_grads.safetensors";
  ASSERT_EQ(qs::test::RunCommand(cmd, &out), 0) << out;
  auto f = SafetensorsFile::Open(dir + "/torch_grads.safetensors");
  ASSERT_TRUE(f.ok()) << f.status().message();
  const TensorView* loss = (*f)->Find("loss");
  ASSERT_NE(loss, nullptr);
  const double tl = reinterpret_cast<const double*>(loss->data)[0];
  EXPECT_NEAR(lp.total, tl, 1e-5 * std::abs(tl)) << "loss";
  int compared = 0;
  double worst = 0;
  std::string worst_name;
  for (const auto& p : net.layout().params) {
    if (!p.trainable) continue;
    const TensorView* t = (*f)->Find(p.name);
    ASSERT_NE(t, nullptr) << p.name;
    ASSERT_EQ(t->numel(), p.size) << p.name;
    const double* ref = reinterpret_cast<const double*>(t->data);
    double num = 0, den = 0;
    for (int64_t i = 0; i < p.size; ++i) {
      const double e = net.grads()[static_cast<size_t>(p.offset + i)] - ref[i];
      num += e * e;
      den += ref[i] * ref[i];
    }
    if (den == 0) continue;
    EXPECT_LT(std::sqrt(num / den), 1e-4) << p.name;
    if (std::sqrt(num / den) > worst) {
      worst = std::sqrt(num / den);
      worst_name = p.name;
    }
    ++compared;
  }
  EXPECT_GT(compared, 40);
  std::printf("[torch] loss %.8f vs %.8f; worst relative gradient error over %d tensors: %.2e (%s)\n", lp.total,
              tl, compared, worst, worst_name.c_str());
}

}  // namespace
}  // namespace qs::train
