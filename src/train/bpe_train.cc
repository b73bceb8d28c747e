#include "train/bpe_train.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <queue>
#include <unordered_map>

#include "tokenizer/byte_level.h"
#include "tokenizer/pretokenizer.h"

namespace qs::train {

namespace {

using json = nlohmann::ordered_json;

// DeepSeek-V3's tokenizer.json pre_tokenizer (the released file, verbatim).
json PreTokenizerJson() {
  auto split = [](const char* re) {
    return json{{"type", "Split"}, {"pattern", {{"Regex", re}}}, {"behavior", "Isolated"}, {"invert", false}};
  };
  return json{{"type", "Sequence"},
              {"pretokenizers",
               {split("\\p{N}{1,3}"), split("[一-龥぀-ゟ゠-ヿ]+"),
                split("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
                      "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"),
                json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}};
}

// A chat template in DeepSeek-V3's form (system text after BOS, <｜User｜> / <｜Assistant｜> turns,
// EOS after each answer), without the tool-call branches a poetry model has no use for.
const char* kChatTemplate =
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] }}"
    "{% endif %}{% endfor %}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ '<｜User｜>' + message['content'] }}{% elif message['role'] == 'assistant' %}"
    "{{ '<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<｜Assistant｜>' }}{% endif %}";

uint64_t Key(int32_t a, int32_t b) { return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b); }

}  // namespace

const std::vector<std::string>& SpecialTokens() {
  static const std::vector<std::string> k = {"<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>",
                                             "<｜User｜>", "<｜Assistant｜>"};
  return k;
}

Result<BpeResult> TrainBpe(const std::vector<std::string>& texts, const BpeOptions& o) {
  const int64_t n_special = static_cast<int64_t>(SpecialTokens().size());
  if (o.vocab_size < n_special + 256)
    return InvalidArgument("train-tokenizer: vocab size must be at least " + std::to_string(n_special + 256) +
                           " (the special tokens and 256 bytes)");
  QS_ASSIGN_OR_RETURN(tok::PreTokenizer pt, tok::PreTokenizer::FromJson(nlohmann::json::parse(PreTokenizerJson().dump()),
                                                                        "train-tokenizer"));
  // Word counts over the pre-tokenized corpus (special tokens cut out first).
  std::unordered_map<std::string, int64_t> counts;
  tok::PreTokScratch scratch;
  std::vector<std::string_view> pieces;
  std::vector<std::unique_ptr<std::string>> owned;
  for (std::string t : texts) {
    for (const auto& sp : SpecialTokens())
      for (size_t p; (p = t.find(sp)) != std::string::npos;) t.replace(p, sp.size(), "\n");
    if (!tok::IsValidUtf8(t)) t = tok::SanitizeUtf8(t);
    pieces.clear();
    owned.clear();
    QS_RETURN_IF_ERROR(pt.Split(t, &scratch, &pieces, &owned));
    for (auto p : pieces) ++counts[std::string(p)];
  }
  // Symbols 0..255 are the bytes; each merge appends one.
  std::vector<std::string> sym;
  for (int b = 0; b < 256; ++b) sym.push_back(tok::ByteLevelEncode(std::string(1, static_cast<char>(b))));
  std::vector<std::pair<std::string, int64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end());  // a fixed word order: the result never depends on hashing
  std::vector<std::vector<int32_t>> words;
  std::vector<int64_t> wc;
  for (const auto& [w, c] : sorted) {
    std::vector<int32_t> s;
    for (unsigned char ch : w) s.push_back(ch);
    words.push_back(std::move(s));
    wc.push_back(c);
  }
  std::unordered_map<uint64_t, int64_t> pc;
  std::unordered_map<uint64_t, std::vector<int32_t>> where;
  for (size_t i = 0; i < words.size(); ++i)
    for (size_t j = 0; j + 1 < words[i].size(); ++j) {
      const uint64_t k = Key(words[i][j], words[i][j + 1]);
      pc[k] += wc[i];
      auto& v = where[k];
      if (v.empty() || v.back() != static_cast<int32_t>(i)) v.push_back(static_cast<int32_t>(i));
    }
  struct Entry {
    int64_t count;
    uint64_t key;
  };
  auto merged = [&](uint64_t k) { return sym[k >> 32] + sym[k & 0xffffffffu]; };
  auto worse = [&](const Entry& a, const Entry& b) {
    if (a.count != b.count) return a.count < b.count;
    return merged(a.key) > merged(b.key);
  };
  std::priority_queue<Entry, std::vector<Entry>, decltype(worse)> heap(worse);
  for (const auto& [k, c] : pc) heap.push({c, k});

  BpeResult r;
  const int64_t want = o.vocab_size - n_special - 256;
  std::vector<int32_t> next;
  while (static_cast<int64_t>(r.merges.size()) < want && !heap.empty()) {
    Entry e = heap.top();
    heap.pop();
    auto it = pc.find(e.key);
    const int64_t cur = it == pc.end() ? 0 : it->second;
    if (cur != e.count) {  // stale: counts of old pairs only fall
      if (cur > 0) heap.push({cur, e.key});
      continue;
    }
    if (cur < o.min_frequency) break;
    const int32_t a = static_cast<int32_t>(e.key >> 32), b = static_cast<int32_t>(e.key & 0xffffffffu);
    const int32_t z = static_cast<int32_t>(sym.size());
    r.merges.emplace_back(sym[a], sym[b]);
    sym.push_back(sym[a] + sym[b]);
    std::unordered_map<uint64_t, int64_t> fresh;  // new pairs (with z) and their counts
    const std::vector<int32_t> ws = where[e.key];
    for (int32_t wi : ws) {
      auto& w = words[static_cast<size_t>(wi)];
      bool has = false;
      for (size_t j = 0; j + 1 < w.size(); ++j) has |= (w[j] == a && w[j + 1] == b);
      if (!has) continue;
      const int64_t c = wc[static_cast<size_t>(wi)];
      for (size_t j = 0; j + 1 < w.size(); ++j) pc[Key(w[j], w[j + 1])] -= c;
      next.clear();
      for (size_t j = 0; j < w.size(); ++j) {
        if (j + 1 < w.size() && w[j] == a && w[j + 1] == b) {
          next.push_back(z);
          ++j;
        } else {
          next.push_back(w[j]);
        }
      }
      w.swap(next);
      for (size_t j = 0; j + 1 < w.size(); ++j) {
        const uint64_t k = Key(w[j], w[j + 1]);
        pc[k] += c;
        if (w[j] == z || w[j + 1] == z) {
          fresh[k] += c;
          auto& v = where[k];
          if (v.empty() || v.back() != wi) v.push_back(wi);
        }
      }
    }
    pc.erase(e.key);
    where.erase(e.key);
    std::vector<std::pair<uint64_t, int64_t>> fr(fresh.begin(), fresh.end());
    std::sort(fr.begin(), fr.end());
    for (const auto& [k, c] : fr) heap.push({pc[k], k});
  }
  r.vocab = std::move(sym);
  return r;
}

Status WriteTokenizer(const BpeResult& r, const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return IoError(dir + ": " + ec.message());
  const auto& sp = SpecialTokens();
  json added = json::array();
  json vocab = json::object();
  for (size_t i = 0; i < sp.size(); ++i) {
    added.push_back({{"id", i}, {"content", sp[i]}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                     {"normalized", false}, {"special", true}});
    vocab[sp[i]] = i;
  }
  for (size_t i = 0; i < r.vocab.size(); ++i) vocab[r.vocab[i]] = sp.size() + i;
  json merges = json::array();
  for (const auto& [a, b] : r.merges) merges.push_back(a + " " + b);
  json tj;
  tj["version"] = "1.0";
  tj["truncation"] = nullptr;
  tj["padding"] = nullptr;
  tj["added_tokens"] = added;
  tj["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array()}};
  tj["pre_tokenizer"] = PreTokenizerJson();
  tj["post_processor"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}};
  tj["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  tj["model"] = {{"type", "BPE"},           {"dropout", nullptr},  {"unk_token", nullptr},
                 {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr}, {"fuse_unk", false},
                 {"byte_fallback", false},  {"vocab", vocab},      {"merges", merges}};
  json cj;
  auto tokobj = [](const std::string& s) {
    return json{{"__type", "AddedToken"}, {"content", s}, {"lstrip", false}, {"normalized", true}, {"rstrip", false},
                {"single_word", false}};
  };
  cj["add_bos_token"] = true;
  cj["add_eos_token"] = false;
  cj["bos_token"] = tokobj(sp[0]);
  cj["eos_token"] = tokobj(sp[1]);
  cj["pad_token"] = tokobj(sp[2]);
  cj["clean_up_tokenization_spaces"] = false;
  cj["legacy"] = true;
  cj["model_max_length"] = 4096;
  cj["unk_token"] = nullptr;
  cj["tokenizer_class"] = "LlamaTokenizerFast";
  cj["chat_template"] = kChatTemplate;
  for (const auto& [name, j] : {std::pair<const char*, const json*>{"tokenizer.json", &tj}, {"tokenizer_config.json", &cj}}) {
    std::ofstream f(fs::path(dir) / name);
    f << j->dump(1) << "\n";
    if (!f) return IoError((fs::path(dir) / name).string() + ": write failed");
  }
  return Status::Ok();
}

}  // namespace qs::train
