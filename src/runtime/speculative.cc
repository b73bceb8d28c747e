#include "runtime/speculative.h"

#include <algorithm>
#include <cmath>

#include "runtime/generator.h"

namespace qs {

namespace {

// MTP drafter state. Invariants: the MTP cache holds base_ real rows (rows 0..base_-1, each from
// the main model's h_p and t_{p+1}) plus, after Propose, k-1 provisional chained rows; hid_ holds
// the main model's final hidden states of positions base_ .. base_ + rows() - 1 whose MTP rows
// have not run yet (their next token was unknown, or Propose batches them into one call).
class MtpState final : public DraftState {
 public:
  MtpState(Model* m, int64_t ctx)
      : m_(m), D_(m->config().hidden_size), V_(m->config().vocab_size),
        cache_(m->NewMtpCache(ctx + kMaxSpecTokens + 1)) {
    tr_.record_final_hidden = true;
  }

  void Clear() override {
    cache_->Clear();
    hid_.clear();
    base_ = 0;
    broken_ = false;
  }

  Status Observe(const std::vector<int32_t>& known, int64_t pos0, const float* hidden, int64_t n,
                 ThreadPool* pool) override {
    if (broken_ || n <= 0) return Status::Ok();
    if (!hidden || pos0 != base_ + rows()) {  // out of step (never expected): stop drafting
      broken_ = true;
      return Status::Ok();
    }
    hid_.insert(hid_.end(), hidden, hidden + n * D_);
    // A long prompt: run the MTP rows whose next token is known now, chunk by chunk, rather than
    // buffering every hidden state; the last row stays for Propose (its logits give draft 1).
    if (rows() > kEagerRows) {
      const int64_t c = std::min(rows() - 1, static_cast<int64_t>(known.size()) - 1 - base_);
      if (c > 0) return Run(known, c, nullptr, pool);
    }
    return Status::Ok();
  }

  Status Settle(const std::vector<int32_t>& known, ThreadPool* pool) override {
    if (broken_) return Status::Ok();
    const int64_t c = std::min(rows() - 1, static_cast<int64_t>(known.size()) - 1 - base_);
    return c > 0 ? Run(known, c, nullptr, pool) : Status::Ok();
  }

  Status Propose(const std::vector<int32_t>& tokens, int k, std::vector<int32_t>* drafts, ThreadPool* pool) override {
    drafts->clear();
    const int64_t L = static_cast<int64_t>(tokens.size());
    if (broken_ || k <= 0 || rows() == 0 || base_ + rows() != L - 1) return Status::Ok();
    logits_.resize(static_cast<size_t>(V_));
    QS_RETURN_IF_ERROR(Run(tokens, rows(), logits_.data(), pool));  // the last row's logits
    int32_t d = Argmax(logits_.data(), V_);
    drafts->push_back(d);
    // Chained drafts: the module's own shared_head.norm output stands in for h (provisional rows).
    for (int j = 1; j < k; ++j) {
      chain_.assign(tr_.final_hidden.end() - D_, tr_.final_hidden.end());
      QS_RETURN_IF_ERROR(m_->ForwardMtp(chain_.data(), &d, 1, cache_.get(), logits_.data(), pool, &tr_));
      d = Argmax(logits_.data(), V_);
      drafts->push_back(d);
    }
    return Status::Ok();
  }

  void Rollback(int64_t n) override {
    if (n < base_) {  // never expected (the pending token is always kept); restart from n
      base_ = n;
      hid_.clear();
    } else {
      hid_.resize(static_cast<size_t>(std::min(rows(), n - base_) * D_));
    }
    cache_->Truncate(base_);
  }

  KvCache* prefix_rows() override { return cache_.get(); }
  // Row p needs t_{p+1}: a prefix hit of h tokens restores rows 0..h-2 at most.
  int64_t prefix_lag() const override { return 1; }
  void Restored(int64_t n) override {
    cache_->Truncate(n);
    base_ = cache_->size();
    hid_.clear();
    broken_ = false;
  }

 private:
  static constexpr int64_t kEagerRows = 64;
  int64_t rows() const { return static_cast<int64_t>(hid_.size()) / D_; }

  // MTP rows base_ .. base_ + c - 1 from the buffered hidden states and tokens known[p + 1].
  Status Run(const std::vector<int32_t>& known, int64_t c, float* logits, ThreadPool* pool) {
    cache_->Truncate(base_);  // provisional rows of the last Propose go
    QS_RETURN_IF_ERROR(m_->ForwardMtp(hid_.data(), &known[static_cast<size_t>(base_ + 1)], c, cache_.get(), logits,
                                      pool, logits ? &tr_ : nullptr, /*last_only=*/true));
    hid_.erase(hid_.begin(), hid_.begin() + c * D_);
    base_ += c;
    return Status::Ok();
  }

  Model* m_;
  int64_t D_, V_;
  std::unique_ptr<KvCache> cache_;
  std::vector<float> hid_, logits_, chain_;
  ForwardTrace tr_;
  int64_t base_ = 0;
  bool broken_ = false;
};

// Draft-model state: the draft model's own cache over the same tokens. Rows of accepted drafts
// stay valid, so rollback is a truncation; missing rows (a new prompt, a prefix-cache hit) are
// filled by the next Propose.
class ModelDraftState final : public DraftState {
 public:
  ModelDraftState(Model* d, int64_t main_vocab, int64_t ctx)
      : d_(d), V_(d->config().vocab_size), usable_(std::min(V_, main_vocab)), cache_(d->NewCache(ctx + kMaxSpecTokens + 1)) {}

  void Clear() override { cache_->Clear(); }
  Status Observe(const std::vector<int32_t>&, int64_t, const float*, int64_t, ThreadPool*) override {
    return Status::Ok();
  }

  Status Propose(const std::vector<int32_t>& tokens, int k, std::vector<int32_t>* drafts, ThreadPool* pool) override {
    drafts->clear();
    const int64_t L = static_cast<int64_t>(tokens.size());
    if (k <= 0 || L == 0) return Status::Ok();
    if (cache_->size() >= L) cache_->Truncate(L - 1);
    logits_.resize(static_cast<size_t>(V_));
    // Catch up on the tokens the draft model has not seen (bounded activations per pass).
    for (int64_t p = cache_->size(); p < L;) {
      const int64_t n = std::min<int64_t>(kChunk, L - p);
      SeqChunk ch{&tokens[static_cast<size_t>(p)], n, cache_.get(), p + n == L ? logits_.data() : nullptr, true};
      QS_RETURN_IF_ERROR(d_->ForwardBatch({ch}, pool));
      p += n;
    }
    int32_t d = Argmax(logits_.data(), usable_);  // ids the main model has
    drafts->push_back(d);
    for (int j = 1; j < k; ++j) {
      QS_RETURN_IF_ERROR(d_->Forward(&d, 1, cache_.get(), logits_.data(), pool));
      d = Argmax(logits_.data(), usable_);
      drafts->push_back(d);
    }
    return Status::Ok();
  }

  void Rollback(int64_t n) override { cache_->Truncate(n); }

 private:
  static constexpr int64_t kChunk = 256;
  Model* d_;
  int64_t V_, usable_;
  std::unique_ptr<KvCache> cache_;
  std::vector<float> logits_;
};

class MtpDrafter final : public Drafter {
 public:
  explicit MtpDrafter(Model* m) : m_(m) {}
  std::unique_ptr<DraftState> NewState(int64_t ctx) override { return std::make_unique<MtpState>(m_, ctx); }
  bool wants_hidden() const override { return true; }
  std::string name() const override { return "mtp"; }

 private:
  Model* m_;
};

class ModelDrafter final : public Drafter {
 public:
  ModelDrafter(Model* main, Model* draft) : main_(main), d_(draft) {}
  std::unique_ptr<DraftState> NewState(int64_t ctx) override {
    return std::make_unique<ModelDraftState>(d_, main_->config().vocab_size, ctx);
  }
  bool wants_hidden() const override { return false; }
  std::string name() const override { return "draft model"; }

 private:
  Model* main_;
  Model* d_;
};

}  // namespace

Result<std::unique_ptr<Drafter>> Drafter::Mtp(Model* main) {
  if (main->mtp_modules() <= 0)
    return Unsupported("speculative decoding: the model has no multi-token-prediction module loaded (" +
                       std::to_string(main->Info().mtp_modules) +
                       " in its config); give a draft model (--draft-model) or --spec-tokens 0");
  return std::unique_ptr<Drafter>(std::make_unique<MtpDrafter>(main));
}

Result<std::unique_ptr<Drafter>> Drafter::DraftModel(Model* main, Model* draft) {
  const int64_t vm = main->config().vocab_size, vd = draft->config().vocab_size;
  // Checkpoints of one family pad the embedding differently (R1-Distill-Qwen-1.5B: 151,936 rows,
  // 7B: 152,064; the tokenizer has 151,665 entries), so sizes may differ a little; the tokenizers
  // are compared by the caller (Engine) when both are at hand.
  if (std::abs(vm - vd) > 1024)
    return InvalidArgument("draft model: its vocabulary (" + std::to_string(vd) +
                           " tokens) is not the main model's (" + std::to_string(vm) + " tokens)");
  return std::unique_ptr<Drafter>(std::make_unique<ModelDrafter>(main, draft));
}

DraftVerdict VerifyDraft(Sampler* sampler, const TokenDist& p, int32_t draft) {
  DraftVerdict v;
  const double pd = p.Prob(draft);
  if (pd > 0 && sampler->Uniform() < pd) {
    v.accepted = true;
    v.token = draft;
    return v;
  }
  v.token = sampler->Draw(p, draft);
  if (v.token < 0) v.token = draft;  // p was one-hot on the draft (pd == 1 up to rounding)
  v.accepted = v.token == draft;
  return v;
}

double ExpectedTokensPerStep(double a, int k) {
  double e = 0, ak = 1;
  for (int i = 0; i <= k; ++i) e += ak, ak *= a;
  return e;
}

}  // namespace qs
