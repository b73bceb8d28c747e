// JSON Schema -> grammar rules (runtime/grammar.h), for `response_format: {type: "json_schema"}`
// and `strict: true` tools. Covers the subset SDKs send (OpenAI's structured outputs subset, what
// zod / pydantic emit), as llama.cpp's json-schema-to-grammar and vLLM's guided decoding do:
//
//   type (a name or a list), object + properties + required + additionalProperties (false, true,
//   or a schema with no properties: a map), array + items + minItems/maxItems, string +
//   minLength/maxLength, number, integer (minimum >= 0 forbids '-'), boolean, null, enum, const,
//   anyOf / oneOf (as anyOf), allOf of one schema, nullable, $ref to #/$defs/... or
//   #/definitions/... (recursion allowed), {} or true (any JSON value).
//
// Objects are written with their properties in the schema's order; optional ones may be left out;
// properties not declared are never generated (valid under every additionalProperties). Keywords
// that only annotate (title, description, default, examples, $schema, $id, $comment, deprecated,
// readOnly, writeOnly, strict) are ignored. Any other keyword (pattern, format, minimum beyond the
// above, multipleOf, uniqueItems, patternProperties, not, if/then/else, ...) is refused: the error
// names it, so that a client never gets output that silently breaks its schema.
//
// Numbers are bounded (at most 16 integer digits, 16 fraction digits, 2 exponent digits: no overflow) and
// whitespace is at most one space after ':' and ',', so that generation always ends.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"
#include "runtime/grammar.h"

namespace qs {

class JsonSchemaGrammar {
 public:
  // `root`: the whole schema document ($ref targets are looked up in it).
  JsonSchemaGrammar(Grammar* g, const nlohmann::ordered_json& root) : g_(g), root_(root) {}
  // A rule for the values `schema` accepts; an error names the unsupported keyword and where.
  Result<int> Compile(const nlohmann::ordered_json& schema, const std::string& path = "#");
  // A rule for any JSON value / any JSON object (RFC 8259 with the bounds above).
  int AnyValue();
  int AnyObject();
  int Str();  // any JSON string
  int Ws();   // "" | " "

 private:
  Result<int> CompileObject(const nlohmann::ordered_json& s, const std::string& path);
  Result<int> CompileArray(const nlohmann::ordered_json& s, const std::string& path);
  Result<int> CompileType(const std::string& type, const nlohmann::ordered_json& s, const std::string& path);
  int StringRule(int min_len, int max_len);
  int Number(bool integer, bool non_negative);
  int Literal(const nlohmann::ordered_json& value);
  Grammar* g_;
  const nlohmann::ordered_json& root_;
  std::map<std::string, int> refs_;  // $ref -> rule (filled before compiling: recursion)
  int any_ = -1, any_obj_ = -1, str_ = -1, ws_ = -1, chr_ = -1;
  int depth_ = 0;
};

// Builds a whole grammar whose sentences are the values `schema` accepts (`response_format`).
Result<std::shared_ptr<Grammar>> JsonSchemaToGrammar(const nlohmann::ordered_json& schema);

}  // namespace qs
