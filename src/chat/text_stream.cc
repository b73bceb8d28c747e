#include "chat/text_stream.h"

#include <algorithm>

namespace qs::chat {

size_t PartialSuffix(std::string_view text, std::string_view pattern) {
  size_t max = std::min(text.size(), pattern.size() - 1);
  for (size_t n = max; n > 0; --n)
    if (text.substr(text.size() - n) == pattern.substr(0, n)) return n;
  return 0;
}

StopMatcher::StopMatcher(std::vector<std::string> stops) {
  for (auto& s : stops)
    if (!s.empty()) stops_.push_back(std::move(s));
}

std::string StopMatcher::Push(std::string_view text) {
  if (stopped_) return "";
  held_.append(text);
  size_t first = std::string::npos;
  for (auto& s : stops_) first = std::min(first, held_.find(s));
  if (first != std::string::npos) {
    stopped_ = true;
    std::string out = held_.substr(0, first);
    held_.clear();
    return out;
  }
  size_t keep = 0;
  for (auto& s : stops_) keep = std::max(keep, PartialSuffix(held_, s));
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string StopMatcher::Flush() {
  std::string out = stopped_ ? "" : held_;
  held_.clear();
  return out;
}

namespace {
constexpr std::string_view kOpen = "<think>", kClose = "</think>";
}

void ReasoningSplitter::Emit(std::string_view s, SplitText* out) {
  if (strip_ws_) {
    size_t i = 0;
    while (i < s.size() && (s[i] == '\n' || s[i] == ' ' || s[i] == '\r')) ++i;
    s.remove_prefix(i);
    if (s.empty()) return;
    strip_ws_ = false;
  }
  (in_think_ ? out->reasoning : out->content).append(s);
}

SplitText ReasoningSplitter::Push(std::string_view text) {
  SplitText out;
  held_.append(text);
  for (;;) {
    // Only a <think> at the very start of the output opens the reasoning part.
    std::string_view tag = in_think_ ? kClose : kOpen;
    if (!in_think_ && seen_any_) {
      Emit(held_, &out);
      held_.clear();
      break;
    }
    if (!in_think_) {  // start of output: wait until we know whether it begins with <think>
      size_t i = 0;
      while (i < held_.size() && (held_[i] == '\n' || held_[i] == ' ')) ++i;
      std::string_view rest = std::string_view(held_).substr(i);
      if (rest.size() < kOpen.size() && kOpen.substr(0, rest.size()) == rest) break;  // undecided
      seen_any_ = true;
      if (rest.substr(0, kOpen.size()) == kOpen) {
        held_.erase(0, i + kOpen.size());
        in_think_ = true;
        strip_ws_ = true;
      }
      continue;
    }
    size_t p = held_.find(tag);
    if (p != std::string::npos) {
      Emit(std::string_view(held_).substr(0, p), &out);
      held_.erase(0, p + tag.size());
      in_think_ = false;
      seen_any_ = true;
      strip_ws_ = true;
      continue;
    }
    size_t keep = PartialSuffix(held_, tag);
    Emit(std::string_view(held_).substr(0, held_.size() - keep), &out);
    held_.erase(0, held_.size() - keep);
    break;
  }
  return out;
}

SplitText ReasoningSplitter::Flush() {
  SplitText out;
  seen_any_ = true;
  Emit(held_, &out);
  held_.clear();
  return out;
}

std::string ToolCallParser::Push(std::string_view content) {
  if (in_calls_) {
    section_.append(content);
    return "";
  }
  held_.append(content);
  size_t p = held_.find(kCallsBegin);
  if (p != std::string::npos) {
    in_calls_ = true;
    std::string out = held_.substr(0, p);
    section_ = held_.substr(p + kCallsBegin.size());
    held_.clear();
    return out;
  }
  size_t keep = PartialSuffix(held_, kCallsBegin);
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string ToolCallParser::Finish(std::vector<ToolCall>* calls) {
  calls->clear();
  if (in_calls_) *calls = ParseCalls(section_);
  std::string out = held_;
  held_.clear();
  return out;
}

namespace {
std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\n' || s.front() == '\r' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
}  // namespace

std::vector<ToolCall> ToolCallParser::ParseCalls(std::string_view section) {
  std::vector<ToolCall> calls;
  size_t pos = 0;
  for (;;) {
    size_t b = section.find(kCallBegin, pos);
    if (b == std::string_view::npos) break;
    b += kCallBegin.size();
    size_t e = section.find(kCallEnd, b);
    std::string_view body = section.substr(b, e == std::string_view::npos ? std::string_view::npos : e - b);
    size_t sep = body.find(kSep);
    if (sep != std::string_view::npos) {
      std::string_view head = Trim(body.substr(0, sep)), rest = body.substr(sep + kSep.size());
      ToolCall c;
      if (head == "function") {  // V3 / R1: NAME\n```json\nARGS\n```
        size_t nl = rest.find('\n');
        c.name = std::string(Trim(rest.substr(0, nl)));
        std::string_view args = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
        args = Trim(args);
        if (args.substr(0, 7) == "```json") args.remove_prefix(7);
        else if (args.substr(0, 3) == "```") args.remove_prefix(3);
        args = Trim(args);
        if (args.size() >= 3 && args.substr(args.size() - 3) == "```") args.remove_suffix(3);
        c.arguments = std::string(Trim(args));
      } else {  // V3.1: NAME<｜tool▁sep｜>ARGS
        c.name = std::string(head);
        c.arguments = std::string(Trim(rest));
      }
      if (c.arguments.empty()) c.arguments = "{}";
      c.id = "call_" + std::to_string(calls.size());
      if (!c.name.empty()) calls.push_back(std::move(c));
    }
    if (e == std::string_view::npos) break;
    pos = e + kCallEnd.size();
  }
  return calls;
}

}  // namespace qs::chat
