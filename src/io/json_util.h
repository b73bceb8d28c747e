// Parsing JSON from untrusted text without exceptions escaping, and typed field access that
// names the field on error.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "base/status.h"

namespace qs {

// Parses `text`; on failure the message starts with `what` (e.g. the file name).
Status ParseJson(std::string_view text, const std::string& what, nlohmann::json* out);

}  // namespace qs
