#include "cli/common.h"

#include <cerrno>
#include <cstdlib>

namespace qs::cli {

Result<std::vector<int32_t>> ParseIdList(const std::string& s) {
  std::vector<int32_t> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ',' || s[i] == ' ' || s[i] == '\n' || s[i] == '\t')) ++i;
    if (i >= s.size()) break;
    size_t j = i;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
    if (j == i || j - i > 10) return InvalidArgument("--tokens/--ids: '" + s.substr(i, 12) + "' is not a token id");
    long long v = std::strtoll(s.substr(i, j - i).c_str(), nullptr, 10);
    if (v > INT32_MAX) return InvalidArgument("--tokens/--ids: " + s.substr(i, j - i) + " is too large");
    out.push_back(static_cast<int32_t>(v));
    i = j;
    if (i < s.size() && s[i] != ',' && s[i] != ' ' && s[i] != '\n' && s[i] != '\t')
      return InvalidArgument("--tokens/--ids: unexpected character '" + std::string(1, s[i]) + "'");
  }
  return out;
}

int Fail(const Status& st) {
  std::fprintf(stderr, "qiusuo: error: %s\n", st.message().c_str());
  return 1;
}

}  // namespace qs::cli
