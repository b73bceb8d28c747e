// The search behind the server-side `web_search` tool (server/web_search.h): a small interface,
// and its default backend, a local full-text index of documents the operator adds
// (`qiusuo search-index add`), kept in one SQLite file with an FTS5 table (BM25 ranking;
// https://www.sqlite.org/fts5.html). Another backend (a web search API, a vector store) only has
// to implement SearchBackend.
//
// Documents are split into passages of about a thousand bytes at paragraph breaks; a hit is a
// passage. CJK characters are indexed one per token (FTS5's unicode61 tokenizer would take a whole
// run of Han characters as one word, so "杭州" would never match "杭州西湖"); queries are read as
// plain words, never as FTS5 query syntax, so any text a model writes is a valid query.
//
// Built without SQLite (no libsqlite3-dev), Fts5Index::Open returns Unsupported and the rest of
// the server is unchanged.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"

namespace qs::server {

struct SearchHit {
  std::string title;
  std::string url;      // where the passage comes from (a document's URL, or file://PATH)
  std::string snippet;  // the passage text
  double score = 0;     // larger is better (backend-specific)
};

class SearchBackend {
 public:
  virtual ~SearchBackend() = default;
  // At most `k` hits for `query`, best first. Must be safe to call from several threads.
  virtual Result<std::vector<SearchHit>> Search(const std::string& query, int k) = 0;
};

struct SearchDocument {
  std::string title, url, text;
};

class Fts5Index : public SearchBackend {
 public:
  // Opens (`create`: creating if missing) the index file at `path`.
  static Result<std::unique_ptr<Fts5Index>> Open(const std::string& path, bool create);
  ~Fts5Index() override;

  Result<std::vector<SearchHit>> Search(const std::string& query, int k) override;
  // Adds a document (its passages); a document with the same url is replaced. Returns the number
  // of passages written.
  Result<int> Add(const SearchDocument& doc);
  Result<int64_t> PassageCount();

  struct Db;

 private:
  explicit Fts5Index(std::unique_ptr<Db> db);
  std::unique_ptr<Db> db_;
};

// Documents from a file or a directory tree, for `search-index add`: *.jsonl files hold one
// {"title", "url", "text"} object per line; other files of valid UTF-8 text (up to 16 MiB, no
// NUL bytes) are one document each, titled by their first non-empty line, url file://ABSPATH.
// Binary and unreadable files are skipped and listed in *skipped.
Result<std::vector<SearchDocument>> ReadSearchDocuments(const std::string& path, std::vector<std::string>* skipped);

// Splits text into passages of about `target` bytes at paragraph breaks (exposed for tests).
std::vector<std::string> SplitPassages(const std::string& text, size_t target = 1000);

}  // namespace qs::server
