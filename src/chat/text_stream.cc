#include "chat/text_stream.h"

#include <algorithm>

namespace qs::chat {

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
    std::string_view tag = in_think_ ? close_ : open_;
    if (!in_think_ && seen_any_) {
      Emit(held_, &out);
      held_.clear();
      break;
    }
    if (!in_think_) {  // start of output: wait until we know whether it begins with <think>
      size_t i = 0;
      while (i < held_.size() && (held_[i] == '\n' || held_[i] == ' ')) ++i;
      std::string_view rest = std::string_view(held_).substr(i);
      if (rest.size() < open_.size() && open_.substr(0, rest.size()) == rest) break;  // undecided
      seen_any_ = true;
      if (rest.substr(0, open_.size()) == open_) {
        held_.erase(0, i + open_.size());
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

}  // namespace qs::chat
