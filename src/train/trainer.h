// The training loop: batches of random windows from a token stream (the window of step s depends
// only on the seed and s, so a resumed run draws exactly the batches an uninterrupted one would),
// AdamW with warm-up and cosine decay, global-norm clipping, the router-bias update after each
// step, a progress line, periodic checkpoints that resume bit for bit.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "train/net.h"

namespace qs::train {

struct OptimOpts {
  double lr = 1e-3, min_lr_ratio = 0.1, beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1, clip = 1.0;
  int64_t warmup = 100;
  double bias_gamma = 1e-3;  // router correction-bias update speed γ (V3: 0.001)
};

// lr at step s (0-based) of `total`: linear warm-up, cosine decay to lr * min_lr_ratio.
double LearningRate(const OptimOpts& o, int64_t step, int64_t total);

// One AdamW update (Loshchilov & Hutter; decay decoupled, matrices only) on the trainable params
// of L after clipping the gradient's global norm to o.clip. Returns the norm before clipping.
double AdamWStep(const OptimOpts& o, const Layout& L, int64_t step, double lr, std::vector<float>* w,
                 std::vector<float>* g, std::vector<float>* m, std::vector<float>* v, ThreadPool* pool);

struct TrainOpts {
  int64_t steps = 100, batch = 8, seq = 128;
  uint64_t seed = 1;
  int64_t log_every = 10, save_every = 0, eval_every = 0, eval_batches = 8;
  std::string out_dir;
  OptimOpts optim;
  LossOpts loss;
};

struct TrainReport {
  double first_loss = 0, last_loss = 0, val_main = -1, val_mtp = -1;
  double tokens_per_s = 0;
  int64_t steps_run = 0;
};

// The B windows of S tokens for step `step` (deterministic in seed and step).
void SampleBatch(const std::vector<int32_t>& stream, int64_t B, int64_t S, uint64_t seed, int64_t step,
                 std::vector<int32_t>* out);

// Mean held-out losses (main, MTP) over `batches` fixed windows of `val`.
LossParts Evaluate(Net<float>& net, const std::vector<int32_t>& val, int64_t B, int64_t S, int64_t batches,
                   ThreadPool* pool);

// Trains net from start_step to o.steps (or to stop_at when 0 < stop_at < o.steps: the same
// schedule, interrupted). `save` is called at checkpoints and at the end with the current step.
// `log` receives each progress line (stderr by default).
Status Train(Net<float>& net, const TrainOpts& o, const std::vector<int32_t>& stream, const std::vector<int32_t>& val,
             int64_t start_step, int64_t start_tokens, std::vector<float>* m, std::vector<float>* v,
             const std::function<Status(int64_t step, int64_t tokens)>& save, ThreadPool* pool, TrainReport* rep,
             const std::function<void(const std::string&)>& log = nullptr, int64_t stop_at = 0);

}  // namespace qs::train
