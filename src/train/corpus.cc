#include "train/corpus.h"

#include <fstream>
#include <nlohmann/json.hpp>

namespace qs::train {

Result<std::vector<std::string>> ReadJsonlTexts(const std::string& path) {
  std::ifstream f(path);
  if (!f) return IoError(path + ": cannot open");
  std::vector<std::string> out;
  std::string line;
  int64_t n = 0;
  while (std::getline(f, line)) {
    ++n;
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("text") || !j["text"].is_string())
      return InvalidArgument(path + ":" + std::to_string(n) + ": expected a JSON object with a string \"text\"");
    out.push_back(j["text"].get<std::string>());
  }
  return out;
}

Result<std::vector<int32_t>> TokenizeTexts(const Tokenizer& tok, const std::vector<std::string>& texts,
                                           ThreadPool* pool) {
  std::vector<std::vector<int32_t>> parts(texts.size());
  std::vector<Status> errs(texts.size(), Status::Ok());
  auto work = [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) {
      auto ids = tok.Encode(texts[static_cast<size_t>(i)], /*parse_special=*/true, /*add_bos=*/false);
      if (!ids.ok()) errs[static_cast<size_t>(i)] = ids.status();
      else parts[static_cast<size_t>(i)] = std::move(*ids);
    }
  };
  if (pool) pool->ParallelFor(static_cast<int64_t>(texts.size()), work, 64);
  else work(0, static_cast<int64_t>(texts.size()), 0);
  std::vector<int32_t> out;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (!errs[i].ok()) return InvalidArgument("text " + std::to_string(i + 1) + ": " + errs[i].message());
    out.insert(out.end(), parts[i].begin(), parts[i].end());
  }
  return out;
}

}  // namespace qs::train
