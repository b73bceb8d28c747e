#include "chat/output.h"

namespace qs::chat {

OutputPipeline::OutputPipeline(const Tokenizer& tok, const OutputOptions& opt)
    : tok_(tok), opt_(opt), dec_(tok), stop_(opt.stop),
      split_(opt.prompt_in_think, opt.protocol.think_open, opt.protocol.think_close),
      tools_(opt.protocol.tools, opt.protocol.dsml_block),
      raw_prefix_pending_(!opt.split_reasoning && opt.prompt_in_think) {}

OutputDelta OutputPipeline::Route(const std::string& text, bool final) {
  OutputDelta d;
  if (!opt_.split_reasoning) {
    d.content = text;
    if (raw_prefix_pending_) {  // raw mode: show the <think> the prompt opened
      d.content = opt_.protocol.think_open + "\n" + d.content;
      raw_prefix_pending_ = false;
    }
  } else {
    SplitText s = split_.Push(text);
    if (final) {
      SplitText f = split_.Flush();
      s.reasoning += f.reasoning;
      s.content += f.content;
    }
    d.reasoning = std::move(s.reasoning);
    d.content = std::move(s.content);
  }
  if (opt_.parse_tools) {
    d.content = tools_.Push(d.content);
    d.tool_calls = tools_.TakeCompleted();
    calls_out_ += d.tool_calls.size();
  }
  return d;
}

bool OutputPipeline::Hidden(int32_t token) const {
  // Special tokens are control, not text: a model (random weights, or one that drifts) may emit
  // <｜place▁holder▁no▁N｜>, <｜User｜>, <｜fim▁hole｜>... Only the markup the reasoning splitter and
  // the tool-call parsers read passes through; the rest is never shown.
  if (!tok_.IsSpecial(token)) return false;
  const std::string_view t = tok_.TokenBytes(token);
  return t != opt_.protocol.think_open && t != opt_.protocol.think_close &&
         t.find("tool▁") == std::string_view::npos && t.find(ToolCallParser::kDsml) == std::string_view::npos;
}

OutputDelta OutputPipeline::Push(int32_t token) {
  if (stop_.stopped()) return {};
  if (Hidden(token)) return {};
  if (opt_.split_reasoning && split_.in_think()) ++reasoning_tokens_;
  return Route(stop_.Push(dec_.Push(token)), false);
}

OutputDelta OutputPipeline::PushText(const std::string& text) {
  if (stop_.stopped()) return {};
  return Route(stop_.Push(text), false);
}

OutputDelta OutputPipeline::Finish(std::vector<ToolCall>* calls) {
  std::string rest = stop_.stopped() ? "" : stop_.Push(dec_.Flush());
  rest += stop_.Flush();
  OutputDelta d = Route(rest, true);
  calls->clear();
  if (opt_.parse_tools) {
    d.content += tools_.Finish(calls);
    // Calls cut off before their markup closed come out now, after those already handed out.
    for (size_t i = calls_out_; i < calls->size(); ++i) d.tool_calls.push_back((*calls)[i]);
    calls_out_ = calls->size();
  }
  return d;
}

}  // namespace qs::chat
