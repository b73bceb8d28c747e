// Text-level parsers for generated output, fed incrementally as tokens are detokenized:
//   StopMatcher       - OpenAI `stop` strings: holds back text that might be the start of one.
//   ReasoningSplitter - DeepSeek-R1 `<think>…</think>` -> reasoning_content / content.
//   ToolCallParser    - DeepSeek-V3/R1 tool-call tokens -> OpenAI `tool_calls`.
// Each is a pure function of the text stream (no tokenizer), so they are unit-tested on crafted
// streams (tests/server/text_stream_test.cc).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace qs::chat {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);
  // Returns the text now safe to emit. After a stop string is seen, stopped() is true and the
  // text from the stop string on is dropped.
  std::string Push(std::string_view text);
  std::string Flush();  // held-back text at the end of the stream
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

struct SplitText {
  std::string reasoning, content;
};

// Splits `<think>reasoning</think>content`. `in_think`: the prompt already opened `<think>` (R1
// templates end with "<think>\n"), so the first generated tokens are reasoning. Leading
// whitespace right after <think> / </think> is dropped, as DeepSeek's API does.
class ReasoningSplitter {
 public:
  explicit ReasoningSplitter(bool in_think) : in_think_(in_think), strip_ws_(in_think) {}
  SplitText Push(std::string_view text);
  SplitText Flush();
  bool in_think() const { return in_think_; }

 private:
  void Emit(std::string_view s, SplitText* out);
  bool in_think_, strip_ws_, seen_any_ = false;
  std::string held_;
};

struct ToolCall {
  std::string id, name, arguments;  // arguments: JSON text
};

// DeepSeek-V3 / R1 (and V3.1) tool-call text:
//   <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\nARGS\n```<｜tool▁call▁end｜>…<｜tool▁calls▁end｜>
//   V3.1: <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>NAME<｜tool▁sep｜>ARGS<｜tool▁call▁end｜>…
// Streaming: Push returns content text up to the start of the tool-call section, which is then
// buffered until Finish parses it.
class ToolCallParser {
 public:
  static constexpr std::string_view kCallsBegin = "<｜tool▁calls▁begin｜>";
  static constexpr std::string_view kCallsEnd = "<｜tool▁calls▁end｜>";
  static constexpr std::string_view kCallBegin = "<｜tool▁call▁begin｜>";
  static constexpr std::string_view kCallEnd = "<｜tool▁call▁end｜>";
  static constexpr std::string_view kSep = "<｜tool▁sep｜>";

  std::string Push(std::string_view content);
  // Remaining content (when no tool section started) and the parsed calls.
  std::string Finish(std::vector<ToolCall>* calls);
  bool in_calls() const { return in_calls_; }

  // Parses a complete tool-call section (text after kCallsBegin). Ids: "call_<n>".
  static std::vector<ToolCall> ParseCalls(std::string_view section);

 private:
  bool in_calls_ = false;
  std::string held_, section_;
};

// Length of the longest suffix of `text` that is a proper prefix of `pattern`.
size_t PartialSuffix(std::string_view text, std::string_view pattern);

}  // namespace qs::chat
