#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pretokenizer.h"

#include <pcre2.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>

#include "tokenizer/byte_level.h"

namespace qs::tok {
namespace {

// GPT-2's regex, used by ByteLevel(use_regex = true) in HF tokenizers.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// GGUF `tokenizer.ggml.pre` -> the regexes of the original tokenizer.json pre_tokenizer, in order.
// (llama.cpp keeps these lists in llama-vocab.cpp, sometimes rewritten for its own regex engine;
// these are the Hugging Face originals, which PCRE2 runs unchanged.) Non-ASCII characters are
// written as \x{...} escapes: as literal text, editors and tools may NFC-normalize them (U+2126 OHM
// SIGN silently becomes U+03A9), which changes the character classes.
const std::map<std::string, std::vector<std::string>>& GgufPreTable() {
  static const auto* table = new std::map<std::string, std::vector<std::string>>{
      {"llama-bpe",
       {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}},
      {"deepseek-llm",
       {"[\r\n]",
        "\\s?["
        "A-Za-z\\x{00B5}\\x{00C0}-\\x{00D6}\\x{00D8}-\\x{00F6}\\x{00F8}-\\x{01BA}"
        "\\x{01BC}-\\x{01BF}\\x{01C4}-\\x{0293}\\x{0295}-\\x{02AF}\\x{0370}-\\x{0373}\\x{0376}"
        "\\x{0377}\\x{037B}-\\x{037D}\\x{037F}\\x{0386}\\x{0388}-\\x{038A}\\x{038C}"
        "\\x{038E}-\\x{03A1}\\x{03A3}-\\x{03F5}\\x{03F7}-\\x{0481}\\x{048A}-\\x{052F}"
        "\\x{0531}-\\x{0556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}"
        "\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}"
        "\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}"
        "\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}"
        "\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}"
        "\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}"
        "\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}"
        "\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}"
        "\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}"
        "\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}"
        "\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}"
        "\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}"
        "\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}"
        "\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}"
        "]+",
        "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
        "\\s+$",
        "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+",
        "\\p{N}+"}},
      {"deepseek-coder",
       {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+", "\\p{N}"}},
      {"deepseek-v3",
       {"\\p{N}{1,3}",
        "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}},
      {"qwen2",
       {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}},
      {"gpt-2", {kGpt2Pattern}},
      // llama.cpp's fallback list for BPE vocabs without a known pre-tokenizer.
      {"default",
       {R"([\p{P}\$\+<=>\^~\|]+)", R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))",
        R"(\p{N}+)", "[0-9][0-9][0-9]"}},
  };
  return *table;
}

const std::map<std::string, std::string>& GgufPreAliases() {
  static const auto* aliases = new std::map<std::string, std::string>{
      {"llama3", "llama-bpe"}, {"llama-v3", "llama-bpe"}, {"deepseek-r1-qwen", "qwen2"},
      {"gpt2", "gpt-2"},
  };
  return *aliases;
}

Result<SplitBehavior> ParseBehavior(const nlohmann::json& j, const std::string& where) {
  if (!j.is_string()) return InvalidArgument(where + ": Split.behavior must be a string");
  const std::string b = j.get<std::string>();
  if (b == "Removed") return SplitBehavior::kRemoved;
  if (b == "Isolated") return SplitBehavior::kIsolated;
  if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (b == "Contiguous") return SplitBehavior::kContiguous;
  return InvalidArgument(where + ": unknown Split.behavior \"" + b + "\"");
}

bool GetBool(const nlohmann::json& j, const char* key, bool def) {
  return j.contains(key) && j[key].is_boolean() ? j[key].get<bool>() : def;
}

Status ParseStep(const nlohmann::json& j, const std::string& where, std::vector<PreTokStep>* steps) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    return InvalidArgument(where + ": pre_tokenizer: expected an object with a string \"type\"");
  const std::string type = j["type"].get<std::string>();
  if (type == "Sequence") {
    if (!j.contains("pretokenizers") || !j["pretokenizers"].is_array())
      return InvalidArgument(where + ": pre_tokenizer Sequence: missing array \"pretokenizers\"");
    for (const auto& s : j["pretokenizers"]) QS_RETURN_IF_ERROR(ParseStep(s, where, steps));
    return Status::Ok();
  }
  PreTokStep step;
  if (type == "Split") {
    if (!j.contains("pattern") || !j["pattern"].is_object())
      return InvalidArgument(where + ": Split: missing object \"pattern\"");
    const auto& p = j["pattern"];
    bool literal;
    std::string pattern;
    if (p.contains("Regex") && p["Regex"].is_string()) {
      literal = false;
      pattern = p["Regex"].get<std::string>();
    } else if (p.contains("String") && p["String"].is_string()) {
      literal = true;
      pattern = p["String"].get<std::string>();
    } else {
      return InvalidArgument(where + ": Split.pattern needs a string \"Regex\" or \"String\"");
    }
    QS_ASSIGN_OR_RETURN(step.regex, Regex::Compile(pattern, literal, where));
    if (!j.contains("behavior")) return InvalidArgument(where + ": Split: missing \"behavior\"");
    QS_ASSIGN_OR_RETURN(step.behavior, ParseBehavior(j["behavior"], where));
    step.invert = GetBool(j, "invert", false);
  } else if (type == "Digits") {
    // HF splits on char::is_numeric (= \p{N}): one piece per digit, or Contiguous runs.
    QS_ASSIGN_OR_RETURN(step.regex, Regex::Compile(GetBool(j, "individual_digits", false) ? "\\p{N}" : "\\p{N}+",
                                                   false, where));
  } else if (type == "ByteLevel") {
    step.kind = PreTokStep::Kind::kByteLevel;
    step.add_prefix_space = GetBool(j, "add_prefix_space", true);
    if (GetBool(j, "use_regex", true)) {
      QS_ASSIGN_OR_RETURN(step.regex, Regex::Compile(kGpt2Pattern, false, where));
    }
  } else {
    return Unsupported(where + ": pre_tokenizer type \"" + type +
                       "\" is not supported (byte-level BPE needs Sequence/Split/Digits/ByteLevel)");
  }
  steps->push_back(std::move(step));
  return Status::Ok();
}

// One piece -> (offsets, is_match) segments covering it, as HF's Pattern::find_matches does with
// the onig crate's find_iter (an empty match right after the previous match is skipped).
Status FindSegments(const Regex& re, std::string_view piece, PreTokScratch* scratch,
                    std::vector<std::pair<std::pair<size_t, size_t>, bool>>* segs) {
  segs->clear();
  const size_t n = piece.size();
  size_t prev = 0, last_end = 0, last_match_end = std::string_view::npos;
  while (last_end <= n) {
    size_t ms, me;
    int rc = re.Find(piece, last_end, scratch, &ms, &me);
    if (rc < 0) return Unsupported("regex engine error " + std::to_string(rc) + " in pre-tokenizer pattern");
    if (rc == 0) break;
    if (ms == me && last_match_end == me) {
      if (last_end >= n) break;
      size_t p = last_end;
      NextCodepoint(piece, &p);
      last_end = p;
      continue;
    }
    last_end = me;
    last_match_end = me;
    if (prev != ms) segs->push_back({{prev, ms}, false});
    segs->push_back({{ms, me}, true});
    prev = me;
  }
  if (prev != n) segs->push_back({{prev, n}, false});
  return Status::Ok();
}

// HF's SplitDelimiterBehavior folds, then emits the non-empty pieces that are kept.
void ApplyBehavior(SplitBehavior b, std::vector<std::pair<std::pair<size_t, size_t>, bool>>& segs,
                   std::string_view piece, std::vector<std::string_view>* out) {
  using Seg = std::pair<std::pair<size_t, size_t>, bool>;
  std::vector<Seg> acc;
  bool previous_match = false;
  switch (b) {
    case SplitBehavior::kIsolated:
      acc.swap(segs);
      for (auto& s : acc) s.second = false;
      break;
    case SplitBehavior::kRemoved:
      acc.swap(segs);  // is_match == remove
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const auto& [off, m] : segs) {
        if (m && !previous_match && !acc.empty()) acc.back().first.second = off.second;
        else acc.push_back({off, false});
        previous_match = m;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
        if (it->second && !previous_match && !acc.empty()) acc.back().first.first = it->first.first;
        else acc.push_back({it->first, false});
        previous_match = it->second;
      }
      std::reverse(acc.begin(), acc.end());
      break;
    case SplitBehavior::kContiguous:
      for (const auto& [off, m] : segs) {
        if (m == previous_match && !acc.empty()) acc.back().first.second = off.second;
        else acc.push_back({off, false});
        previous_match = m;
      }
      break;
  }
  for (const auto& [off, remove] : acc)
    if (!remove && off.second > off.first) out->push_back(piece.substr(off.first, off.second - off.first));
}

}  // namespace

std::string TranslateOnigPattern(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 16);
  bool in_class = false;
  size_t class_start = 0;  // index in `p` just after '[' or '[^' (a ']' there is literal)
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      char e = p[++i];
      if (e == 's') out += in_class ? "\\s\\x{85}" : "[\\s\\x{85}]";
      else if (e == 'S' && !in_class) out += "[^\\s\\x{85}]";
      else if (e == 'h') out += in_class ? "0-9a-fA-F" : "[0-9a-fA-F]";
      else if (e == 'H' && !in_class) out += "[^0-9a-fA-F]";
      else {
        out += c;
        out += e;
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      class_start = i + 1;
      continue;
    }
    if (in_class && c == '[' && i + 1 < p.size() && p[i + 1] == ':') {  // POSIX [:alpha:]
      size_t end = p.find(":]", i + 2);
      if (end != std::string_view::npos) {
        out.append(p.substr(i, end + 2 - i));
        i = end + 1;
        continue;
      }
    }
    if (in_class && c == ']' && i != class_start) in_class = false;
    out += c;
  }
  return out;
}

PreTokScratch::PreTokScratch() : md_(pcre2_match_data_create(1, nullptr)) {}
PreTokScratch::~PreTokScratch() { pcre2_match_data_free(static_cast<pcre2_match_data*>(md_)); }

Result<std::shared_ptr<const Regex>> Regex::Compile(const std::string& pattern, bool literal,
                                                    const std::string& where) {
  std::shared_ptr<Regex> re(new Regex());
  re->pattern_ = pattern;
  const std::string translated = literal ? pattern : TranslateOnigPattern(pattern);
  // PCRE2_LITERAL admits only a few other options (UTF among them).
  const uint32_t opts = literal ? PCRE2_UTF | PCRE2_LITERAL
                                : PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE | PCRE2_NEVER_BACKSLASH_C;
  if (!IsValidUtf8(pattern)) return InvalidArgument(where + ": pre-tokenizer pattern is not valid UTF-8");
  pcre2_compile_context* cctx = pcre2_compile_context_create(nullptr);
  pcre2_set_newline(cctx, PCRE2_NEWLINE_LF);  // Ruby's ^ and $ work on '\n' lines
  int err = 0;
  PCRE2_SIZE err_off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(), opts, &err,
                                   &err_off, cctx);
  pcre2_compile_context_free(cctx);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof(msg));
    return InvalidArgument(where + ": cannot compile pre-tokenizer regex \"" + pattern + "\" at offset " +
                           std::to_string(err_off) + ": " + reinterpret_cast<const char*>(msg));
  }
  re->code_ = code;
  re->jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return std::shared_ptr<const Regex>(std::move(re));
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

int Regex::Find(std::string_view subject, size_t start, PreTokScratch* scratch, size_t* ms, size_t* me) const {
  auto* code = static_cast<const pcre2_code*>(code_);
  auto* md = static_cast<pcre2_match_data*>(scratch->match_data());
  auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
  int rc = PCRE2_ERROR_JIT_STACKLIMIT;
  // Input was validated once up front, so skip PCRE2's per-call UTF check (it would make splitting
  // quadratic in the piece length).
  if (jit_) rc = pcre2_jit_match(code, s, subject.size(), start, 0, md, nullptr);
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT)  // interpreter: heap-backed backtracking, no 32 KiB stack cap
    rc = pcre2_match(code, s, subject.size(), start, PCRE2_NO_UTF_CHECK, md, nullptr);
  if (rc == PCRE2_ERROR_NOMATCH) return 0;
  if (rc < 0) return rc;
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
  *ms = ov[0];
  *me = ov[1];
  return 1;
}

Result<PreTokenizer> PreTokenizer::FromJson(const nlohmann::json& j, const std::string& where) {
  PreTokenizer pt;
  if (j.is_null()) return Unsupported(where + ": no pre_tokenizer; only byte-level BPE is supported");
  QS_RETURN_IF_ERROR(ParseStep(j, where, &pt.steps_));
  for (size_t i = 0; i < pt.steps_.size(); ++i) {
    bool bl = pt.steps_[i].kind == PreTokStep::Kind::kByteLevel;
    if (bl && i + 1 != pt.steps_.size())
      return Unsupported(where + ": ByteLevel must be the last pre-tokenizer step");
    if (!bl && i + 1 == pt.steps_.size())
      return Unsupported(where + ": pre_tokenizer has no ByteLevel step; only byte-level BPE is supported");
  }
  return pt;
}

Result<PreTokenizer> PreTokenizer::FromRegexList(const std::vector<std::string>& patterns, const std::string& where) {
  PreTokenizer pt;
  for (const auto& p : patterns) {
    PreTokStep step;
    QS_ASSIGN_OR_RETURN(step.regex, Regex::Compile(p, false, where));
    pt.steps_.push_back(std::move(step));
  }
  PreTokStep bl;
  bl.kind = PreTokStep::Kind::kByteLevel;
  pt.steps_.push_back(std::move(bl));
  return pt;
}

Result<PreTokenizer> PreTokenizer::FromGgufPreName(const std::string& pre, const std::string& where) {
  std::string name = pre;
  if (auto a = GgufPreAliases().find(pre); a != GgufPreAliases().end()) name = a->second;
  auto it = GgufPreTable().find(name);
  if (it == GgufPreTable().end()) {
    std::string known;
    for (const auto& [k, v] : GgufPreTable()) known += (known.empty() ? "" : ", ") + k;
    for (const auto& [k, v] : GgufPreAliases()) known += ", " + k;
    return Unsupported(where + ": tokenizer.ggml.pre \"" + pre + "\" is not a known pre-tokenizer (known: " + known + ")");
  }
  return FromRegexList(it->second, where);
}

Status PreTokenizer::Split(std::string_view text, PreTokScratch* scratch, std::vector<std::string_view>* out,
                           std::vector<std::unique_ptr<std::string>>* owned) const {
  std::vector<std::string_view> cur, next;
  if (!text.empty()) cur.push_back(text);
  std::vector<std::pair<std::pair<size_t, size_t>, bool>> segs;
  for (const PreTokStep& step : steps_) {
    next.clear();
    for (std::string_view piece : cur) {
      if (step.kind == PreTokStep::Kind::kByteLevel && step.add_prefix_space && piece[0] != ' ') {
        owned->push_back(std::make_unique<std::string>(" " + std::string(piece)));
        piece = *owned->back();
      }
      if (!step.regex) {
        next.push_back(piece);
        continue;
      }
      QS_RETURN_IF_ERROR(FindSegments(*step.regex, piece, scratch, &segs));
      if (step.invert)
        for (auto& s : segs) s.second = !s.second;
      ApplyBehavior(step.kind == PreTokStep::Kind::kByteLevel ? SplitBehavior::kIsolated : step.behavior, segs,
                    piece, &next);
    }
    cur.swap(next);
  }
  out->insert(out->end(), cur.begin(), cur.end());
  return Status::Ok();
}

}  // namespace qs::tok
