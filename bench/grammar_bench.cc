// Constrained-decoding micro-benchmark (not part of the test suite): the time of one full token
// mask over a real vocabulary, for JSON mode and for grammar constraints (a JSON schema, a forced
// tool call), at states where few or almost all tokens are allowed. The scheduler computes a mask
// only when the unconstrained draw is refused, so this is the worst case per generated token.
// Usage: build/bench/grammar_bench TOKENIZER_DIR_OR_FILE [REPEATS]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "chat/protocol.h"
#include "runtime/grammar.h"
#include "runtime/json_constraint.h"
#include "runtime/json_schema_grammar.h"
#include "runtime/tool_grammar.h"
#include "tokenizer/tokenizer.h"

using namespace qs;
using Clock = std::chrono::steady_clock;

namespace {

double Ms(Clock::time_point a) { return std::chrono::duration<double, std::milli>(Clock::now() - a).count(); }

// Reaches a state by accepting the tokens of `prefix`, as the tokenizer splits it.
template <class C>
void Advance(C& c, const Tokenizer& tok, const std::string& prefix) {
  auto ids = tok.Encode(prefix, /*parse_special=*/true, /*add_bos=*/false);
  if (!ids.ok()) std::exit(1);
  for (int32_t id : *ids) c.Accept(id);
}

template <class C>
void Time(const char* what, C& c, size_t vocab, int repeats) {
  std::vector<uint8_t> mask(vocab, 1);
  auto t = Clock::now();
  c.Mask(&mask);  // the first mask at this state (the grammar constraint fills its state cache)
  const double first = Ms(t);
  t = Clock::now();
  size_t allowed = 0;
  for (int i = 0; i < repeats; ++i) {
    mask.assign(vocab, 1);
    c.Mask(&mask);
  }
  double ms = Ms(t) / repeats;
  for (uint8_t m : mask) allowed += m;
  std::printf("%-54s first %8.2f ms, then %7.2f ms/mask  %7zu tokens allowed\n", what, first, ms, allowed);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s TOKENIZER [REPEATS]\n", argv[0]);
    return 2;
  }
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 5;
  auto tok = Tokenizer::Load(argv[1]);
  if (!tok.ok()) {
    std::fprintf(stderr, "%s\n", tok.status().message().c_str());
    return 1;
  }
  auto t = Clock::now();
  auto vocab = VocabBytes::Build(**tok);
  std::printf("vocabulary: %zu tokens, bytes in %.1f ms", vocab->bytes.size(), Ms(t));
  t = Clock::now();
  auto trie = VocabTrie::For(vocab);
  std::printf(", prefix tree (%zu nodes) in %.1f ms\n", trie->nodes.size(), Ms(t));
  const size_t V = vocab->bytes.size();
  const std::vector<int32_t> eos = {(*tok)->eos_id()};

  {
    JsonConstraint c(vocab, eos);
    Time("json_object: start", c, V, repeats);
    Advance(c, **tok, "{\"name\": \"Al");
    Time("json_object: inside a string", c, V, repeats);
  }
  const auto schema = nlohmann::ordered_json::parse(R"({"type":"object","properties":{
      "name":{"type":"string","maxLength":32},"age":{"type":"integer","minimum":0},
      "mood":{"enum":["happy","sad"]},"tags":{"type":"array","items":{"type":"string"}}},
      "required":["name","age","mood","tags"],"additionalProperties":false})");
  auto g = JsonSchemaToGrammar(schema);
  {
    GrammarConstraint c(std::move(g).value(), vocab, eos);
    Time("json_schema: start", c, V, repeats);
    Advance(c, **tok, "{\"name\": \"Al");
    Time("json_schema: inside a string", c, V, repeats);
    Advance(c, **tok, "ice\", \"age\": 4");
    Time("json_schema: inside an integer", c, V, repeats);
  }
  {
    const auto tools = nlohmann::ordered_json::parse(R"([{"type":"function","function":{"name":"get_weather","strict":true,
        "parameters":{"type":"object","properties":{"city":{"type":"string"},"unit":{"enum":["C","F"]}},
        "required":["city","unit"],"additionalProperties":false}}},
        {"type":"function","function":{"name":"get_time","parameters":{"type":"object"}}}])");
    SpecialTokens sp(tok->get());
    ToolGrammarOptions o;
    o.mode = ToolGrammarOptions::kRequired;
    auto tg = ToolCallGrammar(chat::ProtocolFor(chat::ChatFamily::kDeepSeekV3), tools, o, &sp);
    GrammarConstraint c(std::move(tg).value(), vocab, eos, sp.tokens());
    Time("tool_choice required (V3): the name", c, V, repeats);
    Advance(c, **tok, "get_weather\n```json\n{\"city\": \"Hang");
    Time("tool_choice required (V3): inside a string argument", c, V, repeats);
  }
  return 0;
}
