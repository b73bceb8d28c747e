// Unit tests of the tokenizer parts on small synthetic tokenizers (no fixtures needed).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "io/gguf_writer.h"
#include "testutil.h"
#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace qs {
namespace {

using nlohmann::json;

std::string BL(std::string_view raw) { return tok::ByteLevelEncode(raw); }

// A toy byte-level BPE: the 256 byte tokens (ids 0..255) plus merges for "hello", " world", "ll".
json ToyTokenizerJson() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[BL(std::string(1, static_cast<char>(b)))] = b;
  json merges = json::array();
  int next = 256;
  auto merge = [&](const std::string& a, const std::string& b) {
    merges.push_back(BL(a) + " " + BL(b));
    vocab[BL(a + b)] = next++;
  };
  merge("l", "l");        // 256
  merge("h", "e");        // 257
  merge("he", "ll");      // 258
  merge("hell", "o");     // 259
  merge(" ", "w");        // 260
  merge(" w", "o");       // 261
  merge("r", "l");        // 262
  merge(" wo", "rl");     // 263
  merge(" worl", "d");    // 264
  json j;
  j["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}};
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  j["decoder"] = {{"type", "ByteLevel"}};
  j["post_processor"] = nullptr;
  j["added_tokens"] = json::array({
      {{"id", 300}, {"content", "<|s|>"}, {"special", true}, {"normalized", false}},
      {{"id", 301}, {"content", "<tag>"}, {"special", false}, {"normalized", false}},
      {{"id", 302}, {"content", "~"}, {"special", false}, {"normalized", false}},  // plain-text added token
      {{"id", 303}, {"content", "[L]"}, {"special", true}, {"lstrip", true}, {"normalized", false}},
      {{"id", 304}, {"content", "[R]"}, {"special", true}, {"rstrip", true}, {"normalized", false}},
      {{"id", 305}, {"content", "[W]"}, {"special", true}, {"single_word", true}, {"normalized", false}},
  });
  return j;
}

std::unique_ptr<Tokenizer> Toy(const json& j = ToyTokenizerJson(), const std::string& config = "") {
  auto t = Tokenizer::FromJsonText(j.dump(), config, "toy.json");
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? std::move(t).value() : nullptr;
}

std::vector<int32_t> Enc(const Tokenizer& t, std::string_view s, bool special = false, bool bos = false) {
  auto r = t.Encode(s, special, bos);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? r.value() : std::vector<int32_t>{};
}

TEST(ByteLevel, AlphabetRoundTrip) {
  EXPECT_EQ(tok::ByteToCodepoint(' '), 0x120u);  // 'Ġ'
  EXPECT_EQ(tok::ByteToCodepoint('\n'), 0x10Au);  // 'Ċ'
  EXPECT_EQ(tok::ByteToCodepoint('A'), static_cast<uint32_t>('A'));
  std::set<uint32_t> seen;
  for (int b = 0; b < 256; ++b) {
    uint32_t cp = tok::ByteToCodepoint(static_cast<uint8_t>(b));
    EXPECT_EQ(tok::CodepointToByte(cp), b);
    seen.insert(cp);
  }
  EXPECT_EQ(seen.size(), 256u);
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string back;
  ASSERT_TRUE(tok::ByteLevelDecode(tok::ByteLevelEncode(all), &back));
  EXPECT_EQ(back, all);
  EXPECT_FALSE(tok::ByteLevelDecode("<｜User｜>", &back));  // not alphabet characters
}

TEST(ByteLevel, Utf8Validation) {
  EXPECT_TRUE(tok::IsValidUtf8("plain ascii"));
  EXPECT_TRUE(tok::IsValidUtf8("中文 🚀 é"));
  EXPECT_TRUE(tok::IsValidUtf8(std::string("a\0b", 3)));
  EXPECT_EQ(tok::ValidUtf8Prefix("ab\xC0\x80"), 2u);         // overlong NUL
  EXPECT_EQ(tok::ValidUtf8Prefix("\xED\xA0\x80"), 0u);       // surrogate U+D800
  EXPECT_EQ(tok::ValidUtf8Prefix("x\xF4\x90\x80\x80"), 1u);  // above U+10FFFF
  EXPECT_EQ(tok::ValidUtf8Prefix("xy\xE4\xB8"), 2u);         // truncated
  EXPECT_EQ(tok::ValidUtf8Prefix("\x80"), 0u);               // lone continuation
  EXPECT_EQ(tok::ValidUtf8Prefix("\xFF"), 0u);
  EXPECT_EQ(tok::IncompleteUtf8Suffix("ab\xE4\xB8"), 2u);
  EXPECT_EQ(tok::IncompleteUtf8Suffix("ab\xF0\x9F\x9A"), 3u);
  EXPECT_EQ(tok::IncompleteUtf8Suffix("ab\xE4\xB8\xAD"), 0u);  // complete
  EXPECT_EQ(tok::IncompleteUtf8Suffix("ab\xFF"), 0u);          // invalid, not incomplete
  EXPECT_EQ(tok::SanitizeUtf8("a\xFF" "b\xE4\xB8" "c"), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c");
  EXPECT_EQ(tok::SanitizeUtf8("\xE4\xB8\xAD"), "\xE4\xB8\xAD");
}

TEST(Pretokenizer, OnigurumaTranslation) {
  EXPECT_EQ(tok::TranslateOnigPattern(R"(\s+(?!\S))"), R"([\s\x{85}]+(?![^\s\x{85}]))");
  EXPECT_EQ(tok::TranslateOnigPattern(R"([^\s\p{L}])"), R"([^\s\x{85}\p{L}])");
  EXPECT_EQ(tok::TranslateOnigPattern(R"([]\s])"), R"([]\s\x{85}])");
  EXPECT_EQ(tok::TranslateOnigPattern(R"(\\s)"), R"(\\s)");  // an escaped backslash, then 's'
  // U+0085 (NEL) is whitespace for Oniguruma (and so for Hugging Face).
  auto re = tok::Regex::Compile("\\s+", false, "test");
  ASSERT_TRUE(re.ok());
  tok::PreTokScratch scratch;
  size_t ms, me;
  ASSERT_EQ((*re)->Find("a\xC2\x85" "b", 0, &scratch, &ms, &me), 1);
  EXPECT_EQ(ms, 1u);
  EXPECT_EQ(me, 3u);
}

std::vector<std::string> SplitWith(const json& pre, std::string_view text) {
  auto pt = tok::PreTokenizer::FromJson(
      {{"type", "Sequence"}, {"pretokenizers", {pre, {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}},
      "test");
  EXPECT_TRUE(pt.ok()) << pt.status().message();
  tok::PreTokScratch scratch;
  std::vector<std::string_view> pieces;
  std::vector<std::unique_ptr<std::string>> owned;
  EXPECT_TRUE(pt->Split(text, &scratch, &pieces, &owned).ok());
  return {pieces.begin(), pieces.end()};
}

json SplitStep(const char* behavior, bool invert = false, const char* pattern = "-") {
  return {{"type", "Split"}, {"pattern", {{"String", pattern}}}, {"behavior", behavior}, {"invert", invert}};
}

// The examples of Hugging Face's SplitDelimiterBehavior documentation.
TEST(Pretokenizer, SplitBehaviors) {
  using V = std::vector<std::string>;
  const char* text = "the-final--countdown";
  EXPECT_EQ(SplitWith(SplitStep("Removed"), text), (V{"the", "final", "countdown"}));
  EXPECT_EQ(SplitWith(SplitStep("Isolated"), text), (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(SplitWith(SplitStep("MergedWithPrevious"), text), (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(SplitWith(SplitStep("MergedWithNext"), text), (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(SplitWith(SplitStep("Contiguous"), text), (V{"the", "-", "final", "--", "countdown"}));
  json inv = {{"type", "Split"}, {"pattern", {{"Regex", "[a-z]+"}}}, {"behavior", "Removed"}, {"invert", true}};
  EXPECT_EQ(SplitWith(inv, text), (V{"the", "final", "countdown"}));
  json digits = {{"type", "Digits"}, {"individual_digits", true}};
  EXPECT_EQ(SplitWith(digits, "ab123"), (V{"ab", "1", "2", "3"}));
  // Each step splits each piece on its own: the lookahead of \s+(?!\S) stops at the piece end.
  json seq = {{"type", "Sequence"},
              {"pretokenizers", {{{"type", "Split"}, {"pattern", {{"Regex", "\\p{N}+"}}}, {"behavior", "Isolated"}},
                                 {{"type", "Split"}, {"pattern", {{"Regex", "\\s+(?!\\S)|\\s+"}}}, {"behavior", "Isolated"}}}}};
  EXPECT_EQ(SplitWith(seq, "a  1"), (V{"a", "  ", "1"}));
}

TEST(Pretokenizer, GgufNames) {
  for (const char* n : {"deepseek-llm", "deepseek-coder", "deepseek-v3", "qwen2", "deepseek-r1-qwen", "llama-bpe",
                        "gpt-2", "default"})
    EXPECT_TRUE(tok::PreTokenizer::FromGgufPreName(n, "x.gguf").ok()) << n;
  auto bad = tok::PreTokenizer::FromGgufPreName("nonsense", "x.gguf");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("x.gguf"), std::string::npos);
  EXPECT_NE(bad.status().message().find("nonsense"), std::string::npos);
}

TEST(Bpe, HeapAndScanAgree) {
  // Random merges over a 3-letter alphabet: the two merge algorithms must agree on every word.
  std::vector<std::string> strs;  // id -> token
  std::set<std::string> known;
  std::vector<std::string> toks;
  for (int b = 0; b < 256; ++b) {
    std::string s;
    tok::AppendUtf8(tok::ByteToCodepoint(static_cast<uint8_t>(b)), &s);
    strs.push_back(s);
    known.insert(s);
  }
  for (char c : std::string("abc")) toks.emplace_back(1, c);
  std::vector<std::pair<std::string, std::string>> merges;
  uint64_t s = 12345;
  auto rnd = [&](size_t n) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    return static_cast<size_t>(s % n);
  };
  for (int i = 0; i < 400; ++i) {
    const std::string a = toks[rnd(toks.size())], b = toks[rnd(toks.size())];
    if (known.count(a + b) || a.size() + b.size() > 12) continue;
    merges.emplace_back(a, b);
    strs.push_back(a + b);
    known.insert(a + b);
    toks.push_back(a + b);
  }
  tok::StrIndex vocab(&strs);
  for (size_t i = 0; i < strs.size(); ++i) vocab.Insert(static_cast<int32_t>(i), false);
  auto bpe = tok::BpeModel::Build(vocab, merges, false, true, "toy");
  ASSERT_TRUE(bpe.ok()) << bpe.status().message();
  for (int w = 0; w < 2000; ++w) {
    std::string word;
    size_t n = 1 + rnd(90);
    for (size_t i = 0; i < n; ++i) word.push_back("abc"[rnd(3)]);
    std::vector<int32_t> a, b, c;
    (*bpe)->MergeWord(word, false, &a);
    (*bpe)->MergeWord(word, true, &b);
    (*bpe)->EncodeWord(word, &c);
    ASSERT_EQ(a, b) << word;
    ASSERT_EQ(a, c) << word;
  }
}

TEST(Bpe, MergeNamingUnknownTokenIsAnError) {
  std::vector<std::string> strs = {"a", "b"};
  tok::StrIndex vocab(&strs);
  vocab.Insert(0, false);
  vocab.Insert(1, false);
  auto r = tok::BpeModel::Build(vocab, {{"a", "b"}}, false, true, "m.json");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("m.json"), std::string::npos);
  size_t skipped = 0;
  EXPECT_TRUE(tok::BpeModel::Build(vocab, {{"a", "b"}}, false, false, "m.gguf", &skipped).ok());
  EXPECT_EQ(skipped, 1u);
}

TEST(Tokenizer, ToyEncodeDecode) {
  auto t = Toy();
  ASSERT_TRUE(t);
  EXPECT_EQ(Enc(*t, "hello world"), (std::vector<int32_t>{259, 264}));
  EXPECT_EQ(t->Decode({259, 264}), "hello world");
  EXPECT_EQ(t->TokenText(260), "Ġw");
  EXPECT_EQ(t->TokenId("Ġw"), 260);
  EXPECT_EQ(t->TokenId("<|s|>"), 300);
  EXPECT_EQ(t->TokenId("nope"), -1);
  EXPECT_EQ(t->vocab_size(), 306u);
  EXPECT_TRUE(Enc(*t, "").empty());
  // Byte-level BPE round-trips any valid UTF-8.
  const std::string s = "héllo\t\n 世界 🚀 <|s|> ~";
  EXPECT_EQ(t->Decode(Enc(*t, s)), s);
  EXPECT_EQ(t->Decode(Enc(*t, s, true)), s);
}

TEST(Tokenizer, AddedTokens) {
  auto t = Toy();
  ASSERT_TRUE(t);
  // Special and markup-like tokens only with parse_special.
  EXPECT_EQ(Enc(*t, "<|s|>", true), (std::vector<int32_t>{300}));
  EXPECT_EQ(Enc(*t, "a<tag>b", true), (std::vector<int32_t>{'a', 301, 'b'}));
  auto Count = [](const std::vector<int32_t>& v, int32_t id) { return std::count(v.begin(), v.end(), id); };
  EXPECT_EQ(Enc(*t, "<|s|>", false), (std::vector<int32_t>{'<', '|', 's', '|', '>'}));  // plain text
  EXPECT_EQ(Count(Enc(*t, "a<tag>b", false), 301), 0);
  // A plain-text added token is matched in both modes.
  EXPECT_EQ(Enc(*t, "a~b", false), (std::vector<int32_t>{'a', 302, 'b'}));
  // lstrip / rstrip swallow neighbouring whitespace; single_word needs word boundaries.
  EXPECT_EQ(Enc(*t, "a  [L]b", true), (std::vector<int32_t>{'a', 303, 'b'}));
  EXPECT_EQ(Enc(*t, "a[R]  b", true), (std::vector<int32_t>{'a', 304, 'b'}));
  EXPECT_EQ(Count(Enc(*t, "a [W] b", true), 305), 1);
  EXPECT_EQ(Count(Enc(*t, "a[W]b", true), 305), 0);
  EXPECT_TRUE(t->IsSpecial(300));
  EXPECT_FALSE(t->IsSpecial(301));
  EXPECT_EQ(t->Decode({300, 301, 302}), "<|s|><tag>~");
}

TEST(Tokenizer, BosFromConfigAndTemplate) {
  json cfg = {{"add_bos_token", true}, {"bos_token", {{"__type", "AddedToken"}, {"content", "<|s|>"}}},
              {"eos_token", "[R]"}, {"chat_template", "{{ bos_token }}"}};
  auto t = Toy(ToyTokenizerJson(), cfg.dump());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->bos_id(), 300);
  EXPECT_EQ(t->eos_id(), 304);
  EXPECT_EQ(t->bos_token(), "<|s|>");
  EXPECT_EQ(Enc(*t, "hello", false, true), (std::vector<int32_t>{300, 259}));
  EXPECT_EQ(Enc(*t, "hello", false, false), (std::vector<int32_t>{259}));
  EXPECT_EQ(t->chat_template().value_or(""), "{{ bos_token }}");
  // Without a config, TemplateProcessing decides.
  json j = ToyTokenizerJson();
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", {{{"SpecialToken", {{"id", "<|s|>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                         {"special_tokens", {{"<|s|>", {{"id", "<|s|>"}, {"ids", {300}}, {"tokens", {"<|s|>"}}}}}}};
  auto t2 = Toy(j);
  ASSERT_TRUE(t2);
  EXPECT_EQ(Enc(*t2, "hello", false, true), (std::vector<int32_t>{300, 259}));
  EXPECT_EQ(t2->bos_id(), 300);
}

TEST(Tokenizer, InvalidUtf8IsAnError) {
  auto t = Toy();
  ASSERT_TRUE(t);
  auto r = t->Encode("ok\xFFno", false, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("UTF-8"), std::string::npos);
  EXPECT_NE(r.status().message().find("offset 2"), std::string::npos);
  EXPECT_FALSE(t->Encode("\xED\xA0\x80", true, true).ok());
}

TEST(Tokenizer, NfcNormalizer) {
  json j = ToyTokenizerJson();
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}}}};
  auto t = Toy(j);
  ASSERT_TRUE(t);
  EXPECT_EQ(Enc(*t, "e\xCC\x81"), Enc(*t, "\xC3\xA9"));  // e + U+0301 -> é
  j["normalizer"] = {{"type", "Lowercase"}};
  auto bad = Tokenizer::FromJsonText(j.dump(), "", "lc.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("Lowercase"), std::string::npos);
}

TEST(Tokenizer, StreamDecoderHoldsPartialCharacters) {
  auto t = Toy();
  ASSERT_TRUE(t);
  const std::string text = "世界🚀é ok";
  std::vector<int32_t> ids = Enc(*t, text);  // one id per byte for non-ASCII: splits characters
  StreamDecoder sd(*t);
  std::string all;
  for (int32_t id : ids) {
    std::string piece = sd.Push(id);
    EXPECT_TRUE(tok::IsValidUtf8(piece));
    all += piece;
  }
  all += sd.Flush();
  EXPECT_EQ(all, text);
  // An unfinished character at the end comes out as U+FFFD.
  StreamDecoder sd2(*t);
  EXPECT_EQ(sd2.Push(0xE4), "");  // toy ids 0..255 are the byte tokens
  EXPECT_EQ(sd2.Flush(), "\xEF\xBF\xBD");
}

TEST(Tokenizer, LoadErrorsNameTheFile) {
  const std::string dir = test::TempDir("tok-load");
  auto r = Tokenizer::Load(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("tokenizer.json"), std::string::npos);
  EXPECT_FALSE(Tokenizer::Load(dir + "/missing.json").ok());
  test::WriteFile(dir + "/tokenizer.json", "{ not json");
  r = Tokenizer::Load(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("tokenizer.json"), std::string::npos);
  json j = ToyTokenizerJson();
  j["model"]["type"] = "Unigram";
  EXPECT_FALSE(Tokenizer::FromJsonText(j.dump(), "", "u.json").ok());
  j = ToyTokenizerJson();
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  EXPECT_FALSE(Tokenizer::FromJsonText(j.dump(), "", "w.json").ok());
  j = ToyTokenizerJson();
  j["model"]["merges"].push_back("zz qq");
  EXPECT_FALSE(Tokenizer::FromJsonText(j.dump(), "", "m.json").ok());
  j = ToyTokenizerJson();
  j["model"]["vocab"]["x"] = "not a number";
  EXPECT_FALSE(Tokenizer::FromJsonText(j.dump(), "", "v.json").ok());
  j = ToyTokenizerJson();
  j["added_tokens"] = {{{"id", -5}, {"content", "x"}}};
  EXPECT_FALSE(Tokenizer::FromJsonText(j.dump(), "", "a.json").ok());
  // The directory form reads tokenizer_config.json beside it.
  test::WriteFile(dir + "/tokenizer.json", ToyTokenizerJson().dump());
  test::WriteFile(dir + "/tokenizer_config.json", json{{"add_bos_token", true}, {"bos_token", "<|s|>"}}.dump());
  r = Tokenizer::Load(dir);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)->bos_id(), 300);
}

// A GGUF vocab written with GgufWriter: pre-tokenizer names, token types, BOS.
TEST(Tokenizer, GgufVocab) {
  const std::string dir = test::TempDir("tok-gguf");
  auto write = [&](const std::string& pre, const std::string& path) {
    GgufWriter w;
    w.SetString("general.architecture", "llama");
    w.SetString("tokenizer.ggml.model", "gpt2");
    w.SetString("tokenizer.ggml.pre", pre);
    std::vector<std::string> tokens;
    for (int b = 0; b < 256; ++b) tokens.push_back(BL(std::string(1, static_cast<char>(b))));
    tokens.push_back(BL("he"));
    tokens.push_back("<s>");
    tokens.push_back("[PAD258]");
    std::vector<int32_t> types(256, 1);
    types.push_back(1);
    types.push_back(3);
    types.push_back(5);
    w.SetStringArray("tokenizer.ggml.tokens", tokens);
    w.SetI32Array("tokenizer.ggml.token_type", types);
    w.SetStringArray("tokenizer.ggml.merges", std::vector<std::string>{"h e"});
    w.SetU32("tokenizer.ggml.bos_token_id", 257);
    w.SetU32("tokenizer.ggml.eos_token_id", 257);
    w.SetBool("tokenizer.ggml.add_bos_token", true);
    w.SetString("tokenizer.chat_template", "T");
    ASSERT_TRUE(w.Begin(path).ok());
    ASSERT_TRUE(w.Finish().ok());
  };
  write("deepseek-v3", dir + "/v.gguf");
  auto t = Tokenizer::Load(dir + "/v.gguf");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(Enc(**t, "hehe", false, true), (std::vector<int32_t>{257, 256, 256}));
  EXPECT_EQ(Enc(**t, "<s>", true), (std::vector<int32_t>{257}));
  EXPECT_EQ((*t)->Decode({256, 257, 258}), "he<s>");  // unused [PAD] decodes to nothing
  EXPECT_EQ((*t)->chat_template().value_or(""), "T");
  EXPECT_EQ((*t)->bos_token(), "<s>");
  write("no-such-pre", dir + "/bad.gguf");
  auto bad = Tokenizer::Load(dir + "/bad.gguf");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("no-such-pre"), std::string::npos);
}

TEST(Tokenizer, ConcurrentEncodeIsConsistent) {
  auto t = Toy();
  ASSERT_TRUE(t);
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "hello world " + std::to_string(i) + " 世界 ";
  const auto want = Enc(*t, text);
  std::vector<std::thread> th;
  std::atomic<int> bad{0};
  for (int k = 0; k < 4; ++k)
    th.emplace_back([&] {
      for (int r = 0; r < 5; ++r)
        if (t->Encode(text, false, false).value() != want) ++bad;
    });
  for (auto& x : th) x.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace qs
