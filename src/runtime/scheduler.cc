#include "runtime/scheduler.h"

#include <algorithm>

#include "base/log.h"
#include "base/thread_pool.h"
#include "base/timer.h"

namespace qs {

bool RequestHandle::Next(GenEvent* ev, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(mu_);
  if (!cv_.wait_for(lk, timeout, [&] { return !q_.empty(); })) return false;
  *ev = std::move(q_.front());
  q_.pop_front();
  return true;
}

void RequestHandle::Push(GenEvent ev) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    q_.push_back(std::move(ev));
  }
  cv_.notify_one();
}

struct Scheduler::Slot {
  std::unique_ptr<KvCache> cache;
  bool busy = false;
  GenRequest req;
  std::shared_ptr<RequestHandle> handle;
  std::unique_ptr<Sampler> sampler;
  std::vector<int32_t> seq;      // tokens in the cache
  std::vector<int32_t> pending;  // tokens still to feed (prompt remainder or the last sample)
  std::vector<int32_t> generated;
  std::vector<float> logits;  // [vocab]: the last fed token's logits ([step_n, vocab] with drafts)
  int64_t step_n = 0;         // tokens fed this step
  // Speculative decoding: the drafter's state, whether this request drafts, this step's drafts,
  // the tokens fed (pending chunk, or the pending token and the drafts), the main model's final
  // hidden states of the fed rows (MTP drafter), and the request's counts.
  std::unique_ptr<DraftState> draft;
  bool spec = false;
  std::vector<int32_t> drafts, feed, known;
  std::vector<float> hidden;
  uint64_t drafted = 0, accepted = 0;
};

Scheduler::Scheduler(Model* model, const SchedulerOptions& opt, ThreadPool* pool, Drafter* drafter)
    : model_(model), opt_(opt), vocab_(model->config().vocab_size), pool_(pool), prefix_cache_(opt.cache_bytes) {
  opt_.parallel = std::max(1, opt_.parallel);
  opt_.chunk = std::max<int64_t>(1, opt_.chunk);
  prefix_cache_.set_disk(opt_.disk_cache.get());
  opt_.spec_tokens = std::clamp(opt_.spec_tokens, 0, kMaxSpecTokens);
  if (opt_.spec_tokens > 0) drafter_ = drafter;
  if (!drafter_) opt_.spec_tokens = 0;
  if (!pool_) {
    own_pool_ = std::make_unique<ThreadPool>(opt_.threads);
    pool_ = own_pool_.get();
  }
  for (int i = 0; i < opt_.parallel; ++i) {
    auto s = std::make_unique<Slot>();
    s->cache = model_->NewCache(opt_.ctx);
    if (drafter_) s->draft = drafter_->NewState(opt_.ctx);
    slots_.push_back(std::move(s));
  }
  thread_ = std::thread([this] { Loop(); });
}

Scheduler::~Scheduler() { Shutdown(); }

void Scheduler::Shutdown() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& p : queue_) {
    GenEvent ev;
    ev.kind = GenEvent::kDone;
    ev.finish_reason = "cancelled";
    p.handle->Push(std::move(ev));
  }
  queue_.clear();
}

std::shared_ptr<RequestHandle> Scheduler::Submit(GenRequest req, SubmitError* err) {
  *err = SubmitError::kNone;
  if (req.prompt.empty() || static_cast<int64_t>(req.prompt.size()) >= opt_.ctx) {
    *err = SubmitError::kTooLong;
    return nullptr;
  }
  auto h = std::make_shared<RequestHandle>();
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stop_) {
      *err = SubmitError::kStopped;
      return nullptr;
    }
    // Requests may wait for the idle slots (admitted at the next step) plus max_queue more.
    const int idle = opt_.parallel - busy_.load();
    if (static_cast<int>(queue_.size()) >= opt_.max_queue + std::max(0, idle)) {
      *err = SubmitError::kQueueFull;
      return nullptr;
    }
    queue_.push_back({std::move(req), h, std::chrono::steady_clock::now()});
    stats_.queue_length = queue_.size();
  }
  cv_.notify_all();
  return h;
}

SchedulerStats Scheduler::Stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  SchedulerStats s = stats_;
  s.decode_tokens_per_second = s.busy_seconds > 0 ? static_cast<double>(s.completion_tokens) / s.busy_seconds : 0;
  return s;
}

void Scheduler::Admit(Slot* s, Pending p) {
  s->busy = true;
  busy_++;
  s->req = std::move(p.req);
  s->handle = std::move(p.handle);
  s->sampler = std::make_unique<Sampler>(s->req.sampling);
  s->generated.clear();
  s->drafts.clear();
  s->drafted = s->accepted = 0;
  s->spec = s->draft && !(s->req.constraint && s->req.sampling.temperature > 0);
  const auto& prompt = s->req.prompt;
  // Reuse the longest cached prefix; at least one prompt token is always run to get logits.
  KvCache* aux = s->spec ? s->draft->prefix_rows() : nullptr;
  int64_t aux_rows = 0;
  int64_t hit = prefix_cache_.Lookup(prompt, static_cast<int64_t>(prompt.size()) - 1, s->cache.get(),
                                     s->req.cache_namespace, aux, &aux_rows);
  if (s->spec && aux) {
    // The MTP drafter cannot rebuild its rows without the main model's hidden states, so the main
    // hit shrinks to the rows both caches have (usually by one token); an entry written without
    // them (by a request that did not draft) keeps its full hit and this request does not draft.
    const int64_t u = std::max<int64_t>(0, std::min(aux_rows, hit - s->draft->prefix_lag()));
    if (hit - u > opt_.chunk) {
      s->spec = false;
    } else {
      hit = u;
      s->cache->Truncate(hit);
      s->draft->Restored(hit);
    }
  } else if (s->spec) {
    s->draft->Clear();  // a draft model catches up from the tokens
  }
  if (hit == 0) s->cache->Clear();
  s->seq.assign(prompt.begin(), prompt.begin() + hit);
  s->pending.assign(prompt.begin() + hit, prompt.end());
  {
    std::lock_guard<std::mutex> lk(mu_);
    stats_.requests++;
    stats_.prompt_tokens += prompt.size();
    stats_.cache_hit_tokens += static_cast<uint64_t>(hit);
  }
  GenEvent ev;
  ev.kind = GenEvent::kStarted;
  ev.cache_hit_tokens = hit;
  ev.step = step_;
  s->handle->Push(std::move(ev));
}

void Scheduler::Finish(Slot* s, const std::string& reason, bool stop_token, Status error) {
  KvCache* aux = nullptr;
  if (s->spec) {
    s->draft->Rollback(static_cast<int64_t>(s->seq.size()));  // provisional rows are not for reuse
    aux = s->draft->prefix_rows();
  }
  if (!s->seq.empty() && error.ok()) prefix_cache_.Insert(s->seq, *s->cache, s->req.cache_namespace, aux, /*persist=*/true);
  GenEvent ev;
  ev.kind = GenEvent::kDone;
  ev.drafted = s->drafted;
  ev.accepted = s->accepted;
  ev.finish_reason = reason;
  ev.stop_token = stop_token;
  ev.error = std::move(error);
  ev.step = step_;
  s->handle->Push(std::move(ev));
  s->handle.reset();
  s->sampler.reset();
  s->busy = false;
  busy_--;
}

bool Scheduler::Prepare(Slot* s) {
  if (s->handle->cancelled()) {
    Finish(s, "cancelled", false);
    return false;
  }
  s->step_n = std::min<int64_t>(opt_.chunk, static_cast<int64_t>(s->pending.size()));
  if (s->cache->size() + s->step_n > opt_.ctx) {
    Finish(s, "length", false);
    return false;
  }
  s->drafts.clear();
  if (s->spec && !s->generated.empty()) {
    // Decoding: draft as many tokens as the answer and the context still have room for.
    const int64_t k = std::min<int64_t>({opt_.spec_tokens, s->req.max_tokens - static_cast<int64_t>(s->generated.size()) - 1,
                                         opt_.ctx - s->cache->size() - 1});
    if (k > 0) {
      s->known.assign(s->seq.begin(), s->seq.end());
      s->known.push_back(s->pending[0]);
      Status st = s->draft->Propose(s->known, static_cast<int>(k), &s->drafts, pool_);
      if (!st.ok()) {  // drafting is an optimisation: the request goes on without it
        QS_LOG_WARN("speculative drafts off for a request: %s", st.message().c_str());
        s->spec = false;
        s->drafts.clear();
      }
    }
  }
  s->feed.assign(s->pending.begin(), s->pending.begin() + s->step_n);
  s->feed.insert(s->feed.end(), s->drafts.begin(), s->drafts.end());
  s->step_n = static_cast<int64_t>(s->feed.size());
  s->logits.resize(static_cast<size_t>((s->drafts.empty() ? 1 : s->step_n) * vocab_));
  if (s->spec && drafter_->wants_hidden())
    s->hidden.resize(static_cast<size_t>(s->step_n * model_->config().hidden_size));
  return true;
}

void Scheduler::StepAll(const std::vector<Slot*>& run) {
  // One forward for every active slot: their tokens share each weight read (continuous
  // batching); attention still reads each slot's own cache.
  auto chunk = [&](Slot* s) {
    float* hidden = s->spec && drafter_->wants_hidden() ? s->hidden.data() : nullptr;
    return SeqChunk{s->feed.data(), s->step_n, s->cache.get(), s->logits.data(), s->drafts.empty(), hidden};
  };
  chunks_.clear();
  for (Slot* s : run) chunks_.push_back(chunk(s));
  Status st = model_->ForwardBatch(chunks_, pool_);
  if (st.ok()) {
    for (Slot* s : run) AfterForward(s);
    return;
  }
  // Something in the batch was refused: run the slots one by one so only the bad one fails.
  for (Slot* s : run) {
    std::vector<SeqChunk> one = {chunk(s)};
    Status st1 = model_->ForwardBatch(one, pool_);
    if (!st1.ok()) Finish(s, "error", false, st1);
    else AfterForward(s);
  }
}

void Scheduler::Observe(Slot* s, int64_t pos0, int64_t n) {
  if (!s->spec) return;
  s->known.assign(s->seq.begin(), s->seq.end());
  s->known.insert(s->known.end(), s->pending.begin(), s->pending.end());
  const float* hidden = drafter_->wants_hidden() ? s->hidden.data() : nullptr;
  Status st = s->draft->Observe(s->known, pos0, hidden, n, pool_);
  if (!st.ok()) {
    QS_LOG_WARN("speculative drafts off for a request: %s", st.message().c_str());
    s->spec = false;
  }
}

bool Scheduler::AfterForward(Slot* s) {
  const int64_t n = s->step_n;
  const int64_t pos0 = s->cache->size() - n;
  if (!s->drafts.empty()) return Verify(s, pos0);
  s->seq.insert(s->seq.end(), s->pending.begin(), s->pending.begin() + n);
  s->pending.erase(s->pending.begin(), s->pending.begin() + n);
  Observe(s, pos0, n);
  if (!s->pending.empty()) return true;  // more prompt chunks to go
  // Prompt done: share its rows at once, so requests with the same prefix (a common system
  // prompt) hit the cache while this one is still generating.
  if (s->generated.empty()) {
    if (s->spec) {
      Status st = s->draft->Settle(s->seq, pool_);  // its rows go into the prefix cache too
      if (!st.ok()) {
        QS_LOG_WARN("speculative drafts off for a request: %s", st.message().c_str());
        s->spec = false;
      }
    }
    prefix_cache_.Insert(s->seq, *s->cache, s->req.cache_namespace, s->spec ? s->draft->prefix_rows() : nullptr,
                         /*persist=*/false);
  }
  const int32_t tok = Choose(s, s->logits.data(), -1);
  if (tok < 0) {
    Finish(s, "stop", false);
    return false;
  }
  if (!Emit(s, tok, s->logits.data())) return false;
  s->pending.assign(1, tok);
  return true;
}

// Row j of the verify pass holds the main model's logits after [pending, d_1 .. d_j]: its token
// is chosen as plain decoding would (greedy) or by the speculative-sampling rule against d_{j+1};
// the first row whose token is not the draft ends the step with that token as the next pending
// one (all drafts kept: the last row's token is the bonus).
bool Scheduler::Verify(Slot* s, int64_t pos0) {
  const int64_t nd = static_cast<int64_t>(s->drafts.size());
  s->seq.push_back(s->pending[0]);
  s->pending.clear();
  s->drafted += static_cast<uint64_t>(nd);
  int64_t a = 0;
  {
    std::lock_guard<std::mutex> lk(mu_);
    stats_.drafted_tokens += static_cast<uint64_t>(nd);
    stats_.spec_steps++;
  }
  for (int64_t j = 0; j <= nd; ++j) {
    float* row = &s->logits[static_cast<size_t>(j * vocab_)];
    const int32_t tok = Choose(s, row, j < nd ? s->drafts[static_cast<size_t>(j)] : -1);
    if (tok < 0) {
      Finish(s, "stop", false);
      return false;
    }
    const bool kept = j < nd && tok == s->drafts[static_cast<size_t>(j)];
    if (kept) {
      ++a;
      s->accepted++;
      s->seq.push_back(tok);  // its row is already in the cache
      std::lock_guard<std::mutex> lk(mu_);
      stats_.accepted_tokens++;
    }
    if (!Emit(s, tok, row)) return false;
    if (!kept) {
      s->pending.assign(1, tok);
      break;
    }
  }
  // Drop the rows of rejected drafts; the drafter sees the kept rows [pending, d_1 .. d_a].
  s->cache->Truncate(static_cast<int64_t>(s->seq.size()));
  Observe(s, pos0, a + 1);
  if (s->spec) s->draft->Rollback(static_cast<int64_t>(s->seq.size()));
  return true;
}

int32_t Scheduler::Choose(Slot* s, float* last, int32_t draft) {
  TokenConstraint* c = s->req.constraint.get();
  // Penalties go into `last` itself so that logprobs describe the distribution sampled from;
  // the sampler then gets an empty history. It modifies its input, hence the scratch copy.
  static const std::vector<int32_t> kNoHistory;
  Sampler::ApplyPenalties(last, vocab_, s->generated, s->req.sampling.frequency_penalty,
                          s->req.sampling.presence_penalty);
  Sampler::ApplyLogitBias(last, vocab_, s->req.sampling.logit_bias);
  if (draft >= 0 && !s->sampler->greedy() && !c) {
    s->sampler->Distribution(last, vocab_, nullptr, &dist_);
    return VerifyDraft(s->sampler.get(), dist_, draft).token;
  }
  scratch_.assign(last, last + vocab_);
  int32_t tok = s->sampler->Sample(scratch_.data(), vocab_, kNoHistory, nullptr);
  if (c && (tok < 0 || !c->Allows(tok))) {
    // The unconstrained choice breaks the constraint: compute the full mask and draw again
    // (llama.cpp's grammar sampling does the same to keep the common case cheap).
    mask_.assign(static_cast<size_t>(vocab_), 1);
    c->Mask(&mask_);
    scratch_.assign(last, last + vocab_);
    tok = s->sampler->Sample(scratch_.data(), vocab_, kNoHistory, &mask_);
  }
  return tok;
}

bool Scheduler::Emit(Slot* s, int32_t tok, const float* last) {
  if (TokenConstraint* c = s->req.constraint.get()) c->Accept(tok);
  s->generated.push_back(tok);
  {
    std::lock_guard<std::mutex> lk(mu_);
    stats_.completion_tokens++;
  }
  if (std::find(s->req.stop_ids.begin(), s->req.stop_ids.end(), tok) != s->req.stop_ids.end()) {
    Finish(s, "stop", true);
    return false;
  }
  GenEvent ev;
  ev.kind = GenEvent::kToken;
  ev.token = tok;
  ev.step = step_;
  if (s->req.top_logprobs >= 0) {
    ev.logprob = Sampler::Logprob(last, vocab_, tok);
    ev.top = Sampler::TopLogprobs(last, vocab_, s->req.top_logprobs);
  }
  s->handle->Push(std::move(ev));
  if (static_cast<int64_t>(s->generated.size()) >= s->req.max_tokens ||
      static_cast<int64_t>(s->seq.size()) + 1 > opt_.ctx) {
    Finish(s, "length", false);
    return false;
  }
  return true;
}

void Scheduler::DropStaleQueued() {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lk(mu_);
  for (auto it = queue_.begin(); it != queue_.end();) {
    const bool cancelled = it->handle->cancelled();
    if (!cancelled && (opt_.max_queue_wait.count() <= 0 || now - it->queued_at < opt_.max_queue_wait)) {
      ++it;
      continue;
    }
    GenEvent ev;
    ev.kind = GenEvent::kDone;
    ev.finish_reason = cancelled ? "cancelled" : "overloaded";
    ev.step = step_;
    if (!cancelled) stats_.queue_timeouts++;
    it->handle->Push(std::move(ev));
    it = queue_.erase(it);
  }
  stats_.queue_length = queue_.size();
}

void Scheduler::Loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      auto any_busy = [&] {
        for (auto& s : slots_)
          if (s->busy) return true;
        return false;
      };
      cv_.wait(lk, [&] { return stop_ || !queue_.empty() || any_busy(); });
      if (stop_) break;
    }
    // Queued requests whose client left, or that waited too long, give their place back (the
    // queue bound of Submit counts only requests that still want to run).
    DropStaleQueued();
    // Admit waiting requests into free slots (between decode steps).
    for (auto& s : slots_) {
      if (s->busy) continue;
      Pending p;
      {
        std::lock_guard<std::mutex> lk(mu_);
        if (queue_.empty()) break;
        p = std::move(queue_.front());
        queue_.pop_front();
        stats_.queue_length = queue_.size();
      }
      if (p.handle->cancelled()) {  // gave up while queued
        GenEvent ev;
        ev.kind = GenEvent::kDone;
        ev.finish_reason = "cancelled";
        p.handle->Push(std::move(ev));
        continue;
      }
      Admit(s.get(), std::move(p));
    }
    Timer t;
    ++step_;
    int active = 0;
    std::vector<Slot*> run;
    for (auto& s : slots_)
      if (s->busy) {
        ++active;
        if (Prepare(s.get())) run.push_back(s.get());
      }
    if (!run.empty()) StepAll(run);
    std::lock_guard<std::mutex> lk(mu_);
    if (active) stats_.busy_seconds += t.Seconds();
    uint64_t a = 0;
    for (auto& s : slots_) a += s->busy;
    stats_.active_slots = a;
    stats_.cache_entries = prefix_cache_.entries();
    stats_.cache_bytes = prefix_cache_.bytes();
    if (opt_.disk_cache) stats_.disk = opt_.disk_cache->Stats();
  }
  for (auto& s : slots_)
    if (s->busy) Finish(s.get(), "cancelled", false);
}

}  // namespace qs
