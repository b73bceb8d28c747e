// Jinja templates rendered the way Hugging Face transformers renders chat templates:
// jinja2 3.x in an ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks and the
// loopcontrols extension; transformers' tojson (json.dumps, ensure_ascii=False), raise_exception
// and strftime_now globals; llama.cpp's from_json filter as an extension.
//
//   QS_ASSIGN_OR_RETURN(auto t, jinja::Template::Parse(source));
//   QS_ASSIGN_OR_RETURN(std::string text, t.Render(vars));
//
// Parse once, render many times; a Template is immutable and safe to render from many threads.
// Every failure (syntax errors, undefined access, runaway loops, size limits) is a Status whose
// message carries "line L, column C".
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/status.h"
#include "jinja/jinja_interp.h"
#include "jinja/jinja_value.h"

namespace qs::jinja {

struct Stmt;

class Template {
 public:
  static Result<Template> Parse(std::string_view source);

  // `vars` are the render() keyword arguments (messages, tools, bos_token, ...).
  Result<std::string> Render(const std::unordered_map<std::string, Value>& vars, const RenderLimits& limits = {}) const;
  // Same, with the variables given as a JSON object (key order is kept).
  Result<std::string> RenderJson(const nlohmann::ordered_json& vars, const RenderLimits& limits = {}) const;

 private:
  std::shared_ptr<const std::vector<std::unique_ptr<Stmt>>> body_;
};

}  // namespace qs::jinja
