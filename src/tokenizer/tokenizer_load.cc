// Tokenizer loading: tokenizer.json (+ tokenizer_config.json) and GGUF tokenizer.ggml.* metadata.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "base/log.h"
#include "io/gguf.h"
#include "io/json_util.h"
#include "io/mapped_file.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_index.h"

namespace qs {

using nlohmann::json;

namespace {

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

constexpr int64_t kMaxVocab = 1 << 24;  // sanity bound on ids, so a hostile file cannot ask for huge tables

// tokenizer_config.json writes a token as "text" or {"__type": "AddedToken", "content": "text"}.
std::optional<std::string> ConfigToken(const json& cfg, const char* key) {
  if (!cfg.contains(key)) return std::nullopt;
  const json& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

std::optional<bool> ConfigBool(const json& cfg, const char* key) {
  if (cfg.contains(key) && cfg[key].is_boolean()) return cfg[key].get<bool>();
  return std::nullopt;
}

// "chat_template": a string, or a list of {"name", "template"} (take "default", else the first).
std::optional<std::string> ConfigChatTemplate(const json& cfg) {
  if (!cfg.contains("chat_template")) return std::nullopt;
  const json& v = cfg["chat_template"];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::optional<std::string> first;
    for (const auto& e : v) {
      if (!e.is_object() || !e.contains("template") || !e["template"].is_string()) continue;
      if (!first) first = e["template"].get<std::string>();
      if (e.contains("name") && e["name"] == "default") return e["template"].get<std::string>();
    }
    return first;
  }
  return std::nullopt;
}

bool IsByteLevelDecoder(const json& d) {
  if (!d.is_object() || !d.contains("type")) return false;
  if (d["type"] == "ByteLevel") return true;
  if (d["type"] == "Sequence" && d.contains("decoders") && d["decoders"].is_array()) {
    bool any = false;
    for (const auto& s : d["decoders"]) {
      if (!IsByteLevelDecoder(s)) return false;
      any = true;
    }
    return any;
  }
  return false;
}

// TemplateProcessing "single": the special-token ids before and after "$A".
Status TemplateIds(const json& pp, const std::string& where, std::vector<int32_t>* prefix,
                   std::vector<int32_t>* suffix) {
  if (!pp.is_object() || !pp.contains("type")) return Status::Ok();
  if (pp["type"] == "Sequence" && pp.contains("processors") && pp["processors"].is_array()) {
    for (const auto& p : pp["processors"]) QS_RETURN_IF_ERROR(TemplateIds(p, where, prefix, suffix));
    return Status::Ok();
  }
  if (pp["type"] != "TemplateProcessing") return Status::Ok();  // ByteLevel etc.: no ids added
  if (!pp.contains("single") || !pp["single"].is_array())
    return InvalidArgument(where + ": TemplateProcessing without a \"single\" array");
  bool seen_a = false;
  for (const auto& piece : pp["single"]) {
    if (piece.contains("Sequence")) {
      seen_a = true;
      continue;
    }
    if (!piece.contains("SpecialToken") || !piece["SpecialToken"].contains("id")) continue;
    const json& name = piece["SpecialToken"]["id"];
    if (!pp.contains("special_tokens") || !pp["special_tokens"].contains(name.get<std::string>()))
      return InvalidArgument(where + ": TemplateProcessing names unknown special token " + name.dump());
    const json& st = pp["special_tokens"][name.get<std::string>()];
    if (!st.contains("ids") || !st["ids"].is_array())
      return InvalidArgument(where + ": TemplateProcessing special token " + name.dump() + " has no ids");
    for (const auto& id : st["ids"]) {
      if (!id.is_number_integer()) return InvalidArgument(where + ": TemplateProcessing: non-integer id");
      (seen_a ? suffix : prefix)->push_back(id.get<int32_t>());
    }
  }
  return Status::Ok();
}

// An added token that is matched even when special tokens are not parsed: not special and not
// markup ("<...>", "[...]"), i.e. an ordinary vocabulary extension (see Tokenizer::Encode).
bool IsPlainTextToken(const tok::AddedToken& a) {
  if (a.special || a.content.empty()) return false;
  const char f = a.content.front(), b = a.content.back();
  return !((f == '<' && b == '>') || (f == '[' && b == ']'));
}

}  // namespace

class TokenizerBuilder {
 public:
  // Shared tail of both loaders, once id_to_token_ and index_ are filled: special flags, decode
  // table, added-token matchers.
  static Status Finish(Tokenizer* t) {
    const size_t n_ids = t->id_to_token_.size();
    t->special_.assign(n_ids, 0);
    for (const auto& a : t->added_)
      if (a->special) t->special_[a->id] = 1;
    // ByteLevel decoding: a vocabulary token whose characters are all in the byte alphabet becomes
    // those bytes, any other (e.g. "<｜User｜>") is copied as UTF-8, as HF's decoder does. Added
    // tokens are their text, as in llama.cpp and transformers' slow path: encoding maps the text
    // "ü" to DeepSeek-Coder's added token "ü", so decoding must give "ü" back (not byte 0xFC).
    t->id_to_bytes_.resize(n_ids);
    for (size_t i = 0; i < n_ids; ++i) {
      const std::string& s = t->id_to_token_[i];
      if (!tok::ByteLevelDecode(s, &t->id_to_bytes_[i])) t->id_to_bytes_[i] = s;
    }
    for (const auto& a : t->added_) t->id_to_bytes_[a->id] = a->content;
    for (int plain = 0; plain < 2; ++plain) {
      std::vector<const tok::AddedToken*> raw, norm;
      std::vector<std::string> raw_pat, norm_pat;
      for (const auto& a : t->added_) {
        if (plain && !IsPlainTextToken(*a)) continue;
        if (a->normalized) {
          std::string p;
          if (!t->normalizer_->Apply(a->content, &p)) return Status(ErrorCode::kInternal, "normalizer failed");
          norm.push_back(a.get());
          norm_pat.push_back(std::move(p));
        } else {
          raw.push_back(a.get());
          raw_pat.push_back(a->content);
        }
      }
      t->raw_matcher_[plain] = std::make_unique<tok::AddedTokenMatcher>();
      t->raw_matcher_[plain]->Build(raw, raw_pat);
      t->norm_matcher_[plain] = std::make_unique<tok::AddedTokenMatcher>();
      t->norm_matcher_[plain]->Build(norm, norm_pat);
    }
    return Status::Ok();
  }

  static Result<std::unique_ptr<Tokenizer>> FromJson(const json& tj, const json& cfg, const std::string& name) {
    const auto t0 = std::chrono::steady_clock::now();
    std::unique_ptr<Tokenizer> t(new Tokenizer());
    t->source_ = name;
    if (!tj.is_object() || !tj.contains("model") || !tj["model"].is_object())
      return InvalidArgument(name + ": no \"model\" object");
    const json& m = tj["model"];
    if (m.contains("type") && m["type"] != "BPE")
      return Unsupported(name + ": model type " + m["type"].dump() + " is not supported (byte-level BPE only)");
    for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (m.contains(k) && !m[k].is_null() && m[k] != "")
        return Unsupported(name + ": model." + k + " is not supported");
    if (m.contains("dropout") && m["dropout"].is_number() && m["dropout"].get<double>() > 0)
      return Unsupported(name + ": BPE dropout is not supported");
    if (!m.contains("vocab") || !m["vocab"].is_object()) return InvalidArgument(name + ": model.vocab missing");
    if (!m.contains("merges") || !m["merges"].is_array()) return InvalidArgument(name + ": model.merges missing");
    // model_tokens: id -> vocabulary string ("" for ids the model does not use).
    std::vector<std::string> model_tokens;
    int64_t max_id = -1;
    for (const auto& [s, v] : m["vocab"].items()) {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= kMaxVocab || s.empty())
        return InvalidArgument(name + ": model.vocab[\"" + s + "\"]: bad entry " + v.dump());
      const auto id = static_cast<size_t>(v.get<int64_t>());
      if (id >= model_tokens.size()) model_tokens.resize(std::max(id + 1, model_tokens.size() * 2));
      if (!model_tokens[id].empty())
        return InvalidArgument(name + ": model.vocab: id " + std::to_string(id) + " is used by \"" +
                               model_tokens[id] + "\" and \"" + s + "\"");
      model_tokens[id] = s;
      max_id = std::max(max_id, v.get<int64_t>());
    }
    model_tokens.resize(static_cast<size_t>(max_id + 1));
    tok::StrIndex vocab(&model_tokens);
    vocab.Reserve(model_tokens.size());
    for (size_t i = 0; i < model_tokens.size(); ++i)
      if (!model_tokens[i].empty()) vocab.Insert(static_cast<int32_t>(i), false);
    std::vector<std::pair<std::string, std::string>> merges;
    merges.reserve(m["merges"].size());
    for (const auto& e : m["merges"]) {
      if (e.is_string()) {  // "left right"
        const std::string s = e.get<std::string>();
        size_t sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
          return InvalidArgument(name + ": bad merge \"" + s + "\" (want \"left right\")");
        merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
      } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
        merges.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
      } else {
        return InvalidArgument(name + ": bad merge entry " + e.dump());
      }
    }
    bool ignore_merges = m.contains("ignore_merges") && m["ignore_merges"].is_boolean() && m["ignore_merges"].get<bool>();
    QS_LOG_DEBUG("%s: vocab and merges read in %.0f ms", name.c_str(), MsSince(t0));
    QS_ASSIGN_OR_RETURN(t->bpe_, tok::BpeModel::Build(vocab, merges, ignore_merges, /*strict=*/true, name));
    QS_LOG_DEBUG("%s: BPE tables built in %.0f ms", name.c_str(), MsSince(t0));

    if (tj.contains("added_tokens") && !tj["added_tokens"].is_null()) {
      if (!tj["added_tokens"].is_array()) return InvalidArgument(name + ": added_tokens must be an array");
      for (const auto& a : tj["added_tokens"]) {
        auto tokp = std::make_unique<tok::AddedToken>();
        if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
            !a["content"].is_string())
          return InvalidArgument(name + ": added_tokens entry needs integer \"id\" and string \"content\": " + a.dump());
        int64_t id = a["id"].get<int64_t>();
        if (id < 0 || id >= kMaxVocab) return InvalidArgument(name + ": added token id out of range: " + a.dump());
        tokp->id = static_cast<int32_t>(id);
        tokp->content = a["content"].get<std::string>();
        if (!tok::IsValidUtf8(tokp->content)) return InvalidArgument(name + ": added token content is not UTF-8");
        auto flag = [&](const char* k, bool def) { return a.contains(k) && a[k].is_boolean() ? a[k].get<bool>() : def; };
        tokp->special = flag("special", false);
        tokp->normalized = flag("normalized", !tokp->special);
        tokp->lstrip = flag("lstrip", false);
        tokp->rstrip = flag("rstrip", false);
        tokp->single_word = flag("single_word", false);
        max_id = std::max(max_id, id);
        t->added_.push_back(std::move(tokp));
      }
    }

    Result<tok::Normalizer> norm = tok::Normalizer::FromJson(tj.value("normalizer", json()), name);
    if (!norm.ok()) return norm.status();
    t->normalizer_ = std::make_unique<tok::Normalizer>(std::move(norm).value());
    Result<tok::PreTokenizer> pre = tok::PreTokenizer::FromJson(tj.value("pre_tokenizer", json()), name);
    if (!pre.ok()) return pre.status();
    t->pretok_ = std::make_unique<tok::PreTokenizer>(std::move(pre).value());
    if (!IsByteLevelDecoder(tj.value("decoder", json())))
      return Unsupported(name + ": decoder is not ByteLevel; only byte-level BPE is supported");

    t->id_to_token_ = std::move(model_tokens);
    t->id_to_token_.resize(static_cast<size_t>(max_id + 1));
    for (const auto& a : t->added_) t->id_to_token_[a->id] = a->content;
    t->index_ = std::make_unique<Tokenizer::TokenIndex>();
    t->index_->index.Reset(&t->id_to_token_);
    t->index_->index.Reserve(t->id_to_token_.size());
    for (size_t i = 0; i < t->id_to_token_.size(); ++i)
      if (!t->id_to_token_[i].empty()) t->index_->index.Insert(static_cast<int32_t>(i), false);
    for (const auto& a : t->added_) t->index_->index.Insert(a->id, true);  // HF looks in added tokens first
    QS_RETURN_IF_ERROR(Finish(t.get()));
    QS_LOG_DEBUG("%s: tokenizer ready in %.0f ms", name.c_str(), MsSince(t0));

    // Special tokens to add: tokenizer_config.json decides when it says (transformers rebuilds the
    // post-processor from add_bos_token / add_eos_token); otherwise tokenizer.json's template.
    std::vector<int32_t> tmpl_prefix, tmpl_suffix;
    QS_RETURN_IF_ERROR(TemplateIds(tj.value("post_processor", json()), name, &tmpl_prefix, &tmpl_suffix));
    if (auto b = ConfigToken(cfg, "bos_token")) {
      t->bos_id_ = t->TokenId(*b);
      if (t->bos_id_ < 0) QS_LOG_WARN("%s: bos_token \"%s\" is not in the vocabulary", name.c_str(), b->c_str());
    } else if (!tmpl_prefix.empty()) {
      t->bos_id_ = tmpl_prefix.front();
    }
    if (auto e = ConfigToken(cfg, "eos_token")) {
      t->eos_id_ = t->TokenId(*e);
      if (t->eos_id_ < 0) QS_LOG_WARN("%s: eos_token \"%s\" is not in the vocabulary", name.c_str(), e->c_str());
    }
    auto add_bos = ConfigBool(cfg, "add_bos_token"), add_eos = ConfigBool(cfg, "add_eos_token");
    t->prefix_ids_ = add_bos ? (*add_bos && t->bos_id_ >= 0 ? std::vector<int32_t>{t->bos_id_} : std::vector<int32_t>{})
                             : tmpl_prefix;
    t->suffix_ids_ = add_eos ? (*add_eos && t->eos_id_ >= 0 ? std::vector<int32_t>{t->eos_id_} : std::vector<int32_t>{})
                             : tmpl_suffix;
    for (int32_t id : t->prefix_ids_)
      if (id < 0 || static_cast<size_t>(id) >= t->vocab_size()) return InvalidArgument(name + ": BOS id out of range");
    for (int32_t id : t->suffix_ids_)
      if (id < 0 || static_cast<size_t>(id) >= t->vocab_size()) return InvalidArgument(name + ": EOS id out of range");
    t->chat_template_ = ConfigChatTemplate(cfg);
    return t;
  }

  static Result<std::unique_ptr<Tokenizer>> FromGguf(const GgufFile& g) {
    const std::string name = g.path().empty() ? std::string("gguf") : g.path();
    std::unique_ptr<Tokenizer> t(new Tokenizer());
    t->source_ = name;
    QS_ASSIGN_OR_RETURN(std::string model, g.GetString("tokenizer.ggml.model"));
    if (model != "gpt2")
      return Unsupported(name + ": tokenizer.ggml.model \"" + model + "\" is not supported (byte-level BPE \"gpt2\" only)");
    QS_ASSIGN_OR_RETURN(const GgufValue* tokens, g.GetArray("tokenizer.ggml.tokens", GgufValueType::kString));
    if (tokens->strings.empty() || static_cast<int64_t>(tokens->strings.size()) > kMaxVocab)
      return InvalidArgument(name + ": tokenizer.ggml.tokens: bad size " + std::to_string(tokens->strings.size()));
    const size_t n = tokens->strings.size();
    std::vector<int64_t> types(n, 1);
    if (const GgufValue* tt = g.Find("tokenizer.ggml.token_type")) {
      types = tt->IntArray();
      if (types.size() != n)
        return InvalidArgument(name + ": tokenizer.ggml.token_type has " + std::to_string(types.size()) +
                               " entries for " + std::to_string(n) + " tokens");
    }
    QS_ASSIGN_OR_RETURN(const GgufValue* mv, g.GetArray("tokenizer.ggml.merges", GgufValueType::kString));
    std::string pre = "default";
    if (g.Find("tokenizer.ggml.pre")) {
      QS_ASSIGN_OR_RETURN(pre, g.GetString("tokenizer.ggml.pre"));
    } else {
      QS_LOG_WARN("%s: no tokenizer.ggml.pre; using llama.cpp's default pre-tokenizer", name.c_str());
    }
    Result<tok::PreTokenizer> pt = tok::PreTokenizer::FromGgufPreName(pre, name);
    if (!pt.ok()) return pt.status();
    t->pretok_ = std::make_unique<tok::PreTokenizer>(std::move(pt).value());
    // Qwen's tokenizer.json normalizes to NFC; llama.cpp skips it, Hugging Face does not.
    const bool qwen = pre == "qwen2" || pre == "deepseek-r1-qwen";
    t->normalizer_ = std::make_unique<tok::Normalizer>(
        tok::Normalizer::Of(qwen ? std::vector<tok::Normalizer::Form>{tok::Normalizer::Form::kNFC}
                                 : std::vector<tok::Normalizer::Form>{}));

    // Token types (llama.cpp): 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    t->id_to_token_.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      t->id_to_token_.emplace_back(tokens->strings[i]);
      const std::string& s = t->id_to_token_.back();
      if (!tok::IsValidUtf8(s)) return InvalidArgument(name + ": token " + std::to_string(i) + " is not UTF-8");
      if (types[i] == 3 || types[i] == 4) {
        auto a = std::make_unique<tok::AddedToken>();
        a->id = static_cast<int32_t>(i);
        a->content = s;
        a->special = types[i] == 3;
        t->added_.push_back(std::move(a));
      }
    }
    // The BPE model sees neither control tokens nor unused slots; the first of duplicates wins.
    tok::StrIndex vocab(&t->id_to_token_);
    vocab.Reserve(n);
    for (size_t i = 0; i < n; ++i)
      if (types[i] != 3 && types[i] != 5 && !t->id_to_token_[i].empty()) vocab.Insert(static_cast<int32_t>(i), false);
    std::vector<std::pair<std::string, std::string>> merges;
    merges.reserve(mv->strings.size());
    for (std::string_view s : mv->strings) {
      size_t sp = s.find(' ', 1);  // a token never is empty, so the separator is not at 0
      if (sp == std::string_view::npos) return InvalidArgument(name + ": bad merge \"" + std::string(s) + "\"");
      merges.emplace_back(std::string(s.substr(0, sp)), std::string(s.substr(sp + 1)));
    }
    size_t skipped = 0;
    QS_ASSIGN_OR_RETURN(t->bpe_, tok::BpeModel::Build(vocab, merges, /*ignore_merges=*/pre == "llama-bpe" ||
                                                          pre == "llama3" || pre == "llama-v3",
                                                      /*strict=*/false, name, &skipped));
    if (skipped) QS_LOG_WARN("%s: skipped %zu merges naming unknown tokens", name.c_str(), skipped);
    // Unused ([PAD...]) tokens are holes in the HF vocabulary: they decode to nothing.
    t->index_ = std::make_unique<Tokenizer::TokenIndex>();
    t->index_->index.Reset(&t->id_to_token_);
    t->index_->index.Reserve(n);
    for (size_t i = 0; i < n; ++i)
      if (!t->id_to_token_[i].empty()) t->index_->index.Insert(static_cast<int32_t>(i), false);
    QS_RETURN_IF_ERROR(Finish(t.get()));
    for (size_t i = 0; i < n; ++i)
      if (types[i] == 5) t->id_to_bytes_[i].clear();

    auto opt_id = [&](const char* key) -> Result<int32_t> {
      if (!g.Find(key)) return -1;
      QS_ASSIGN_OR_RETURN(int64_t v, g.GetInt(key));
      if (v < 0 || static_cast<size_t>(v) >= n) return InvalidArgument(name + ": " + key + " out of range");
      return static_cast<int32_t>(v);
    };
    QS_ASSIGN_OR_RETURN(t->bos_id_, opt_id("tokenizer.ggml.bos_token_id"));
    QS_ASSIGN_OR_RETURN(t->eos_id_, opt_id("tokenizer.ggml.eos_token_id"));
    auto opt_bool = [&](const char* key, bool def) -> Result<bool> {
      if (!g.Find(key)) return def;
      return g.GetBool(key);
    };
    QS_ASSIGN_OR_RETURN(bool add_bos, opt_bool("tokenizer.ggml.add_bos_token", pre == "llama-bpe"));
    QS_ASSIGN_OR_RETURN(bool add_eos, opt_bool("tokenizer.ggml.add_eos_token", false));
    if (add_bos && t->bos_id_ >= 0) t->prefix_ids_ = {t->bos_id_};
    if (add_eos && t->eos_id_ >= 0) t->suffix_ids_ = {t->eos_id_};
    if (g.Find("tokenizer.chat_template")) {
      QS_ASSIGN_OR_RETURN(std::string tmpl, g.GetString("tokenizer.chat_template"));
      t->chat_template_ = std::move(tmpl);
    }
    return t;
  }
};

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromJsonText(std::string_view tokenizer_json,
                                                           std::string_view tokenizer_config, const std::string& name) {
  const auto t0 = std::chrono::steady_clock::now();
  json tj, cfg = json::object();
  QS_RETURN_IF_ERROR(ParseJson(tokenizer_json, name, &tj));
  QS_LOG_DEBUG("%s: JSON parsed in %.0f ms", name.c_str(), MsSince(t0));
  if (!tokenizer_config.empty()) {
    QS_RETURN_IF_ERROR(ParseJson(tokenizer_config, name + " (tokenizer_config.json)", &cfg));
    if (!cfg.is_object()) return InvalidArgument(name + ": tokenizer_config.json is not an object");
  }
  // nlohmann throws type_error on a few malformed shapes we did not anticipate; report, never crash.
  try {
    return TokenizerBuilder::FromJson(tj, cfg, name);
  } catch (const json::exception& e) {
    return InvalidArgument(name + ": unexpected tokenizer.json structure: " + e.what());
  }
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const GgufFile& gguf) { return TokenizerBuilder::FromGguf(gguf); }

Result<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path p(path);
  if (fs::is_directory(p, ec)) {
    if (!fs::exists(p / "tokenizer.json", ec))
      return NotFound(path + ": no tokenizer.json in this directory (pass the .gguf file for a GGUF model)");
    p /= "tokenizer.json";
  } else if (!fs::exists(p, ec)) {
    return NotFound(path + ": no such file or directory");
  }
  char magic[4] = {};
  {
    std::ifstream in(p, std::ios::binary);
    if (!in) return IoError(p.string() + ": cannot open");
    in.read(magic, 4);
  }
  if (std::string_view(magic, 4) == "GGUF") {
    QS_ASSIGN_OR_RETURN(auto gguf, GgufFile::Open(p.string()));
    return FromGguf(*gguf);
  }
  QS_ASSIGN_OR_RETURN(std::string text, ReadTextFile(p.string()));
  std::string config;
  fs::path cfg_path = p.parent_path() / "tokenizer_config.json";
  if (fs::exists(cfg_path, ec)) {
    QS_ASSIGN_OR_RETURN(config, ReadTextFile(cfg_path.string()));
  }
  return FromJsonText(text, config, p.string());
}

}  // namespace qs
