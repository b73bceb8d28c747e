// Shared code never names an architecture: every family's names (Hugging Face class, model_type,
// llama.cpp architecture) live in its spec under src/model/arch/. This test reads every source
// file outside that folder and fails on any of those names written as a string literal, and on
// any "...ForCausalLM" literal at all (an unregistered family tested by name is the same smell),
// and on literals that are the leading part of a class name ("Qwen", "Llama", "Deepseek").
//
// Not scanned: the tokenizer's pre-tokenizer tables, whose keys are llama.cpp's
// `tokenizer.ggml.pre` values ("qwen2", "llama3", "deepseek-v3", ...) — a tokenizer vocabulary
// that happens to share spellings, not an architecture switch.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "model/arch/arch.h"

namespace fs = std::filesystem;

namespace {

std::string StripComments(const std::string& text) {
  std::string out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    // Drop // comments that are not inside a string literal (good enough for our code style).
    bool in_str = false;
    size_t cut = std::string::npos;
    for (size_t i = 0; i + 1 < line.size(); ++i) {
      if (line[i] == '"' && (i == 0 || line[i - 1] != '\\')) in_str = !in_str;
      if (!in_str && line[i] == '/' && line[i + 1] == '/') {
        cut = i;
        break;
      }
    }
    out += line.substr(0, cut) + "\n";
  }
  return out;
}

}  // namespace

TEST(ArchNames, SharedCodeNeverNamesAnArchitecture) {
  std::set<std::string> names;
  for (const qs::ArchSpec* s : qs::AllArchitectures()) {
    for (const auto& n : s->hf_architectures) names.insert(n);
    for (const auto& n : s->model_types) names.insert(n);
    if (!s->gguf_arch.empty()) names.insert(s->gguf_arch);
  }
  ASSERT_GE(names.size(), 8u) << "the specs did not register (arch/ objects not linked?)";
  const std::set<std::string> exempt = {"src/tokenizer/pretokenizer.cc", "src/tokenizer/tokenizer_load.cc",
                                        "src/tokenizer/tokenizer_gguf_export.cc"};
  const fs::path root = QS_SOURCE_DIR;
  const std::regex causal_lm("\"[A-Za-z0-9]+ForCausalLM\"");
  int files = 0;
  std::vector<std::string> hits;
  for (const auto& e : fs::recursive_directory_iterator(root / "src")) {
    if (!e.is_regular_file()) continue;
    const std::string ext = e.path().extension().string();
    if (ext != ".cc" && ext != ".h") continue;
    const std::string rel = fs::relative(e.path(), root).generic_string();
    if (rel.rfind("src/model/arch/", 0) == 0 || exempt.count(rel)) continue;
    std::ifstream f(e.path());
    std::stringstream ss;
    ss << f.rdbuf();
    const std::string code = StripComments(ss.str());
    ++files;
    for (const auto& n : names)
      if (code.find("\"" + n + "\"") != std::string::npos) hits.push_back(rel + ": \"" + n + "\"");
    // Fragments of a class name ("Qwen", "Llama", "Deepseek") are the same test by substring.
    for (const qs::ArchSpec* s : qs::AllArchitectures())
      for (const auto& n : s->hf_architectures)
        for (size_t len = 4; len < n.size(); ++len)
          if (code.find("\"" + n.substr(0, len) + "\"") != std::string::npos)
            hits.push_back(rel + ": \"" + n.substr(0, len) + "\" (part of " + n + ")");
    if (std::regex_search(code, causal_lm)) hits.push_back(rel + ": a \"...ForCausalLM\" literal");
  }
  EXPECT_GT(files, 50);
  for (const auto& h : hits) ADD_FAILURE() << "architecture named outside src/model/arch/: " << h;
}
