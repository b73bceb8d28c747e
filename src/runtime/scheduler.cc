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
  std::vector<float> logits;  // [vocab]: the last fed token's logits
  int64_t step_n = 0;         // tokens fed this step
};

Scheduler::Scheduler(Model* model, const SchedulerOptions& opt, ThreadPool* pool)
    : model_(model), opt_(opt), vocab_(model->config().vocab_size), pool_(pool), prefix_cache_(opt.cache_bytes) {
  opt_.parallel = std::max(1, opt_.parallel);
  opt_.chunk = std::max<int64_t>(1, opt_.chunk);
  prefix_cache_.set_disk(opt_.disk_cache.get());
  if (!pool_) {
    own_pool_ = std::make_unique<ThreadPool>(opt_.threads);
    pool_ = own_pool_.get();
  }
  for (int i = 0; i < opt_.parallel; ++i) {
    auto s = std::make_unique<Slot>();
    s->cache = model_->NewCache(opt_.ctx);
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
  const auto& prompt = s->req.prompt;
  // Reuse the longest cached prefix; at least one prompt token is always run to get logits.
  int64_t hit = prefix_cache_.Lookup(prompt, static_cast<int64_t>(prompt.size()) - 1, s->cache.get(),
                                     s->req.cache_namespace);
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
  if (!s->seq.empty() && error.ok()) prefix_cache_.Insert(s->seq, *s->cache, s->req.cache_namespace);
  GenEvent ev;
  ev.kind = GenEvent::kDone;
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
  s->logits.resize(static_cast<size_t>(vocab_));
  return true;
}

void Scheduler::StepAll(const std::vector<Slot*>& run) {
  // One forward for every active slot: their tokens share each weight read (continuous
  // batching); attention still reads each slot's own cache.
  chunks_.clear();
  for (Slot* s : run) chunks_.push_back(SeqChunk{s->pending.data(), s->step_n, s->cache.get(), s->logits.data(), true});
  Status st = model_->ForwardBatch(chunks_, pool_);
  if (st.ok()) {
    for (Slot* s : run) AfterForward(s);
    return;
  }
  // Something in the batch was refused: run the slots one by one so only the bad one fails.
  for (Slot* s : run) {
    std::vector<SeqChunk> one = {SeqChunk{s->pending.data(), s->step_n, s->cache.get(), s->logits.data(), true}};
    Status st1 = model_->ForwardBatch(one, pool_);
    if (!st1.ok()) Finish(s, "error", false, st1);
    else AfterForward(s);
  }
}

bool Scheduler::AfterForward(Slot* s) {
  const int64_t n = s->step_n;
  s->seq.insert(s->seq.end(), s->pending.begin(), s->pending.begin() + n);
  s->pending.erase(s->pending.begin(), s->pending.begin() + n);
  if (!s->pending.empty()) return true;  // more prompt chunks to go
  // Prompt done: share its rows at once, so requests with the same prefix (a common system
  // prompt) hit the cache while this one is still generating.
  if (s->generated.empty()) prefix_cache_.Insert(s->seq, *s->cache, s->req.cache_namespace, /*persist=*/false);

  float* last = s->logits.data();
  TokenConstraint* c = s->req.constraint.get();
  // Penalties go into `last` itself so that logprobs describe the distribution sampled from;
  // the sampler then gets an empty history. It modifies its input, hence the scratch copy.
  static const std::vector<int32_t> kNoHistory;
  Sampler::ApplyPenalties(last, vocab_, s->generated, s->req.sampling.frequency_penalty,
                          s->req.sampling.presence_penalty);
  Sampler::ApplyLogitBias(last, vocab_, s->req.sampling.logit_bias);
  scratch_.assign(last, last + vocab_);
  int32_t tok = s->sampler->Sample(scratch_.data(), vocab_, kNoHistory, nullptr);
  if (c && (tok < 0 || !c->Allows(tok))) {
    // The unconstrained choice breaks the constraint: compute the full mask and draw again
    // (llama.cpp's grammar sampling does the same to keep the common case cheap).
    mask_.assign(static_cast<size_t>(vocab_), 1);
    c->Mask(&mask_);
    scratch_.assign(last, last + vocab_);
    tok = s->sampler->Sample(scratch_.data(), vocab_, kNoHistory, &mask_);
    if (tok < 0) {
      Finish(s, "stop", false);
      return false;
    }
  }
  if (c) c->Accept(tok);
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
  if (static_cast<int64_t>(s->generated.size()) >= s->req.max_tokens || s->cache->size() + 1 > opt_.ctx) {
    Finish(s, "length", false);
    return false;
  }
  s->pending.assign(1, tok);
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
