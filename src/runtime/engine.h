// The engine behind `qiusuo serve` and `qiusuo run`: one opened model package (weights,
// tokenizer, chat template), the compute threads, the one-time Model::Prepare (repacking, so the
// first request does not pay for it) and the continuous-batching scheduler that generation
// requests are submitted to. Front ends (the HTTP server, the terminal chat) only build prompts
// from the template and turn the event stream into their output.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/status.h"
#include "runtime/model_package.h"
#include "runtime/scheduler.h"
#include "chat/chat_template.h"

namespace qs {

class ThreadPool;

struct EngineOptions {
  // Scheduler settings; scheduler.threads is the size of the engine's thread pool (0: the
  // process default, i.e. --threads / QIUSUO_THREADS or all cores).
  SchedulerOptions scheduler;
  // The prefix cache's disk tier (runtime/disk_cache.h): a directory and its byte bound; empty:
  // none. The model's key is computed from the package path.
  std::string cache_dir;
  uint64_t cache_dir_bytes = 0;
  // Speculative decoding (runtime/speculative.h): spec.tokens drafts per decode step from the
  // model's MTP module, or from spec.draft_model when given. Off (0) by default.
  SpecOptions spec;
};

class Engine {
 public:
  // Opens `path` (model, tokenizer and chat template source: ModelPackage), compiles the
  // template, prepares the model and starts the scheduler.
  static Result<std::unique_ptr<Engine>> Open(const std::string& path, const EngineOptions& options);
  // The same for a package opened by the caller (it must hold a model and a tokenizer).
  static Result<std::unique_ptr<Engine>> Create(ModelPackage package, const EngineOptions& options);
  ~Engine();  // Shutdown()
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  Model& model() { return *package_.model; }
  const ModelConfig& config() const { return package_.config(); }
  Tokenizer& tokenizer() { return *package_.tokenizer; }
  // The template source and where it came from (the built-in one when the model has none).
  const ModelChatTemplate& chat_template_source() const { return *package_.chat_template; }
  const ChatTemplate& chat_template() const { return *template_; }
  const std::string& path() const { return package_.path; }
  ThreadPool* pool() { return pool_.get(); }
  Scheduler& scheduler() { return *scheduler_; }
  const SchedulerOptions& scheduler_options() const { return scheduler_->options(); }
  // The drafter in use ("mtp", "draft model") and its drafts per step; "" / 0 when off.
  std::string drafter_name() const { return drafter_ ? drafter_->name() : ""; }
  int spec_tokens() const { return scheduler_->options().spec_tokens; }

  // Queues a generation request; its events arrive on the handle (RequestHandle::Next).
  // nullptr and *err set when it cannot be accepted.
  std::shared_ptr<RequestHandle> Submit(GenRequest request, Scheduler::SubmitError* err) {
    return scheduler_->Submit(std::move(request), err);
  }
  // Submits and streams on the calling thread: on_event sees every event up to and including
  // kDone; the request is cancelled as soon as `cancel` (polled every `poll`) returns true.
  // Returns the kDone event (finish_reason "cancelled" when stopped), or the submit error.
  Result<GenEvent> Generate(GenRequest request, const std::function<void(const GenEvent&)>& on_event,
                            const std::function<bool()>& cancel = nullptr,
                            std::chrono::milliseconds poll = std::chrono::milliseconds(100));
  SchedulerStats Stats() const { return scheduler_->Stats(); }
  // Ends requests in flight ("cancelled") and stops the scheduler; idempotent.
  void Shutdown();

 private:
  Engine() = default;
  static Result<std::unique_ptr<Drafter>> MakeDrafter(Engine* e, const SpecOptions& spec);
  ModelPackage package_;
  std::unique_ptr<ThreadPool> pool_;
  std::optional<ChatTemplate> template_;
  std::unique_ptr<Model> draft_model_;  // --draft-model
  std::unique_ptr<Drafter> drafter_;
  std::unique_ptr<Scheduler> scheduler_;  // last: stopped before the pool and model go
};

}  // namespace qs
