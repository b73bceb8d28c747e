// Fuzz target: JSON schema -> grammar (runtime/json_schema_grammar.*) and the grammar matcher, on
// arbitrary bytes. The input is a schema, a NUL byte, then text fed to the schema's matcher; when
// the matcher accepts the whole text as a sentence, the text must parse as JSON (the invariant the
// server's json_schema answers rely on).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "runtime/json_schema_grammar.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  size_t nul = in.find('\0');
  std::string schema_text = in.substr(0, nul), text = nul == std::string::npos ? "" : in.substr(nul + 1);
  // The server refuses bodies nested deeper than --max-json-depth before parsing; so does this.
  int depth = 0, deepest = 0;
  for (char c : schema_text) {
    if (c == '{' || c == '[') deepest = std::max(deepest, ++depth);
    else if ((c == '}' || c == ']') && depth > 0) --depth;
  }
  if (deepest > 64) return 0;
  auto schema = nlohmann::ordered_json::parse(schema_text, nullptr, false);
  if (schema.is_discarded()) return 0;
  auto g = qs::JsonSchemaToGrammar(schema);
  if (!g.ok()) return 0;
  qs::GrammarMatcher m(std::move(g).value());
  for (char c : text)
    if (!m.Feed(static_cast<uint8_t>(c))) return 0;
  if (m.CanEnd() && nlohmann::json::parse(text, nullptr, false).is_discarded()) __builtin_trap();
  return 0;
}
