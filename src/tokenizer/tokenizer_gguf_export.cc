#include "tokenizer/tokenizer_gguf_export.h"

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "io/gguf_writer.h"
#include "io/json_util.h"
#include "io/mapped_file.h"

namespace qs {

using nlohmann::json;

namespace {

// convert_hf_to_gguf.py Model.does_token_look_special.
bool LooksSpecial(const std::string& t) {
  auto wraps = [&](std::string_view a, std::string_view b) {
    return t.size() >= a.size() + b.size() && t.compare(0, a.size(), a) == 0 &&
           t.compare(t.size() - b.size(), b.size(), b) == 0;
  };
  return t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]" || wraps("<|", "|>") ||
         wraps("<\xef\xbd\x9c", "\xef\xbd\x9c>") || wraps("<unused", ">");
}

// tokenizer_config.json writes a token as "text" or {"content": "text", ...}.
std::optional<std::string> ConfigTokenText(const json& cfg, const std::string& key) {
  auto it = cfg.find(key);
  if (it == cfg.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) return (*it)["content"].get<std::string>();
  return std::nullopt;
}

void CollectSplits(const json& pt, std::string* regexes, bool* byte_level_regex) {
  if (!pt.is_object()) return;
  const std::string type = pt.value("type", "");
  if (type == "Sequence" && pt.contains("pretokenizers") && pt["pretokenizers"].is_array()) {
    for (const auto& p : pt["pretokenizers"]) CollectSplits(p, regexes, byte_level_regex);
  } else if (type == "Split" && pt.contains("pattern") && pt["pattern"].is_object()) {
    const json& pat = pt["pattern"];
    if (pat.contains("Regex") && pat["Regex"].is_string()) *regexes += pat["Regex"].get<std::string>() + "\n";
  } else if (type == "ByteLevel") {
    if (pt.value("use_regex", true)) *byte_level_regex = true;
  }
}

}  // namespace

std::string GgufPreTokenizerName(const std::string& r, bool byte_level_regex, bool adds_bos) {
  auto has = [&](const char* s) { return r.find(s) != std::string::npos; };
  if (has("[\xe4\xb8\x80-\xe9\xbe\xa5") && has(R"(\p{N}{1,3})")) return "deepseek-v3";  // [一-龥...]
  if (has(R"(\s?[A-Za-z)")) return "deepseek-llm";
  if (has(R"(\s?\p{L}+)")) return "deepseek-coder";
  if (has(R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|)")) return "llama-bpe";
  if (has(R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|)")) return adds_bos ? "deepseek-r1-qwen" : "qwen2";
  if (r.empty() && byte_level_regex) return "gpt-2";
  return "";
}

Status WriteTokenizerGgufMetadataFromText(std::string_view tokenizer_json, std::string_view tokenizer_config,
                                          std::string_view model_config, const std::string& name, GgufWriter* w) {
  json tj, cfg = json::object(), mc = json::object();
  QS_RETURN_IF_ERROR(ParseJson(std::string(tokenizer_json), name, &tj));
  if (!tokenizer_config.empty()) QS_RETURN_IF_ERROR(ParseJson(std::string(tokenizer_config), name + " (tokenizer_config.json)", &cfg));
  if (!model_config.empty()) QS_RETURN_IF_ERROR(ParseJson(std::string(model_config), name + " (config.json)", &mc));
  if (!tj.is_object() || !tj.contains("model") || !tj["model"].is_object())
    return InvalidArgument(name + ": no \"model\" object");
  const json& model = tj["model"];
  if (model.value("type", "BPE") != "BPE")
    return Unsupported(name + ": model type '" + model.value("type", "") + "' (only byte-level BPE is exported to GGUF)");
  if (!model.contains("vocab") || !model["vocab"].is_object()) return InvalidArgument(name + ": model.vocab is not an object");

  // id -> token (vocab, then added tokens, which win), as tokenizer.get_vocab() gives.
  constexpr int64_t kMaxVocab = 1 << 24;
  std::map<int64_t, std::string> by_id;
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() >= kMaxVocab)
      return InvalidArgument(name + ": model.vocab[\"" + it.key() + "\"] is not a valid id");
    by_id[it.value().get<int64_t>()] = it.key();
  }
  struct Added {
    bool special;
  };
  std::map<int64_t, Added> added;
  if (tj.contains("added_tokens") && tj["added_tokens"].is_array()) {
    for (const auto& a : tj["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
          !a["content"].is_string())
        return InvalidArgument(name + ": malformed entry in added_tokens");
      const int64_t id = a["id"].get<int64_t>();
      if (id < 0 || id >= kMaxVocab) return InvalidArgument(name + ": added token id " + std::to_string(id) + " out of range");
      by_id[id] = a["content"].get<std::string>();
      added[id] = {a.value("special", false)};
    }
  }
  int64_t n = by_id.empty() ? 0 : by_id.rbegin()->first + 1;
  if (mc.contains("vocab_size") && mc["vocab_size"].is_number_integer()) n = std::max(n, mc["vocab_size"].get<int64_t>());

  std::vector<std::string> tokens(static_cast<size_t>(n));
  std::vector<int32_t> types(static_cast<size_t>(n));
  std::map<std::string, int64_t> id_of;
  for (int64_t i = 0; i < n; ++i) {
    auto it = by_id.find(i);
    if (it == by_id.end()) {
      tokens[i] = "[PAD" + std::to_string(i) + "]";
      types[i] = static_cast<int32_t>(GgufTokenType::kUnused);
      continue;
    }
    std::string t = it->second;
    auto ad = added.find(i);
    GgufTokenType ty = GgufTokenType::kNormal;
    if (ad != added.end()) {
      if (ad->second.special || LooksSpecial(t)) {
        ty = GgufTokenType::kControl;
      } else {
        ty = GgufTokenType::kUserDefined;
        // Converter: pre-normalize user-defined spaces ("▁" -> " ").
        for (size_t p; (p = t.find("\xe2\x96\x81")) != std::string::npos;) t.replace(p, 3, " ");
      }
    }
    id_of.emplace(it->second, i);
    tokens[i] = std::move(t);
    types[i] = static_cast<int32_t>(ty);
  }

  std::vector<std::string> merges;
  if (model.contains("merges") && model["merges"].is_array()) {
    for (const auto& m : model["merges"]) {
      if (m.is_string()) merges.push_back(m.get<std::string>());
      else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
        merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      else return InvalidArgument(name + ": malformed entry in model.merges");
    }
  }

  // Special ids: tokenizer_config.json first, then config.json's *_token_id (first one wins,
  // as gguf-py SpecialVocab does).
  std::vector<std::pair<std::string, int64_t>> special;
  auto set_special = [&](const std::string& typ, int64_t id) {
    if (id < 0 || id >= n) return;
    for (auto& s : special)
      if (s.first == typ) return;
    special.emplace_back(typ, id);
  };
  for (const char* typ : {"bos", "eos", "unk", "sep", "pad", "cls", "mask"}) {
    if (auto t = ConfigTokenText(cfg, std::string(typ) + "_token")) {
      auto it = id_of.find(*t);
      if (it != id_of.end()) set_special(typ, it->second);
    }
  }
  for (const char* typ : {"bos", "eos", "unk", "sep", "pad", "cls", "mask"}) {
    auto it = mc.find(std::string(typ) + "_token_id");
    if (it != mc.end() && it->is_number_integer()) set_special(typ, it->get<int64_t>());
  }
  bool adds_bos = false;
  std::vector<std::pair<std::string, bool>> add_flags;
  for (const char* typ : {"bos", "eos"}) {
    auto it = cfg.find(std::string("add_") + typ + "_token");
    if (it != cfg.end() && it->is_boolean()) {
      add_flags.emplace_back(typ, it->get<bool>());
      if (std::string(typ) == "bos") adds_bos = it->get<bool>();
    }
  }

  std::string splits;
  bool bl_regex = false;
  if (tj.contains("pre_tokenizer")) CollectSplits(tj["pre_tokenizer"], &splits, &bl_regex);
  std::string pre = GgufPreTokenizerName(splits, bl_regex, adds_bos);
  if (pre.empty()) return Unsupported(name + ": unrecognised pre-tokenizer (not a DeepSeek / Qwen2 / Llama-3 / GPT-2 split)");

  w->SetString("tokenizer.ggml.model", "gpt2");
  w->SetString("tokenizer.ggml.pre", pre);
  w->SetStringArray("tokenizer.ggml.tokens", tokens);
  w->SetI32Array("tokenizer.ggml.token_type", types);
  w->SetStringArray("tokenizer.ggml.merges", merges);
  for (const auto& [typ, id] : special) {
    const std::string key = typ == "pad" ? "padding" : typ;
    w->SetU32("tokenizer.ggml." + key + "_token_id", static_cast<uint32_t>(id));
  }
  for (const auto& [typ, v] : add_flags) w->SetBool("tokenizer.ggml.add_" + typ + "_token", v);
  // chat_template: a string, or a list of {name, template} (the "default" one, else the first).
  if (auto it = cfg.find("chat_template"); it != cfg.end()) {
    if (it->is_string()) {
      w->SetString("tokenizer.chat_template", it->get<std::string>());
    } else if (it->is_array()) {
      std::optional<std::string> first, def;
      for (const auto& e : *it)
        if (e.is_object() && e.contains("template") && e["template"].is_string()) {
          if (!first) first = e["template"].get<std::string>();
          if (e.value("name", "") == "default") def = e["template"].get<std::string>();
        }
      if (def || first) w->SetString("tokenizer.chat_template", def ? *def : *first);
    }
  }
  return Status::Ok();
}

Status WriteTokenizerGgufMetadata(const std::string& dir, GgufWriter* w) {
  namespace fs = std::filesystem;
  const fs::path d(dir);
  QS_ASSIGN_OR_RETURN(std::string tj, ReadTextFile((d / "tokenizer.json").string()));
  std::string tc, mc;
  std::error_code ec;
  if (fs::exists(d / "tokenizer_config.json", ec)) {
    QS_ASSIGN_OR_RETURN(tc, ReadTextFile((d / "tokenizer_config.json").string()));
  }
  if (fs::exists(d / "config.json", ec)) {
    QS_ASSIGN_OR_RETURN(mc, ReadTextFile((d / "config.json").string()));
  }
  return WriteTokenizerGgufMetadataFromText(tj, tc, mc, (d / "tokenizer.json").string(), w);
}

}  // namespace qs
