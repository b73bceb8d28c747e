// Text-level parsers on crafted streams (the model's output arrives in arbitrary pieces).
#include "chat/text_stream.h"

#include <gtest/gtest.h>

namespace qs::chat {
namespace {

// Feeds `pieces` one by one; returns the concatenated outputs.
std::string Stops(std::vector<std::string> stops, const std::vector<std::string>& pieces, bool* stopped) {
  StopMatcher m(std::move(stops));
  std::string out;
  for (auto& p : pieces) out += m.Push(p);
  out += m.Flush();
  *stopped = m.stopped();
  return out;
}

TEST(StopMatcher, CutsAcrossPieces) {
  bool st = false;
  EXPECT_EQ(Stops({"END"}, {"hello E", "N", "D more"}, &st), "hello ");
  EXPECT_TRUE(st);
  EXPECT_EQ(Stops({"END"}, {"hello E", "N", "x"}, &st), "hello ENx");
  EXPECT_FALSE(st);
  EXPECT_EQ(Stops({"\n\n", "User:"}, {"a\n", "b User", ":", "c"}, &st), "a\nb ");
  EXPECT_EQ(Stops({}, {"a", "b"}, &st), "ab");
  EXPECT_EQ(Stops({"xx"}, {"ax", ""}, &st), "ax");  // held back, released at the end
}

TEST(StopMatcher, HoldsBackOnlyPossiblePrefixes) {
  StopMatcher m({"STOP"});
  EXPECT_EQ(m.Push("abcST"), "abc");
  EXPECT_EQ(m.Push("x"), "STx");
}

SplitText Split(bool in_think, const std::vector<std::string>& pieces) {
  ReasoningSplitter s(in_think);
  SplitText all;
  for (auto& p : pieces) {
    SplitText t = s.Push(p);
    all.reasoning += t.reasoning;
    all.content += t.content;
  }
  SplitText t = s.Flush();
  all.reasoning += t.reasoning;
  all.content += t.content;
  return all;
}

TEST(ReasoningSplitter, ThinkTagsInOutput) {
  SplitText t = Split(false, {"<th", "ink>\nLet me", " think.</th", "ink>\n\nThe answer", " is 4."});
  EXPECT_EQ(t.reasoning, "Let me think.");
  EXPECT_EQ(t.content, "The answer is 4.");
}

TEST(ReasoningSplitter, PromptOpenedThink) {
  // R1 templates end the prompt with "<think>\n": the first tokens are reasoning.
  SplitText t = Split(true, {"\n", "Hmm", ", ok", "</think>", "\n\n", "Yes."});
  EXPECT_EQ(t.reasoning, "Hmm, ok");
  EXPECT_EQ(t.content, "Yes.");
  t = Split(true, {"never closed"});
  EXPECT_EQ(t.reasoning, "never closed");
  EXPECT_EQ(t.content, "");
}

TEST(ReasoningSplitter, NoThink) {
  SplitText t = Split(false, {"Hel", "lo <think> is text here"});
  EXPECT_EQ(t.reasoning, "");
  EXPECT_EQ(t.content, "Hello <think> is text here");
  t = Split(false, {"<", "b>bold"});
  EXPECT_EQ(t.content, "<b>bold");
  t = Split(false, {"<thi"});  // stream ends undecided
  EXPECT_EQ(t.content, "<thi");
}

TEST(ToolCalls, DeepSeekV3Format) {
  const std::string text =
      "Let me check.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
      "{\"location\": \"Hangzhou\"}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n"
      "```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
  // Feed byte by byte: markers split anywhere.
  ToolCallParser p;
  std::string content;
  for (char c : text) content += p.Push(std::string(1, c));
  std::vector<ToolCall> calls;
  content += p.Finish(&calls);
  EXPECT_EQ(content, "Let me check.");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].name, "get_weather");
  EXPECT_EQ(calls[0].arguments, "{\"location\": \"Hangzhou\"}");
  EXPECT_EQ(calls[0].id, "call_0");
  EXPECT_EQ(calls[1].name, "get_time");
  EXPECT_EQ(calls[1].arguments, "{}");
}

TEST(ToolCalls, V31FormatAndTruncated) {
  auto calls = ToolCallParser::ParseCalls(
      "<｜tool▁call▁begin｜>search<｜tool▁sep｜>{\"q\": \"x\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].name, "search");
  EXPECT_EQ(calls[0].arguments, "{\"q\": \"x\"}");
  // Cut off by max_tokens inside the arguments: what is there is returned.
  calls = ToolCallParser::ParseCalls("<｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{\"a\":");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].arguments, "{\"a\":");
  EXPECT_TRUE(ToolCallParser::ParseCalls("garbage").empty());
}

TEST(ToolCalls, PlainContentPassesThrough) {
  ToolCallParser p;
  std::string out = p.Push("a <｜tool");
  out += p.Push(" not really");
  std::vector<ToolCall> calls;
  out += p.Finish(&calls);
  EXPECT_EQ(out, "a <｜tool not really");
  EXPECT_TRUE(calls.empty());
}

}  // namespace
}  // namespace qs::chat
