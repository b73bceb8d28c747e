// Jinja parser: tokens -> syntax tree, a port of jinja2's parser.py (same precedence, same
// statements, same errors for what jinja2 rejects at compile time).
#pragma once

#include "jinja/jinja_ast.h"

namespace qs::jinja {

// Nesting limits: deeper templates are rejected instead of overflowing the stack.
inline constexpr int kMaxParseDepth = 200;

// Unknown filters/tests are compile-time errors in jinja2, except inside `if` blocks and inline
// if-expressions, where they only fail when executed (IsKnownFilter/IsKnownTest decide).
Result<Body> Parse(std::vector<Token> tokens);

bool IsKnownFilter(const std::string& name);
bool IsKnownTest(const std::string& name);

}  // namespace qs::jinja
