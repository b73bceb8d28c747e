// Text-level parsers for generated output, fed incrementally as tokens are detokenized:
//   StopMatcher       - OpenAI `stop` strings: holds back text that might be the start of one.
//   ReasoningSplitter - DeepSeek-R1 `<think>…</think>` -> reasoning_content / content.
// Each is a pure function of the text stream (no tokenizer), so they are unit-tested on crafted
// streams (tests/chat/text_stream_test.cc). Tool calls: chat/tool_calls.h.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "chat/tool_calls.h"

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

// Splits `<think>reasoning</think>content` (the markers are the protocol's). `in_think`: the
// prompt already opened `<think>` (R1 templates end with "<think>\n", V3.1/V3.2 with thinking on
// with "<think>"), so the first generated tokens are reasoning. Leading whitespace right after
// <think> / </think> is dropped, as DeepSeek's API does.
class ReasoningSplitter {
 public:
  explicit ReasoningSplitter(bool in_think, std::string open = "<think>", std::string close = "</think>")
      : in_think_(in_think), strip_ws_(in_think), open_(std::move(open)), close_(std::move(close)) {}
  SplitText Push(std::string_view text);
  SplitText Flush();
  bool in_think() const { return in_think_; }

 private:
  void Emit(std::string_view s, SplitText* out);
  bool in_think_, strip_ws_, seen_any_ = false;
  std::string open_, close_;
  std::string held_;
};

}  // namespace qs::chat
