// Speculative decoding (Leviathan et al. 2023, "Fast Inference from Transformers via Speculative
// Decoding"; Chen et al. 2023): a cheap drafter proposes k tokens, the main model scores the
// pending token and the k drafts in ONE batched forward (k + 1 rows, so every weight is read once
// for all of them), the longest prefix of drafts the main model agrees with is kept together with
// the main model's own next token, and the caches are rolled back past the rejected drafts.
//
// Two drafters:
//  * DeepSeek's multi-token-prediction module (Model::ForwardMtp; V3 report §2.2). Its row i needs
//    the main model's final-norm output h_i and t_{i+1}, so it lags the main sequence by one
//    position; after the main model verified a step, the MTP catches up over the accepted rows (one
//    call) and its last row gives the first draft. Drafts 2..k chain the same module on its own
//    output (shared_head.norm(y) fed back as h, as SGLang and vLLM >= #45895 do; the fixture README
//    deepseek-mtp-golden "Disagreements" records the alternatives). Chained rows are provisional:
//    they are dropped after verification and recomputed from the main model's real hidden states.
//  * A separate small model with the same vocabulary (--draft-model), run token by token on its own
//    KV cache; its rows for accepted drafts stay valid, so rollback is a truncation.
//
// Drafts are greedy (the drafter's argmax), i.e. the draft distribution q is one-hot. The
// scheduler's verification (scheduler.cc) then keeps the output distribution exactly the main
// model's: greedy requests take the main model's argmax at every row (identical tokens to plain
// decoding); sampled requests accept draft d with probability min(1, p(d)/q(d)) = p(d) and on
// rejection draw from the normalised residual max(0, p - q), which is p without d (VerifyDraft).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/model.h"
#include "runtime/sampler.h"

namespace qs {

class ThreadPool;

struct SpecOptions {
  int tokens = 0;           // drafts per step (k); 0: speculation off
  std::string draft_model;  // a model directory / GGUF to draft with; empty: the MTP module
};

// Most drafts per step (a longer chain of one MTP module is rarely accepted; bounded activations).
constexpr int kMaxSpecTokens = 8;

// One sequence's drafter state (one per scheduler slot).
class DraftState {
 public:
  virtual ~DraftState() = default;
  // Forgets the sequence (a new request without a prefix-cache hit).
  virtual void Clear() = 0;
  // The main model ran positions [pos0, pos0 + n); `hidden` their final-norm outputs [n, hidden]
  // (when Drafter::wants_hidden). `known`: every token of the sequence known so far (cached or not
  // yet fed), for drafters that may catch up on rows whose next token is known.
  virtual Status Observe(const std::vector<int32_t>& known, int64_t pos0, const float* hidden, int64_t n,
                         ThreadPool* pool) = 0;
  // Brings the drafter's own rows up to date with every known token but the last (the prompt is
  // done: its rows are about to go into the prefix cache). No-op for drafters without a lag.
  virtual Status Settle(const std::vector<int32_t>& known, ThreadPool* pool) { return Status::Ok(); }
  // Proposes up to k drafts after `tokens` (the main cache holds tokens.size() - 1 positions; the
  // last token is the pending one). Fewer (none) when the state cannot draft.
  virtual Status Propose(const std::vector<int32_t>& tokens, int k, std::vector<int32_t>* drafts,
                         ThreadPool* pool) = 0;
  // The main cache now holds n positions: drop provisional rows and rows past n.
  virtual void Rollback(int64_t n) = 0;
  // Rows to keep in the prefix cache beside the main rows (null: the drafter rebuilds its own
  // state from the tokens) and how many positions they lag the main rows by.
  virtual KvCache* prefix_rows() { return nullptr; }
  virtual int64_t prefix_lag() const { return 0; }
  // prefix_rows() now holds n rows copied from the prefix cache for the first n positions.
  virtual void Restored(int64_t n) { (void)n; }
};

class Drafter {
 public:
  virtual ~Drafter() = default;
  virtual std::unique_ptr<DraftState> NewState(int64_t ctx) = 0;
  // Observe needs the main model's final hidden states (SeqChunk::hidden).
  virtual bool wants_hidden() const = 0;
  virtual std::string name() const = 0;  // "mtp" or "draft model"

  // The main model's own MTP module (an error when none is loaded).
  static Result<std::unique_ptr<Drafter>> Mtp(Model* main);
  // A separate model; its vocabulary must be the main one's (same size; the tokenizers are the
  // caller's to compare when it has them).
  static Result<std::unique_ptr<Drafter>> DraftModel(Model* main, Model* draft);
};

// Outcome of verifying one row against a draft (sampled requests).
struct DraftVerdict {
  bool accepted = false;
  int32_t token = -1;  // the draft when accepted, else the token drawn from the residual
};

// The speculative-sampling rule for a one-hot draft q = δ(draft) against the target distribution
// p (the sampler's distribution after temperature and truncation): accept with probability
// min(1, p(draft) / q(draft)) = p(draft); otherwise draw from normalise(max(0, p - q)), which is p
// with the draft removed. The marginal of the returned token is exactly p.
DraftVerdict VerifyDraft(Sampler* sampler, const TokenDist& p, int32_t draft);

// Expected tokens per verification step with k drafts when each draft is accepted with
// probability a independently of the others: 1 + a + a^2 + ... + a^k.
double ExpectedTokensPerStep(double a, int k);

}  // namespace qs
