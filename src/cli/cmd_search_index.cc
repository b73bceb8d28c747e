// qiusuo search-index: the local full-text index behind the server's web_search tool
// (server/search_index.h; `serve --web-search-index PATH`).
//   search-index add --index PATH FILE|DIR...   add (or replace, by url) documents
//   search-index search --index PATH [-k N] QUERY   what the tool would return
//   search-index count --index PATH             passages held
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/common.h"
#include "server/search_index.h"

namespace qs::cli {
namespace {

struct Opts {
  std::string index, query;
  std::vector<std::string> paths;
  int k = 5;
  CLI::App *add = nullptr, *search = nullptr, *count = nullptr;
};

int Run(const Opts& o) {
  auto idx = server::Fts5Index::Open(o.index, /*create=*/o.add->parsed());
  if (!idx.ok()) return Fail(idx.status());
  if (o.add->parsed()) {
    int docs = 0, passages = 0;
    for (const std::string& p : o.paths) {
      std::vector<std::string> skipped;
      auto d = server::ReadSearchDocuments(p, &skipped);
      if (!d.ok()) return Fail(d.status());
      for (const std::string& s : skipped) std::fprintf(stderr, "qiusuo: skipped %s\n", s.c_str());
      for (const auto& doc : *d) {
        auto n = (*idx)->Add(doc);
        if (!n.ok()) return Fail(n.status().With(doc.url));
        ++docs;
        passages += *n;
      }
    }
    std::printf("added %d documents (%d passages) to %s\n", docs, passages, o.index.c_str());
    return 0;
  }
  if (o.search->parsed()) {
    auto hits = (*idx)->Search(o.query, o.k);
    if (!hits.ok()) return Fail(hits.status());
    for (size_t i = 0; i < hits->size(); ++i) {
      const auto& h = (*hits)[i];
      std::string text = h.snippet.substr(0, 200);
      for (char& c : text)
        if (c == '\n' || c == '\r') c = ' ';
      std::printf("[%zu] %.3f %s\n    %s\n    %s\n", i + 1, h.score, h.title.c_str(), h.url.c_str(), text.c_str());
    }
    return 0;
  }
  auto n = (*idx)->PassageCount();
  if (!n.ok()) return Fail(n.status());
  std::printf("%lld passages\n", static_cast<long long>(*n));
  return 0;
}

}  // namespace

QS_COMMAND(search_index, "search-index", "The local document index behind the server's web_search tool",
           [](CLI::App* app) {
             auto o = std::make_shared<Opts>();
             app->require_subcommand(1);
             o->add = app->add_subcommand("add", "add documents (files, directories, *.jsonl of {title, url, text})");
             o->add->add_option("--index", o->index, "index file (created if missing)")->required();
             o->add->add_option("paths", o->paths, "files or directories")->required();
             o->search = app->add_subcommand("search", "search the index as the web_search tool does");
             o->search->add_option("--index", o->index, "index file")->required();
             o->search->add_option("-k", o->k, "results")->check(CLI::Range(1, 100));
             o->search->add_option("query", o->query, "query")->required();
             o->count = app->add_subcommand("count", "number of passages");
             o->count->add_option("--index", o->index, "index file")->required();
             return [o] { return Run(*o); };
           });

}  // namespace qs::cli
