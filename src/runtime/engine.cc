#include "runtime/engine.h"

#include "base/log.h"
#include "base/thread_pool.h"

namespace qs {

namespace {
// Two tokenizers are one vocabulary when every id has the same text (special tokens included).
Status CheckSameVocabulary(const Tokenizer& main, const Tokenizer& draft, const std::string& draft_path) {
  if (main.vocab_size() != draft.vocab_size())
    return InvalidArgument("--draft-model " + draft_path + ": its tokenizer has " + std::to_string(draft.vocab_size()) +
                           " tokens, the main model's " + std::to_string(main.vocab_size()) +
                           "; a draft model must share the main model's vocabulary");
  for (size_t i = 0; i < main.vocab_size(); ++i) {
    const int32_t id = static_cast<int32_t>(i);
    if (main.TokenText(id) != draft.TokenText(id))
      return InvalidArgument("--draft-model " + draft_path + ": token " + std::to_string(i) + " is '" +
                             draft.TokenText(id) + "' there but '" + main.TokenText(id) +
                             "' in the main model; a draft model must share the main model's vocabulary");
  }
  return Status::Ok();
}
}  // namespace

Result<std::unique_ptr<Drafter>> Engine::MakeDrafter(Engine* e, const SpecOptions& spec) {
  if (spec.tokens <= 0) return std::unique_ptr<Drafter>();
  if (spec.tokens > kMaxSpecTokens)
    return InvalidArgument("--spec-tokens " + std::to_string(spec.tokens) + ": at most " +
                           std::to_string(kMaxSpecTokens) + " drafts per step");
  Model* main = e->package_.model.get();
  if (spec.draft_model.empty()) return Drafter::Mtp(main);
  QS_ASSIGN_OR_RETURN(ModelPackage draft, OpenModelPackage(spec.draft_model));
  QS_RETURN_IF_ERROR(CheckSameVocabulary(*e->package_.tokenizer, *draft.tokenizer, spec.draft_model));
  QS_RETURN_IF_ERROR(draft.model->Prepare(e->pool_.get()));
  e->draft_model_ = std::move(draft.model);
  return Drafter::DraftModel(main, e->draft_model_.get());
}

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
  QS_ASSIGN_OR_RETURN(e->drafter_, MakeDrafter(e.get(), options.spec));
  SchedulerOptions so = options.scheduler;
  so.spec_tokens = e->drafter_ ? options.spec.tokens : 0;
  auto probe = options.cache_dir.empty() ? nullptr : e->package_.model->NewCache(1);
  if (probe && probe->ring() > 0) {
    // DeepSeek-V4's compact cache (a window ring + compressed rows) has no disk format yet.
    QS_LOG_WARN("--cache-dir: this model's compact KV cache cannot be stored on disk yet; the prefix cache stays in memory");
  } else if (probe) {
    QS_ASSIGN_OR_RETURN(uint64_t key, ModelCacheKey(e->package_.path, *probe));
    DiskCacheOptions dco;
    dco.dir = options.cache_dir;
    dco.max_bytes = options.cache_dir_bytes;
    dco.model_key = key;
    QS_ASSIGN_OR_RETURN(so.disk_cache, DiskCache::Open(dco));
  }
  e->scheduler_ = std::make_unique<Scheduler>(e->package_.model.get(), so, e->pool_.get(), e->drafter_.get());
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
