// qiusuo run: chat with a model in the terminal. With a prompt: one answer, then exit. Without:
// an interactive chat that streams tokens, shows the reasoning part dimmed, keeps the history,
// understands /clear and /exit, and stops the current answer on Ctrl-C without quitting.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "base/timer.h"
#include "cli/command.h"
#include "cli/common.h"
#include "chat/chat_prompt.h"
#include "chat/chat_template.h"
#include "chat/output.h"
#include "chat/protocol.h"
#include "runtime/engine.h"
#include "tokenizer/tokenizer.h"

namespace qs::cli {
namespace {

struct Opts {
  std::string model, prompt, system;
  int64_t max_tokens = 1024, ctx = 8192;
  float temperature = -1, top_p = -1, min_p = 0;
  int top_k = 0, threads = 0;
  int spec_tokens = 0;
  std::string draft_model;
  int64_t seed = -1;
  bool raw = false;
  bool think = false;  // switch thinking on (V3.1 / V3.2 templates; R1 always thinks)
};

std::atomic<bool> g_interrupted{false};
void OnSigint(int) { g_interrupted = true; }

constexpr const char* kDim = "\033[2m";
constexpr const char* kReset = "\033[0m";

class Chat {
 public:
  Chat(const Opts& o, Engine* engine)
      : o_(o), engine_(engine), tok_(engine->tokenizer()), mct_(engine->chat_template_source()),
        tmpl_(engine->chat_template()),
        protocol_(chat::DetectChatProtocol(mct_, engine->model().Info().chat_family)),
        eos_(chat::EndOfTurnIds(tok_, engine->config().eos_token_id, protocol_)),
        reasoning_model_(protocol_.always_reasons), tty_(isatty(1)) {
    Clear();
  }
  void Clear() {
    messages_ = nlohmann::ordered_json::array();
    if (!o_.system.empty()) messages_.push_back({{"role", "system"}, {"content", o_.system}});
  }

  // One turn: streams the answer; returns false on a hard error.
  bool Turn(const std::string& user) {
    messages_.push_back({{"role", "user"}, {"content", user}});
    chat::ChatPromptOptions po;
    if (o_.think) po.template_vars = protocol_.TemplateVars(true, "", nullptr);
    auto p = chat::BuildChatPrompt(tmpl_, mct_, protocol_, tok_, messages_, nullptr, po);
    if (!p.ok()) {
      messages_.erase(messages_.size() - 1);
      Fail(p.status());
      return false;
    }
    GenRequest g;
    g.prompt = p->ids;
    const bool reasoning = reasoning_model_ || p->in_think;  // R1 defaults when the answer starts by reasoning
    g.sampling.temperature = o_.temperature >= 0 ? o_.temperature : (reasoning ? 0.6f : 1.0f);
    g.sampling.top_p = o_.top_p >= 0 ? o_.top_p : (reasoning ? 0.95f : 1.0f);
    g.sampling.top_k = o_.top_k;
    g.sampling.min_p = o_.min_p;
    if (o_.seed >= 0) g.sampling.seed = static_cast<uint64_t>(o_.seed), g.sampling.has_seed = true;
    g.max_tokens = std::min<int64_t>(o_.max_tokens, o_.ctx - static_cast<int64_t>(p->ids.size()));
    g.stop_ids = eos_;
    auto refuse = [&] {
      messages_.erase(messages_.size() - 1);
      std::fprintf(stderr, "qiusuo: the conversation no longer fits the context (%lld tokens): /clear it\n",
                   static_cast<long long>(o_.ctx));
      return true;
    };
    if (g.max_tokens <= 0) return refuse();
    chat::OutputOptions oo;
    oo.split_reasoning = !o_.raw;
    oo.prompt_in_think = p->in_think;
    oo.protocol = protocol_;
    chat::OutputPipeline pipe(tok_, oo);
    std::string content;
    bool in_reasoning = false;
    // Reasoning goes dimmed to the terminal, or to stderr when stdout is not one.
    auto show = [&](const chat::OutputDelta& d) {
      if (!d.reasoning.empty()) {
        if (tty_) {
          if (!in_reasoning) std::fputs(kDim, stdout), in_reasoning = true;
          std::fputs(d.reasoning.c_str(), stdout);
        } else {
          std::fputs(d.reasoning.c_str(), stderr);
        }
      }
      if (!d.content.empty()) {
        if (in_reasoning) std::fputs((std::string(kReset) + "\n\n").c_str(), stdout), in_reasoning = false;
        std::fputs(d.content.c_str(), stdout);
        content += d.content;
      }
      std::fflush(stdout);
    };
    g_interrupted = false;
    Timer t;
    int64_t n = 0;
    // Ctrl-C cancels the request; the engine still ends it with a kDone ("cancelled").
    auto done = engine_->Generate(
        std::move(g),
        [&](const GenEvent& ev) {
          if (ev.kind == GenEvent::kToken) ++n, show(pipe.Push(ev.token));
        },
        [] { return g_interrupted.load(); });
    if (!done.ok()) return refuse();
    const std::string finish = done->finish_reason;
    if (!done->error.ok()) Fail(done->error);
    std::vector<chat::ToolCall> calls;
    show(pipe.Finish(&calls));
    if (in_reasoning) std::fputs(kReset, stdout);
    std::fputs("\n", stdout);
    double s = t.Seconds();
    if (tty_ || o_.prompt.empty()) {
      char spec[96] = "";
      if (done->drafted > 0)
        std::snprintf(spec, sizeof spec, ", drafts %llu/%llu accepted (%.0f%%)",
                      static_cast<unsigned long long>(done->accepted), static_cast<unsigned long long>(done->drafted),
                      100.0 * static_cast<double>(done->accepted) / static_cast<double>(done->drafted));
      std::fprintf(stderr, "%s[%lld tokens, %.1f tok/s%s%s]%s\n", tty_ ? kDim : "", static_cast<long long>(n),
                   s > 0 ? static_cast<double>(n) / s : 0.0, spec, finish == "cancelled" ? ", stopped" : "",
                   tty_ ? kReset : "");
    }
    messages_.push_back({{"role", "assistant"}, {"content", content}});
    return true;
  }

 private:
  const Opts& o_;
  Engine* engine_;
  const Tokenizer& tok_;
  const ModelChatTemplate& mct_;
  const ChatTemplate& tmpl_;
  chat::ChatProtocol protocol_;  // before eos_: the end-of-turn tokens are the protocol's
  std::vector<int32_t> eos_;
  bool reasoning_model_, tty_;
  nlohmann::ordered_json messages_;
};

int Run(const Opts& o) {
  EngineOptions eo;
  eo.scheduler.ctx = o.ctx;
  eo.scheduler.threads = Threads(o.threads);
  eo.spec.tokens = o.spec_tokens;
  eo.spec.draft_model = o.draft_model;
  auto engine = Engine::Open(o.model, eo);
  if (!engine.ok()) return Fail(engine.status());
  // Ctrl-C stops the answer in progress (no SA_RESTART: a read at the prompt is interrupted too).
  struct sigaction sa {};
  sa.sa_handler = OnSigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  Chat chat(o, engine->get());
  if (!o.prompt.empty()) return chat.Turn(o.prompt) ? 0 : 1;
  const bool tty_in = isatty(0);
  if (tty_in) std::fprintf(stderr, "qiusuo chat: /clear forgets the conversation, /exit (or Ctrl-D) quits, Ctrl-C stops an answer\n");
  std::string line;
  for (;;) {
    if (tty_in) std::fputs("> ", stdout), std::fflush(stdout);
    g_interrupted = false;
    if (!std::getline(std::cin, line)) {
      if (g_interrupted && !std::cin.eof()) {  // Ctrl-C at the prompt: a fresh prompt
        std::cin.clear();
        std::fputs("\n", stdout);
        continue;
      }
      break;
    }
    if (line == "/exit" || line == "/quit") break;
    if (line == "/clear") {
      chat.Clear();
      std::fputs("(conversation cleared)\n", stderr);
      continue;
    }
    if (line.empty()) continue;
    if (!chat.Turn(line)) return 1;
  }
  return 0;
}

}  // namespace

QS_COMMAND(run, "run", "chat in the terminal (one answer when a prompt is given)", [](CLI::App* app) {
  auto o = std::make_shared<Opts>();
  app->add_option("--model,-m", o->model, "model directory")->required();
  app->add_option("prompt", o->prompt, "one-shot prompt (omit for an interactive chat)");
  app->add_option("--system", o->system, "system prompt");
  app->add_option("-n,--max-tokens", o->max_tokens, "longest answer")->check(CLI::Range(1, 1 << 24));
  app->add_option("--ctx,-c", o->ctx, "context tokens")->check(CLI::Range(16, 1 << 24));
  app->add_option("--temperature", o->temperature, "sampling temperature (default 1, 0.6 for reasoning models)");
  app->add_option("--top-p", o->top_p, "nucleus sampling (default 1, 0.95 for reasoning models)");
  app->add_option("--top-k", o->top_k, "top-k sampling (0: off)");
  app->add_option("--min-p", o->min_p, "min-p sampling (0: off)");
  app->add_option("--seed", o->seed, "random seed (reproducible answers)");
  app->add_option("--threads,-t", o->threads, "threads (default: all cores)");
  app->add_option("--spec-tokens", o->spec_tokens,
                  "speculative decoding: drafts per step from the MTP module or --draft-model (0: off)")
      ->check(CLI::Range(0, 8));
  app->add_option("--draft-model", o->draft_model, "draft model (same vocabulary) for --spec-tokens, instead of MTP");
  app->add_flag("--raw", o->raw, "print <think> tags inline instead of dimming the reasoning");
  app->add_flag("--think", o->think, "switch thinking on where the chat template has a switch (DeepSeek-V3.1, V3.2)");
  return [o] { return Run(*o); };
});

}  // namespace qs::cli
