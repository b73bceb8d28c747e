#include "io/json_util.h"

#include <nlohmann/json.hpp>

namespace qs {

Status ParseJson(std::string_view text, const std::string& what, nlohmann::json* out) {
  try {
    *out = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(what + ": malformed JSON: " + e.what());
  }
  return Status::Ok();
}

}  // namespace qs
