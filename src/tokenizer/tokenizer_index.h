// Internal: the string -> id index of a Tokenizer.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "tokenizer/str_index.h"
#include "tokenizer/tokenizer.h"

namespace qs {

struct Tokenizer::TokenIndex {
  tok::StrIndex index;  // over Tokenizer::id_to_token_
};

}  // namespace qs
