// The shape of the code, checked: rooms under src/ include only rooms below them (the data flow
// of docs/ARCHITECTURE.md), no header includes itself through a loop, and no source file grows
// past the size a reader can hold (~800 lines).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <vector>

namespace fs = std::filesystem;

namespace {

// Bottom to top; a room may include only rooms listed before it (and itself).
const std::vector<std::string> kRooms = {"base",      "tensor", "io",    "quant", "kernels", "model", "convert",
                                         "tokenizer", "jinja",  "chat",  "runtime", "train", "server", "cli"};

struct Source {
  std::string rel;                   // "model/blocks/mla.h"
  std::vector<std::string> includes; // project includes, as written ("model/block.h")
  int lines = 0;
};

std::vector<Source> ReadSources() {
  std::vector<Source> out;
  const fs::path src = fs::path(QS_SOURCE_DIR) / "src";
  const std::regex inc(R"re(^\s*#\s*include\s+"([^"]+)")re");
  for (const auto& e : fs::recursive_directory_iterator(src)) {
    const std::string ext = e.path().extension().string();
    if (!e.is_regular_file() || (ext != ".cc" && ext != ".h")) continue;
    Source s;
    s.rel = fs::relative(e.path(), src).generic_string();
    std::ifstream f(e.path());
    std::string line;
    std::smatch m;
    while (std::getline(f, line)) {
      ++s.lines;
      if (std::regex_search(line, m, inc)) s.includes.push_back(m[1]);
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::string RoomOf(const std::string& rel) { return rel.substr(0, rel.find('/')); }

}  // namespace

TEST(Layering, RoomsIncludeOnlyRoomsBelowThem) {
  std::map<std::string, int> rank;
  for (size_t i = 0; i < kRooms.size(); ++i) rank[kRooms[i]] = static_cast<int>(i);
  auto sources = ReadSources();
  ASSERT_GT(sources.size(), 100u);
  for (const Source& s : sources) {
    const std::string room = RoomOf(s.rel);
    ASSERT_TRUE(rank.count(room)) << "src/" << room << "/ is not in the room list (add it to kRooms and ARCHITECTURE.md)";
    for (const auto& inc : s.includes) {
      const std::string to = RoomOf(inc);
      if (!rank.count(to)) continue;  // generated or local headers ("web_assets.h")
      EXPECT_LE(rank[to], rank[room]) << "src/" << s.rel << " includes " << inc << ": " << room << " sits below " << to;
    }
  }
}

TEST(Layering, NoIncludeLoops) {
  std::map<std::string, std::vector<std::string>> graph;
  for (const Source& s : ReadSources()) graph[s.rel] = s.includes;
  std::map<std::string, int> state;  // 0 new, 1 on the stack, 2 done
  std::vector<std::string> stack;
  std::function<void(const std::string&)> visit = [&](const std::string& f) {
    state[f] = 1;
    stack.push_back(f);
    for (const auto& g : graph[f]) {
      if (!graph.count(g)) continue;
      if (state[g] == 1) {
        std::string loop;
        for (auto it = std::find(stack.begin(), stack.end(), g); it != stack.end(); ++it) loop += *it + " -> ";
        ADD_FAILURE() << "include loop: " << loop << g;
      } else if (state[g] == 0) {
        visit(g);
      }
    }
    stack.pop_back();
    state[f] = 2;
  };
  for (const auto& [f, _] : graph)
    if (state[f] == 0) visit(f);
}

TEST(Layering, NoSourceFileOver800Lines) {
  for (const Source& s : ReadSources()) EXPECT_LE(s.lines, 800) << "src/" << s.rel << " has " << s.lines << " lines";
}
