// Continuous batching over N sequence slots (`--parallel`).
//
// One scheduler thread owns the model, the slots and the prefix cache. Each step it admits queued
// requests into free slots (so new requests join between decode steps), then advances every busy
// slot by one unit of work: a prompt chunk of at most `chunk` tokens (so a long prompt does not
// stall the streams in flight) or one decode token. All the slots' tokens of a step go through
// one Model::ForwardBatch, so they share every weight read; attention reads each slot's own KV
// cache. If the batch is refused (a bad token id), the slots are rerun one by one and only the
// offending request ends with "error".
//
// Requests talk to their consumer (an HTTP handler, the terminal chat) through a RequestHandle:
// an event queue the scheduler pushes to and the consumer pops from, plus a cancel flag the
// consumer sets (client gone, stop string seen); a cancelled slot is freed before the next step.
//
// Speculative decoding (runtime/speculative.h), when the scheduler gets a Drafter and
// spec_tokens > 0: a decoding slot's step feeds [pending token, k drafts] in the same batched
// forward as the other slots' work (logits of all k + 1 rows), then emits the accepted drafts and
// the main model's next token — possibly several kToken events in one step — and rolls the slot's
// caches back past the rejected drafts. Greedy requests get exactly the tokens of plain decoding.
// JSON-mode (constrained) requests speculate when greedy (each row's token is chosen with the
// constraint as in plain decoding, so a draft is accepted only if it is the constrained choice);
// constrained *sampled* requests do not speculate (plain decoding's unconstrained-draw-then-mask
// procedure has no closed-form distribution to verify against).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "model/model.h"
#include "runtime/disk_cache.h"
#include "runtime/prefix_cache.h"
#include "runtime/sampler.h"
#include "runtime/speculative.h"

namespace qs {

class ThreadPool;

// Restricts which tokens may come next (JSON mode). Called on the scheduler thread only.
class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  virtual bool Allows(int32_t token) = 0;               // cheap check of one candidate
  virtual void Mask(std::vector<uint8_t>* allowed) = 0;  // full mask over the vocabulary
  virtual void Accept(int32_t token) = 0;               // the token was chosen
};

struct GenEvent {
  enum Kind { kStarted, kToken, kDone } kind = kToken;
  int64_t cache_hit_tokens = 0;  // kStarted: prompt tokens reused from the prefix cache
  int32_t token = -1;            // kToken
  TokenLogprob logprob;          // kToken, when logprobs were asked for
  std::vector<TokenLogprob> top;
  // kDone: "stop" | "length" | "cancelled" | "error" | "overloaded" (no slot became free within
  // SchedulerOptions::max_queue_wait; nothing was generated)
  std::string finish_reason;
  bool stop_token = false;       // kDone: ended by a stop token (counted, not sent as kToken)
  Status error;                  // kDone with "error"
  uint64_t step = 0;             // scheduler step that produced the event (ordering across requests)
  uint64_t drafted = 0, accepted = 0;  // kDone: this request's speculative drafts, and those kept
};

struct GenRequest {
  std::vector<int32_t> prompt;
  SamplingParams sampling;
  int64_t max_tokens = 256;
  std::vector<int32_t> stop_ids;  // end-of-sequence tokens
  int top_logprobs = -1;          // -1: no logprobs; else the number of alternatives (0..20)
  std::shared_ptr<TokenConstraint> constraint;
  // Prefix-cache namespace: the request reuses and leaves KV rows only within it (the server
  // derives it from the API key and `user`, or uses 0 for all with --shared-prefix-cache).
  uint64_t cache_namespace = 0;
};

class RequestHandle {
 public:
  // Waits up to `timeout` for the next event; false on timeout.
  bool Next(GenEvent* ev, std::chrono::milliseconds timeout);
  void Cancel() { cancel_.store(true); }
  bool cancelled() const { return cancel_.load(); }

 private:
  friend class Scheduler;
  void Push(GenEvent ev);
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<GenEvent> q_;
  std::atomic<bool> cancel_{false};
};

struct SchedulerOptions {
  int parallel = 1;        // slots
  int64_t ctx = 4096;      // tokens per slot (prompt + completion)
  int64_t chunk = 128;     // prompt tokens per slot per step
  int max_queue = 64;      // requests that may wait beyond the idle slots; more -> kQueueFull
  size_t cache_bytes = 256u << 20;  // prefix cache budget
  int threads = 0;         // compute threads (0: all cores)
  // A request still queued after this long ends with "overloaded" (HTTP 503), freeing its queue
  // place; 0: wait forever. DeepSeek's API closes a request that has not started inference after
  // 10 minutes (https://api-docs.deepseek.com/quick_start/rate_limit).
  std::chrono::milliseconds max_queue_wait{0};
  // The prefix cache's disk tier (`--cache-dir`; runtime/disk_cache.h); null: memory only.
  std::shared_ptr<DiskCache> disk_cache;
  int spec_tokens = 0;  // drafts per decode step when a Drafter is given (0: plain decoding)
};

struct SchedulerStats {
  uint64_t requests = 0, prompt_tokens = 0, completion_tokens = 0, cache_hit_tokens = 0;
  uint64_t queue_timeouts = 0;  // requests that ended "overloaded"
  uint64_t queue_length = 0, active_slots = 0, cache_entries = 0, cache_bytes = 0;
  DiskCacheStats disk;  // zeros without a disk tier
  double busy_seconds = 0;  // wall time spent in steps with work
  double decode_tokens_per_second = 0;  // completion tokens / busy seconds
  uint64_t drafted_tokens = 0, accepted_tokens = 0;  // speculative decoding
  uint64_t spec_steps = 0;                            // verification forwards (slot steps with drafts)
};

class Scheduler {
 public:
  // `pool`: the compute threads to run on (the Engine's, shared with Model::Prepare); null: the
  // scheduler makes its own of opt.threads.
  // `drafter` (optional, not owned): speculative decoding with opt.spec_tokens drafts per step.
  Scheduler(Model* model, const SchedulerOptions& opt, ThreadPool* pool = nullptr, Drafter* drafter = nullptr);
  ~Scheduler();  // Shutdown()
  // Stops the thread; requests in flight or queued end with "cancelled", new ones are refused
  // (kStopped). Idempotent.
  void Shutdown();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  enum class SubmitError { kNone, kQueueFull, kTooLong, kStopped };
  // Queues a request. nullptr and *err set when it cannot be accepted.
  std::shared_ptr<RequestHandle> Submit(GenRequest req, SubmitError* err);

  SchedulerStats Stats() const;
  const SchedulerOptions& options() const { return opt_; }
  int64_t vocab_size() const { return vocab_; }

 private:
  struct Slot;
  struct Pending {
    GenRequest req;
    std::shared_ptr<RequestHandle> handle;
    std::chrono::steady_clock::time_point queued_at;
  };
  void Loop();
  void DropStaleQueued();                  // cancelled or past max_queue_wait: end them now
  void Admit(Slot* s, Pending p);
  bool Prepare(Slot* s);                   // false when the slot finished (cancelled, full)
  void StepAll(const std::vector<Slot*>& run);
  bool AfterForward(Slot* s);              // sample, emit; false when the slot finished
  bool Verify(Slot* s, int64_t pos0);      // AfterForward of a step with drafts
  int32_t Choose(Slot* s, float* logits, int32_t draft);  // the token a row gives (-1: none allowed)
  bool Emit(Slot* s, int32_t tok, const float* logits);   // false when the slot finished
  void Observe(Slot* s, int64_t pos0, int64_t n);          // tell the drafter what the main model ran
  void Finish(Slot* s, const std::string& reason, bool stop_token, Status error = Status::Ok());

  Model* model_;
  Drafter* drafter_ = nullptr;
  SchedulerOptions opt_;
  int64_t vocab_;
  ThreadPool* pool_;
  std::unique_ptr<ThreadPool> own_pool_;
  std::vector<std::unique_ptr<Slot>> slots_;
  PrefixCache prefix_cache_;
  std::vector<SeqChunk> chunks_;
  std::vector<uint8_t> mask_;
  std::vector<float> scratch_;
  TokenDist dist_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stop_ = false;
  std::atomic<int> busy_{0};  // slots in use
  uint64_t step_ = 0;          // scheduler thread only
  SchedulerStats stats_;  // under mu_
  std::thread thread_;
};

}  // namespace qs
