// qiusuo train: trains a DeepSeek-V3-architecture model (MLA, DeepSeekMoE, MTP) from scratch on
// a JSONL corpus and writes a Hugging Face directory the engine loads (docs/TRAINING.md).
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/thread_pool.h"
#include "cli/command.h"
#include "cli/common.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"
#include "train/corpus.h"
#include "train/trainer.h"

namespace qs::cli {
namespace {

namespace fs = std::filesystem;

struct Opts {
  std::string data, val, tokenizer, out;
  bool resume = false;
  int threads = 0;
  train::Dims dims;
  train::TrainOpts t;
  int64_t steps_flag = 0;
};

nlohmann::json OptionsJson(const train::TrainOpts& t) {
  return {{"steps", t.steps},           {"batch", t.batch},
          {"seq", t.seq},               {"seed", t.seed},
          {"lr", t.optim.lr},           {"min_lr_ratio", t.optim.min_lr_ratio},
          {"warmup", t.optim.warmup},   {"weight_decay", t.optim.weight_decay},
          {"clip", t.optim.clip},       {"bias_gamma", t.optim.bias_gamma},
          {"mtp_lambda", t.loss.mtp_lambda}, {"balance_alpha", t.loss.balance_alpha}};
}

void ApplyOptionsJson(const nlohmann::json& j, train::TrainOpts* t) {
  t->steps = j.value("steps", t->steps);
  t->batch = j.value("batch", t->batch);
  t->seq = j.value("seq", t->seq);
  t->seed = j.value("seed", t->seed);
  t->optim.lr = j.value("lr", t->optim.lr);
  t->optim.min_lr_ratio = j.value("min_lr_ratio", t->optim.min_lr_ratio);
  t->optim.warmup = j.value("warmup", t->optim.warmup);
  t->optim.weight_decay = j.value("weight_decay", t->optim.weight_decay);
  t->optim.clip = j.value("clip", t->optim.clip);
  t->optim.bias_gamma = j.value("bias_gamma", t->optim.bias_gamma);
  t->loss.mtp_lambda = j.value("mtp_lambda", t->loss.mtp_lambda);
  t->loss.balance_alpha = j.value("balance_alpha", t->loss.balance_alpha);
}

int Run(Opts o) {
  if (o.out.empty()) return Fail(InvalidArgument("--out is required"));
  // Every step allocates the same activation buffers again; keep freed blocks in the heap (glibc
  // would return large ones to the OS and fault them back in, zeroed, each step: ~30% of a step).
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  ThreadPool pool(Threads(o.threads));
  const std::string tok_dir = o.tokenizer.empty() ? o.out : o.tokenizer;
  auto tok = Tokenizer::Load(tok_dir);
  if (!tok.ok()) return Fail(tok.status());

  ModelConfig cfg;
  train::TrainState state;
  std::vector<float> w;
  if (o.resume) {
    auto c = train::ReadTrainConfig(o.out);
    if (!c.ok()) return Fail(c.status());
    cfg = *c;
    Status st = train::LoadTrainState(o.out, train::BuildLayout(cfg).total, &state);
    if (!st.ok()) return Fail(st);
    ApplyOptionsJson(nlohmann::json::parse(state.options_json), &o.t);
    if (o.steps_flag > 0) o.t.steps = o.steps_flag;
  } else {
    if (o.steps_flag > 0) o.t.steps = o.steps_flag;
    o.dims.vocab = static_cast<int64_t>((*tok)->vocab_size());
    o.dims.max_pos = std::max<int64_t>(o.dims.max_pos, o.t.seq);
    cfg = train::MakeTrainConfig(o.dims);
    cfg.bos_token_id = (*tok)->bos_id();
    cfg.eos_token_id = (*tok)->eos_id();
    Status st = train::CheckTrainConfig(cfg);
    if (!st.ok()) return Fail(st);
  }
  if (o.t.batch < 1 || o.t.seq < 3 || o.t.steps < 1) return Fail(InvalidArgument("--batch >= 1, --seq >= 3, --steps >= 1"));
  if (static_cast<int64_t>((*tok)->vocab_size()) > cfg.vocab_size)
    return Fail(InvalidArgument(tok_dir + ": the tokenizer has more tokens than the model's vocab_size"));

  {
    // Refuse sizes that cannot fit before allocating them (bad flags must not crash): the weights
    // with gradients and two AdamW moments, and the attention probabilities every layer keeps
    // for the backward [B, H, S, S].
    const double params = static_cast<double>(train::BuildLayout(cfg).total);
    const double attn = static_cast<double>(cfg.num_hidden_layers + cfg.num_nextn_predict_layers) *
                        static_cast<double>(o.t.batch) * static_cast<double>(cfg.num_attention_heads) *
                        static_cast<double>(o.t.seq) * static_cast<double>(o.t.seq);
    if (params * 16 > 64e9 || attn * 4 > 64e9 || static_cast<double>(o.t.batch * o.t.seq) * static_cast<double>(cfg.vocab_size) * 8 > 64e9)
      return Fail(InvalidArgument("train: these dims need more than 64 GB (" + std::to_string(static_cast<int64_t>(params)) +
                                  " parameters; attention keeps layers x batch x heads x seq^2 floats): reduce them"));
  }
  train::Net<float> net(cfg, o.t.loss);
  if (o.resume) {
    Status st = train::LoadModelParams(net.layout(), o.out, &net.weights());
    if (!st.ok()) return Fail(st);
  } else {
    train::InitParams(net.layout(), o.t.seed, &net.weights());
    state.m.assign(net.weights().size(), 0.f);
    state.v.assign(net.weights().size(), 0.f);
  }
  auto load = [&](const std::string& path) -> Result<std::vector<int32_t>> {
    QS_ASSIGN_OR_RETURN(auto texts, train::ReadJsonlTexts(path));
    return train::TokenizeTexts(**tok, texts, &pool);
  };
  auto stream = load(o.data);
  if (!stream.ok()) return Fail(stream.status());
  std::vector<int32_t> val;
  if (!o.val.empty()) {
    auto v = load(o.val);
    if (!v.ok()) return Fail(v.status());
    val = std::move(*v);
  }
  std::fprintf(stderr, "train: %ld params, %zu training tokens, %zu held-out tokens, steps %ld..%ld of %ld x %ld tokens\n",
               static_cast<long>(net.layout().total), stream->size(), val.size(), static_cast<long>(state.step),
               static_cast<long>(o.t.steps), static_cast<long>(o.t.batch), static_cast<long>(o.t.seq));
  const double flops = train::TrainFlopsPerToken(cfg, net.layout(), o.t.seq);
  std::fprintf(stderr, "train: %.1f MFLOP per token (forward + backward)\n", flops / 1e6);
  o.t.out_dir = o.out;
  auto save = [&](int64_t step, int64_t tokens) -> Status {
    QS_RETURN_IF_ERROR(train::SaveModel(cfg, net.layout(), net.weights(), o.out));
    state.step = step;
    state.tokens_seen = tokens;
    state.options_json = OptionsJson(o.t).dump();
    QS_RETURN_IF_ERROR(train::SaveTrainState(state, o.out));
    if (fs::absolute(tok_dir) != fs::absolute(o.out))
      for (const char* n : {"tokenizer.json", "tokenizer_config.json"}) {
        std::error_code ec;
        if (fs::exists(fs::path(tok_dir) / n))
          fs::copy_file(fs::path(tok_dir) / n, fs::path(o.out) / n, fs::copy_options::overwrite_existing, ec);
        if (ec) return IoError(std::string(n) + ": " + ec.message());
      }
    return Status::Ok();
  };
  train::TrainReport rep;
  Status st = train::Train(net, o.t, *stream, val, state.step, state.tokens_seen, &state.m, &state.v, save, &pool, &rep);
  if (!st.ok()) return Fail(st);
  std::printf("trained %ld steps: loss %.4f -> %.4f, %.0f tokens/s (%.2f GFLOP/s)\n", static_cast<long>(rep.steps_run),
              rep.first_loss, rep.last_loss, rep.tokens_per_s, rep.tokens_per_s * flops / 1e9);
  if (rep.val_main >= 0) std::printf("held-out: main %.4f  mtp %.4f\n", rep.val_main, rep.val_mtp);
  return 0;
}

}  // namespace

QS_COMMAND(train, "train", "train a small DeepSeek-V3-architecture model (MLA, MoE, MTP) on a JSONL corpus",
           [](CLI::App* app) {
  auto o = std::make_shared<Opts>();
  app->add_option("--data", o->data, "training corpus: JSONL, one {\"text\": ...} per line")->required();
  app->add_option("--val", o->val, "held-out corpus (same format)");
  app->add_option("--tokenizer", o->tokenizer, "tokenizer directory (default: --out, when resuming)");
  app->add_option("--out", o->out, "output directory (HF checkpoint + train state)")->required();
  app->add_flag("--resume", o->resume, "continue the run saved in --out (its options; --steps may extend it)");
  app->add_option("--threads,-t", o->threads, "threads (default: all cores)");
  auto& d = o->dims;
  app->add_option("--hidden", d.hidden, "hidden size");
  app->add_option("--layers", d.layers, "decoder layers (MTP module not counted)");
  app->add_option("--heads", d.heads, "attention heads");
  app->add_option("--q-lora", d.q_lora, "q_lora_rank (0: plain q_proj)");
  app->add_option("--kv-lora", d.kv_lora, "kv_lora_rank");
  app->add_option("--nope-dim", d.nope, "qk_nope_head_dim");
  app->add_option("--rope-dim", d.rope, "qk_rope_head_dim");
  app->add_option("--v-dim", d.v_dim, "v_head_dim");
  app->add_option("--inter", d.inter, "dense FFN intermediate size");
  app->add_option("--moe-inter", d.moe_inter, "expert intermediate size");
  app->add_option("--experts", d.experts, "routed experts (0: every layer dense)");
  app->add_option("--shared-experts", d.shared, "shared experts");
  app->add_option("--topk", d.topk, "experts per token");
  app->add_option("--dense-layers", d.dense_layers, "first_k_dense_replace");
  app->add_option("--mtp", d.mtp, "MTP modules (0 or 1)");
  auto& t = o->t;
  app->add_option("--steps", o->steps_flag, "optimizer steps");
  app->add_option("--batch", t.batch, "sequences per step");
  app->add_option("--seq", t.seq, "tokens per sequence");
  app->add_option("--seed", t.seed, "seed (initial weights and batch order)");
  app->add_option("--lr", t.optim.lr, "peak learning rate");
  app->add_option("--min-lr-ratio", t.optim.min_lr_ratio, "final lr / peak lr (cosine)");
  app->add_option("--warmup", t.optim.warmup, "warm-up steps");
  app->add_option("--weight-decay", t.optim.weight_decay, "AdamW weight decay (matrices)");
  app->add_option("--clip", t.optim.clip, "gradient global-norm clip (0: none)");
  app->add_option("--bias-gamma", t.optim.bias_gamma, "router bias update speed");
  app->add_option("--mtp-lambda", t.loss.mtp_lambda, "MTP loss weight");
  app->add_option("--balance-alpha", t.loss.balance_alpha, "sequence-wise balance loss weight");
  app->add_option("--log-every", t.log_every, "steps between progress lines");
  app->add_option("--save-every", t.save_every, "steps between checkpoints (0: only at the end)");
  app->add_option("--eval-every", t.eval_every, "steps between held-out evaluations (0: only at the end with --val)");
  app->add_option("--eval-batches", t.eval_batches, "held-out batches per evaluation");
  return [o] {
    if (o->t.eval_every == 0 && !o->val.empty()) o->t.eval_every = std::max<int64_t>(o->steps_flag, 1);
    return Run(*o);
  };
});

}  // namespace qs::cli
