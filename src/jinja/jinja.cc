#include "jinja/jinja.h"

#include <nlohmann/json.hpp>

#include "jinja/jinja_lexer.h"
#include "jinja/jinja_parser.h"

namespace qs::jinja {

Result<Template> Template::Parse(std::string_view source) {
  QS_ASSIGN_OR_RETURN(std::vector<Token> toks, Lex(source));
  QS_ASSIGN_OR_RETURN(Body body, jinja::Parse(std::move(toks)));
  Template t;
  t.body_ = std::make_shared<const Body>(std::move(body));
  return t;
}

Result<std::string> Template::Render(const std::unordered_map<std::string, Value>& vars,
                                     const RenderLimits& limits) const {
  Interp in(&vars, limits);
  return in.Render(*body_);
}

Result<std::string> Template::RenderJson(const nlohmann::ordered_json& vars, const RenderLimits& limits) const {
  if (!vars.is_object()) return InvalidArgument("template variables must be a JSON object");
  std::unordered_map<std::string, Value> m;
  for (auto it = vars.begin(); it != vars.end(); ++it) {
    QS_ASSIGN_OR_RETURN(m[it.key()], FromJson(it.value()));
  }
  return Render(m, limits);
}

}  // namespace qs::jinja
