#include "chat/tool_calls.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace qs::chat {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\n' || s.front() == '\r' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::string DsmlTag(std::string_view name) { return "<" + std::string(ToolCallParser::kDsml) + std::string(name); }
std::string DsmlClose(std::string_view name) { return "</" + std::string(ToolCallParser::kDsml) + std::string(name) + ">"; }

// The value of attribute `attr` in a tag's text (`name="x" string="true"`), or nullopt.
bool Attr(std::string_view tag, std::string_view attr, std::string* out) {
  std::string key = std::string(attr) + "=\"";
  size_t p = tag.find(key);
  if (p == std::string_view::npos) return false;
  p += key.size();
  size_t q = tag.find('"', p);
  if (q == std::string_view::npos) return false;
  *out = std::string(tag.substr(p, q - p));
  return true;
}

}  // namespace

size_t PartialSuffix(std::string_view text, std::string_view pattern) {
  size_t max = std::min(text.size(), pattern.size() - 1);
  for (size_t n = max; n > 0; --n)
    if (text.substr(text.size() - n) == pattern.substr(0, n)) return n;
  return 0;
}

ToolCallParser::ToolCallParser(ToolSyntax syntax, std::string dsml_block) : syntax_(syntax) {
  open_ = syntax == ToolSyntax::kDsml ? DsmlTag(dsml_block) + ">" : std::string(kCallsBegin);
}

std::string_view ToolCallParser::CallEnd() const {
  static const std::string dsml_end = DsmlClose("invoke");
  return syntax_ == ToolSyntax::kDsml ? std::string_view(dsml_end) : kCallEnd;
}

std::vector<ToolCall> ToolCallParser::Parse(std::string_view section) const {
  return syntax_ == ToolSyntax::kDsml ? ParseDsml(section) : ParseCalls(section);
}

std::string ToolCallParser::Push(std::string_view content) {
  if (in_calls_) {
    section_.append(content);
    return "";
  }
  held_.append(content);
  size_t p = held_.find(open_);
  if (p != std::string::npos) {
    in_calls_ = true;
    size_t end = p;
    // DSML sets the block off with a blank line that belongs to the markup, not the content.
    if (syntax_ == ToolSyntax::kDsml)
      while (end > 0 && IsSpace(held_[end - 1])) --end;
    std::string out = held_.substr(0, end);
    section_ = held_.substr(p + open_.size());
    held_.clear();
    return out;
  }
  size_t keep = PartialSuffix(held_, open_);
  if (syntax_ == ToolSyntax::kDsml)  // whitespace that may precede the block waits too
    while (keep < held_.size() && IsSpace(held_[held_.size() - keep - 1])) ++keep;
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::vector<ToolCall> ToolCallParser::TakeCompleted() {
  if (!in_calls_) return {};
  size_t last = section_.rfind(CallEnd());
  if (last == std::string::npos) return {};
  std::vector<ToolCall> calls = Parse(std::string_view(section_).substr(0, last + CallEnd().size()));
  if (calls.size() <= taken_) return {};
  std::vector<ToolCall> out(calls.begin() + static_cast<std::ptrdiff_t>(taken_), calls.end());
  taken_ = calls.size();
  return out;
}

std::string ToolCallParser::Finish(std::vector<ToolCall>* calls) {
  calls->clear();
  if (in_calls_) *calls = Parse(section_);
  std::string out = held_;
  held_.clear();
  return out;
}

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

std::vector<ToolCall> ToolCallParser::ParseDsml(std::string_view section) {
  static const std::string invoke = DsmlTag("invoke"), invoke_end = DsmlClose("invoke");
  static const std::string param = DsmlTag("parameter"), param_end = DsmlClose("parameter");
  std::vector<ToolCall> calls;
  size_t pos = 0;
  for (;;) {
    size_t b = section.find(invoke, pos);
    if (b == std::string_view::npos) break;
    size_t gt = section.find('>', b);
    if (gt == std::string_view::npos) break;  // the tag itself is cut off: no name yet
    ToolCall c;
    if (!Attr(section.substr(b, gt - b), "name", &c.name) || c.name.empty()) break;
    size_t e = section.find(invoke_end, gt);
    std::string_view body = section.substr(gt + 1, e == std::string_view::npos ? std::string_view::npos : e - gt - 1);
    // Parameters, in the order written; one cut off (no closing tag) is left out.
    nlohmann::ordered_json args = nlohmann::ordered_json::object();
    size_t q = 0;
    for (;;) {
      size_t pb = body.find(param, q);
      if (pb == std::string_view::npos) break;
      size_t pgt = body.find('>', pb);
      if (pgt == std::string_view::npos) break;
      size_t pe = body.find(param_end, pgt);
      if (pe == std::string_view::npos) break;
      std::string_view tag = body.substr(pb, pgt - pb), value = body.substr(pgt + 1, pe - pgt - 1);
      std::string key, is_string = "true";
      Attr(tag, "string", &is_string);
      if (Attr(tag, "name", &key)) {
        // string="true": the text as is; otherwise a JSON value (kept as text if it is not one).
        nlohmann::ordered_json v = is_string == "true" ? nlohmann::ordered_json(std::string(value))
                                                       : nlohmann::ordered_json::parse(Trim(value), nullptr, false);
        if (v.is_discarded()) v = std::string(Trim(value));
        args[key] = std::move(v);
      }
      q = pe + param_end.size();
    }
    c.arguments = args.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    c.id = "call_" + std::to_string(calls.size());
    calls.push_back(std::move(c));
    if (e == std::string_view::npos) break;
    pos = e + invoke_end.size();
  }
  return calls;
}

}  // namespace qs::chat
