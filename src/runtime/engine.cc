#include "runtime/engine.h"

#include "base/thread_pool.h"

namespace qs {

Result<std::unique_ptr<Engine>> Engine::Open(const std::string& path, const EngineOptions& options) {
  ModelPackageOptions po;
  po.chat_template = true;
  QS_ASSIGN_OR_RETURN(ModelPackage package, OpenModelPackage(path, po));
  return Create(std::move(package), options);
}

Result<std::unique_ptr<Engine>> Engine::Create(ModelPackage package, const EngineOptions& options) {
  if (!package.model || !package.tokenizer)
    return InvalidArgument(package.path + ": the engine needs the model and its tokenizer");
  std::unique_ptr<Engine> e(new Engine());
  e->package_ = std::move(package);
  if (!e->package_.chat_template) {
    QS_ASSIGN_OR_RETURN(e->package_.chat_template, LoadChatTemplate(e->package_.path));
  }
  // A template that does not compile is an error before the (long) repacking.
  auto t = ChatTemplate::Compile(e->package_.chat_template->source);
  if (!t.ok()) return t.status().With("chat template " + e->package_.chat_template->origin);
  e->template_.emplace(std::move(*t));
  e->pool_ = std::make_unique<ThreadPool>(options.scheduler.threads);
  // Repack now rather than in the first request.
  QS_RETURN_IF_ERROR(e->package_.model->Prepare(e->pool_.get()));
  SchedulerOptions so = options.scheduler;
  if (!options.cache_dir.empty()) {
    auto probe = e->package_.model->NewCache(1);
    QS_ASSIGN_OR_RETURN(uint64_t key, ModelCacheKey(e->package_.path, *probe));
    DiskCacheOptions dco;
    dco.dir = options.cache_dir;
    dco.max_bytes = options.cache_dir_bytes;
    dco.model_key = key;
    QS_ASSIGN_OR_RETURN(so.disk_cache, DiskCache::Open(dco));
  }
  e->scheduler_ = std::make_unique<Scheduler>(e->package_.model.get(), so, e->pool_.get());
  return e;
}

Engine::~Engine() { Shutdown(); }

void Engine::Shutdown() {
  if (scheduler_) scheduler_->Shutdown();
}

Result<GenEvent> Engine::Generate(GenRequest request, const std::function<void(const GenEvent&)>& on_event,
                                  const std::function<bool()>& cancel, std::chrono::milliseconds poll) {
  Scheduler::SubmitError err;
  auto h = Submit(std::move(request), &err);
  if (!h) {
    switch (err) {
      case Scheduler::SubmitError::kTooLong:
        return InvalidArgument("the prompt is empty or does not fit the context (" +
                               std::to_string(scheduler_->options().ctx) + " tokens)");
      case Scheduler::SubmitError::kQueueFull: return OutOfRange("too many requests queued");
      default: return InvalidArgument("the engine is stopped");
    }
  }
  for (;;) {
    if (cancel && cancel()) h->Cancel();
    GenEvent ev;
    if (!h->Next(&ev, poll)) continue;
    if (on_event) on_event(ev);
    if (ev.kind == GenEvent::kDone) return ev;
  }
}

}  // namespace qs
