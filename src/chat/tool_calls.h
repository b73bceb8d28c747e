// Tool calls in generated text -> OpenAI `tool_calls`, for each syntax a chat protocol names
// (chat/protocol.h). Fed incrementally as tokens are detokenized: content before the tool-call
// section passes through, the section is buffered and each call is handed out as soon as its
// markup closes (streamed `tool_calls` deltas), the rest at Finish.
//
//   V3 / R1:  <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\nARGS\n```<｜tool▁call▁end｜>…<｜tool▁calls▁end｜>
//   V3.1:     <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>NAME<｜tool▁sep｜>ARGS<｜tool▁call▁end｜>…
//   V3.2:     \n\n<｜DSML｜function_calls>\n<｜DSML｜invoke name="NAME">\n
//             <｜DSML｜parameter name="K" string="true">text</｜DSML｜parameter>\n   (string="false": a JSON value)
//             </｜DSML｜invoke>\n</｜DSML｜function_calls>
// Pure text in, text out: unit-tested on crafted streams (tests/chat/tool_calls_test.cc).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "chat/protocol.h"

namespace qs::chat {

struct ToolCall {
  std::string id, name, arguments;  // arguments: JSON text
};

class ToolCallParser {
 public:
  static constexpr std::string_view kCallsBegin = "<｜tool▁calls▁begin｜>";
  static constexpr std::string_view kCallsEnd = "<｜tool▁calls▁end｜>";
  static constexpr std::string_view kCallBegin = "<｜tool▁call▁begin｜>";
  static constexpr std::string_view kCallEnd = "<｜tool▁call▁end｜>";
  static constexpr std::string_view kSep = "<｜tool▁sep｜>";
  static constexpr std::string_view kDsml = "｜DSML｜";

  // kV3 and kV31 read both of their forms (the call's head tells them apart).
  explicit ToolCallParser(ToolSyntax syntax = ToolSyntax::kV3, std::string dsml_block = "function_calls");

  // Returns the content now safe to emit.
  std::string Push(std::string_view content);
  // The calls whose markup closed since the last TakeCompleted (ids "call_<n>" in output order).
  std::vector<ToolCall> TakeCompleted();
  // Remaining content (when no tool section started) and all calls, including those already
  // taken; a call cut off (max_tokens) is returned with what it has.
  std::string Finish(std::vector<ToolCall>* calls);
  bool in_calls() const { return in_calls_; }

  // Parse a complete V3 / V3.1 section (the text after kCallsBegin).
  static std::vector<ToolCall> ParseCalls(std::string_view section);
  // Parse DSML invokes (the text after the block's opening tag).
  static std::vector<ToolCall> ParseDsml(std::string_view section);

 private:
  std::vector<ToolCall> Parse(std::string_view section) const;
  std::string_view CallEnd() const;

  ToolSyntax syntax_;
  std::string open_;  // the section's opening marker
  bool in_calls_ = false;
  size_t taken_ = 0;
  std::string held_, section_;
};

// Length of the longest suffix of `text` that is a proper prefix of `pattern`.
size_t PartialSuffix(std::string_view text, std::string_view pattern);

}  // namespace qs::chat
