// Turns a request's generated tokens into the API's text fields: detokenize (holding back split
// UTF-8), cut at stop strings, split reasoning from the answer, lift tool calls out of the
// content, all as the model's chat protocol writes them. Shared by the HTTP server and the
// terminal chat.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "chat/protocol.h"
#include "chat/text_stream.h"
#include "chat/tool_calls.h"
#include "tokenizer/tokenizer.h"

namespace qs::chat {

struct OutputOptions {
  std::vector<std::string> stop;
  bool split_reasoning = true;  // false: the raw text with <think> tags inline
  bool prompt_in_think = false;  // the prompt ended inside <think> (R1, or thinking switched on)
  bool parse_tools = false;
  ChatProtocol protocol = ProtocolFor(ChatFamily::kDeepSeekV3);  // markers and tool-call syntax
};

struct OutputDelta {
  std::string reasoning, content;
  std::vector<ToolCall> tool_calls;  // calls whose markup closed in this step (streamed as deltas)
  bool empty() const { return reasoning.empty() && content.empty() && tool_calls.empty(); }
};

class OutputPipeline {
 public:
  OutputPipeline(const Tokenizer& tok, const OutputOptions& opt);
  // One generated token. Returns the text to emit now.
  OutputDelta Push(int32_t token);
  // Text the server forced into the prompt as if generated (a forced tool-call opening).
  OutputDelta PushText(const std::string& text);
  // End of generation: held-back text and the calls not yet handed out; `calls`: all tool calls.
  OutputDelta Finish(std::vector<ToolCall>* calls);
  bool stopped() const { return stop_.stopped(); }  // a stop string was seen
  int64_t reasoning_tokens() const { return reasoning_tokens_; }

 private:
  OutputDelta Route(const std::string& text, bool final);
  bool Hidden(int32_t token) const;  // a special token that is not markup the pipeline reads
  const Tokenizer& tok_;
  const OutputOptions opt_;
  StreamDecoder dec_;
  StopMatcher stop_;
  ReasoningSplitter split_;
  ToolCallParser tools_;
  size_t calls_out_ = 0;  // tool calls handed out in deltas so far
  int64_t reasoning_tokens_ = 0;
  bool raw_prefix_pending_;
};

}  // namespace qs::chat
