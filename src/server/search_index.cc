#include "server/search_index.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#if QS_HAVE_SQLITE3
#include <sqlite3.h>
#endif

namespace qs::server {

namespace fs = std::filesystem;

namespace {

// Decodes one UTF-8 code point at s[i]; returns its length (0: invalid).
size_t DecodeUtf8(const std::string& s, size_t i, uint32_t* cp) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  uint32_t v = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < n; ++k) {
    const auto d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) return 0;
    v = (v << 6) | (d & 0x3F);
  }
  if ((n == 2 && v < 0x80) || (n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
      (v >= 0xD800 && v <= 0xDFFF))
    return 0;
  *cp = v;
  return n;
}

bool ValidUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    size_t n = DecodeUtf8(s, i, &cp);
    if (n == 0 || cp == 0) return false;
    i += n;
  }
  return true;
}

// Han, kana, hangul and CJK punctuation: scripts written without spaces between words.
bool IsCjk(uint32_t cp) {
  return (cp >= 0x2E80 && cp <= 0x9FFF) || (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
         (cp >= 0xFF00 && cp <= 0xFFEF) || (cp >= 0x20000 && cp <= 0x3FFFF);
}

// The words of `text` as the index sees them: runs of letters and digits (ASCII lower-cased;
// other non-CJK code points kept as they are), each CJK character a word of its own.
std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> words;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) words.push_back(std::move(cur));
    cur.clear();
  };
  for (size_t i = 0; i < text.size();) {
    uint32_t cp;
    size_t n = DecodeUtf8(text, i, &cp);
    if (n == 0) {  // invalid byte: a separator
      flush();
      ++i;
      continue;
    }
    if (IsCjk(cp)) {
      flush();
      words.push_back(text.substr(i, n));
    } else if (cp < 0x80) {
      if (std::isalnum(static_cast<int>(cp))) cur.push_back(static_cast<char>(std::tolower(static_cast<int>(cp))));
      else flush();
    } else {
      cur.append(text, i, n);  // other scripts' letters (é, ж): part of the word
    }
    i += n;
  }
  flush();
  return words;
}

std::string Join(const std::vector<std::string>& words, const char* sep) {
  std::string s;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i) s += sep;
    s += words[i];
  }
  return s;
}

}  // namespace

std::vector<std::string> SplitPassages(const std::string& text, size_t target) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    size_t a = cur.find_first_not_of(" \t\r\n"), b = cur.find_last_not_of(" \t\r\n");
    if (a != std::string::npos) out.push_back(cur.substr(a, b - a + 1));
    cur.clear();
  };
  size_t pos = 0;
  while (pos < text.size()) {
    size_t brk = text.find("\n\n", pos);
    size_t end = brk == std::string::npos ? text.size() : brk + 2;
    std::string para = text.substr(pos, end - pos);
    pos = end;
    if (!cur.empty() && cur.size() + para.size() > target) flush();
    // A paragraph longer than twice the target is cut at line or character boundaries.
    while (para.size() > 2 * target) {
      size_t cut = para.rfind('\n', target);
      if (cut == std::string::npos || cut < target / 2) {
        cut = target;
        while (cut < para.size() && (static_cast<unsigned char>(para[cut]) & 0xC0) == 0x80) ++cut;  // UTF-8
      }
      cur += para.substr(0, cut);
      flush();
      para.erase(0, cut);
    }
    cur += para;
  }
  flush();
  return out;
}

Result<std::vector<SearchDocument>> ReadSearchDocuments(const std::string& path, std::vector<std::string>* skipped) {
  std::vector<fs::path> files;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_regular_file()) files.push_back(it->path());
    if (ec) return IoError(path + ": " + ec.message());
    std::sort(files.begin(), files.end());
  } else if (fs::is_regular_file(path, ec)) {
    files.push_back(path);
  } else {
    return NotFound(path + ": no such file or directory");
  }
  std::vector<SearchDocument> docs;
  for (const fs::path& p : files) {
    auto size = fs::file_size(p, ec);
    if (ec || size > (16u << 20)) {
      skipped->push_back(p.string() + (ec ? ": unreadable" : ": larger than 16 MiB"));
      continue;
    }
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    if (!in || !ValidUtf8(text)) {
      skipped->push_back(p.string() + ": not UTF-8 text");
      continue;
    }
    if (p.extension() == ".jsonl") {
      std::istringstream lines(text);
      std::string line;
      int n = 0;
      while (std::getline(lines, line)) {
        ++n;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (!j.is_object() || !j.contains("text") || !j["text"].is_string()) {
          skipped->push_back(p.string() + ":" + std::to_string(n) + ": not a {title, url, text} object");
          continue;
        }
        SearchDocument d;
        d.text = j["text"].get<std::string>();
        d.title = j.value("title", "");
        d.url = j.value("url", "file://" + fs::absolute(p).string() + "#" + std::to_string(n));
        docs.push_back(std::move(d));
      }
      continue;
    }
    SearchDocument d;
    d.url = "file://" + fs::absolute(p).string();
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      size_t a = line.find_first_not_of("# \t\r");
      if (a == std::string::npos) continue;
      d.title = line.substr(a, std::min<size_t>(200, line.find_last_not_of(" \t\r") + 1 - a));
      break;
    }
    if (d.title.empty()) d.title = p.filename().string();
    d.text = std::move(text);
    docs.push_back(std::move(d));
  }
  return docs;
}

#if QS_HAVE_SQLITE3

struct Fts5Index::Db {
  sqlite3* db = nullptr;
  ~Db() {
    if (db) sqlite3_close(db);
  }
  Status Exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &err) == SQLITE_OK) return Status::Ok();
    std::string m = err ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    return IoError("search index: " + m);
  }
};

namespace {
// A prepared statement, finalized on scope exit.
struct Stmt {
  sqlite3_stmt* s = nullptr;
  ~Stmt() { sqlite3_finalize(s); }
};
Status Prepare(sqlite3* db, const char* sql, Stmt* st) {
  if (sqlite3_prepare_v2(db, sql, -1, &st->s, nullptr) == SQLITE_OK) return Status::Ok();
  return IoError(std::string("search index: ") + sqlite3_errmsg(db));
}
void Bind(Stmt& st, int i, const std::string& v) { sqlite3_bind_text(st.s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT); }
std::string Column(Stmt& st, int i) {
  const auto* t = sqlite3_column_text(st.s, i);
  return t ? std::string(reinterpret_cast<const char*>(t), static_cast<size_t>(sqlite3_column_bytes(st.s, i))) : "";
}
}  // namespace

Fts5Index::Fts5Index(std::unique_ptr<Db> db) : db_(std::move(db)) {}
Fts5Index::~Fts5Index() = default;

Result<std::unique_ptr<Fts5Index>> Fts5Index::Open(const std::string& path, bool create) {
  if (!create && !fs::exists(path)) return NotFound("search index " + path + ": no such file (create it with `qiusuo search-index add`)");
  auto db = std::make_unique<Db>();
  // FULLMUTEX: HTTP threads search concurrently on the one connection.
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  if (sqlite3_open_v2(path.c_str(), &db->db, flags, nullptr) != SQLITE_OK)
    return IoError("search index " + path + ": " + (db->db ? sqlite3_errmsg(db->db) : "cannot open"));
  sqlite3_busy_timeout(db->db, 5000);
  // body: the passage's words as indexed (Words()); title, url and text are stored as written.
  Status st = db->Exec(
      "CREATE VIRTUAL TABLE IF NOT EXISTS passages USING fts5(body, title UNINDEXED, url UNINDEXED, "
      "text UNINDEXED, tokenize = 'unicode61 remove_diacritics 0')");
  if (!st.ok()) return st.With(path + " (is it a qiusuo search index? is SQLite built with FTS5?)");
  return std::unique_ptr<Fts5Index>(new Fts5Index(std::move(db)));
}

Result<int> Fts5Index::Add(const SearchDocument& doc) {
  QS_RETURN_IF_ERROR(db_->Exec("BEGIN"));
  Stmt del, ins;
  Status st = Prepare(db_->db, "DELETE FROM passages WHERE url = ?1", &del);
  if (st.ok()) st = Prepare(db_->db, "INSERT INTO passages(body, title, url, text) VALUES(?1, ?2, ?3, ?4)", &ins);
  if (st.ok()) {
    Bind(del, 1, doc.url);
    if (sqlite3_step(del.s) != SQLITE_DONE) st = IoError(std::string("search index: ") + sqlite3_errmsg(db_->db));
  }
  int n = 0;
  for (const std::string& p : SplitPassages(doc.text)) {
    if (!st.ok()) break;
    sqlite3_reset(ins.s);
    Bind(ins, 1, Join(Words(doc.title + "\n" + p), " "));
    Bind(ins, 2, doc.title);
    Bind(ins, 3, doc.url);
    Bind(ins, 4, p);
    if (sqlite3_step(ins.s) != SQLITE_DONE) st = IoError(std::string("search index: ") + sqlite3_errmsg(db_->db));
    ++n;
  }
  if (!st.ok()) {
    (void)db_->Exec("ROLLBACK");
    return st;
  }
  QS_RETURN_IF_ERROR(db_->Exec("COMMIT"));
  return n;
}

Result<std::vector<SearchHit>> Fts5Index::Search(const std::string& query, int k) {
  // Every word quoted (a string, never an operator: NEAR, AND, *, ^ and quotes are just text), any
  // of them may match; BM25 ranks passages that have more and rarer ones first.
  std::vector<std::string> terms;
  for (std::string w : Words(query)) {
    std::string q = "\"";
    for (char c : w) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    terms.push_back(q + "\"");
    if (terms.size() >= 64) break;
  }
  std::vector<SearchHit> hits;
  if (terms.empty() || k <= 0) return hits;
  Stmt st;
  QS_RETURN_IF_ERROR(Prepare(db_->db,
                             "SELECT title, url, text, bm25(passages) FROM passages WHERE passages MATCH ?1 "
                             "ORDER BY bm25(passages) LIMIT ?2",
                             &st));
  Bind(st, 1, Join(terms, " OR "));
  sqlite3_bind_int(st.s, 2, k);
  int rc;
  while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
    SearchHit h;
    h.title = Column(st, 0);
    h.url = Column(st, 1);
    h.snippet = Column(st, 2);
    h.score = -sqlite3_column_double(st.s, 3);  // bm25(): smaller is better
    hits.push_back(std::move(h));
  }
  if (rc != SQLITE_DONE) return IoError(std::string("search index: ") + sqlite3_errmsg(db_->db));
  return hits;
}

Result<int64_t> Fts5Index::PassageCount() {
  Stmt st;
  QS_RETURN_IF_ERROR(Prepare(db_->db, "SELECT count(*) FROM passages", &st));
  if (sqlite3_step(st.s) != SQLITE_ROW) return IoError(std::string("search index: ") + sqlite3_errmsg(db_->db));
  return static_cast<int64_t>(sqlite3_column_int64(st.s, 0));
}

#else  // built without SQLite

struct Fts5Index::Db {};
Fts5Index::Fts5Index(std::unique_ptr<Db> db) : db_(std::move(db)) {}
Fts5Index::~Fts5Index() = default;
Result<std::unique_ptr<Fts5Index>> Fts5Index::Open(const std::string&, bool) {
  return Unsupported("this qiusuo was built without SQLite (install libsqlite3-dev and rebuild) for the search index");
}
Result<int> Fts5Index::Add(const SearchDocument&) { return Unsupported("built without SQLite"); }
Result<std::vector<SearchHit>> Fts5Index::Search(const std::string&, int) { return Unsupported("built without SQLite"); }
Result<int64_t> Fts5Index::PassageCount() { return Unsupported("built without SQLite"); }

#endif

}  // namespace qs::server
