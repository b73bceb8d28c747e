// Small helpers shared by the subcommands.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "base/status.h"

namespace qs::cli {

// "0,17,5" or "0 17 5" -> ids. Error on anything that is not a non-negative integer.
Result<std::vector<int32_t>> ParseIdList(const std::string& s);
// Prints "qiusuo: error: <message>" to stderr and returns exit code 1.
int Fail(const Status& st);

}  // namespace qs::cli
