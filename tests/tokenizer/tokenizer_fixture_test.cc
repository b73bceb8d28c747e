// The shared tokenizer fixtures (../shared/fixtures/tokenizer, see its README.md):
//  * llama.cpp vocab-only GGUFs with .inp/.out cases (ids from Hugging Face, no BOS);
//  * DeepSeek-V3 and Qwen3 tokenizer.json with 60 expected-id cases each, in two modes.
// Every case must pass; failures print the text and both id lists.
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "testutil.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/tokenizer.h"

namespace qs {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string TokDir() { return test::FixturesDir() + "/tokenizer"; }

std::string Ids(const std::vector<int32_t>& v) {
  std::ostringstream ss;
  for (size_t i = 0; i < v.size(); ++i) ss << (i ? " " : "") << v[i];
  return ss.str();
}

// .inp: cases each followed by "\n__ggml_vocab_test__\n". .out: one line of ids per case.
void ParseInpOut(const std::string& inp, const std::string& out, std::vector<std::string>* texts,
                 std::vector<std::vector<int32_t>>* ids) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  for (size_t pos = 0;;) {
    size_t at = inp.find(sep, pos);
    if (at == std::string::npos) break;
    texts->push_back(inp.substr(pos, at - pos));
    pos = at + sep.size();
  }
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream ls(line);
    std::vector<int32_t> v;
    int32_t x;
    while (ls >> x) v.push_back(x);
    ids->push_back(std::move(v));
  }
}

std::vector<std::string> GgufVocabs(bool with_out) {
  std::vector<std::string> r;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(TokDir(), ec)) {
    if (e.path().extension() != ".gguf") continue;
    if (with_out && !fs::exists(e.path().string() + ".out")) continue;
    r.push_back(e.path().string());
  }
  std::sort(r.begin(), r.end());
  return r;
}

TEST(TokenizerFixtures, GgufVocabInpOutCases) {
  QS_REQUIRE_FIXTURES();
  auto vocabs = GgufVocabs(true);
  ASSERT_GE(vocabs.size(), 5u) << "expected the llama.cpp vocab fixtures in " << TokDir();
  for (const auto& path : vocabs) {
    auto tok = Tokenizer::Load(path);
    ASSERT_TRUE(tok.ok()) << path << ": " << tok.status().message();
    std::vector<std::string> texts;
    std::vector<std::vector<int32_t>> want;
    ParseInpOut(test::ReadFileOrDie(path + ".inp"), test::ReadFileOrDie(path + ".out"), &texts, &want);
    ASSERT_EQ(texts.size(), want.size()) << path << ": .inp / .out case counts differ";
    int pass = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
      auto got = (*tok)->Encode(texts[i], /*parse_special=*/false, /*add_bos=*/false);
      ASSERT_TRUE(got.ok()) << got.status().message();
      auto got_sp = (*tok)->Encode(texts[i], /*parse_special=*/true, /*add_bos=*/false);
      ASSERT_TRUE(got_sp.ok()) << got_sp.status().message();
      bool ok = got.value() == want[i] && got_sp.value() == want[i];
      pass += ok;
      EXPECT_TRUE(ok) << fs::path(path).filename() << " case " << i << " " << json(texts[i]).dump()
                      << "\n  want: " << Ids(want[i]) << "\n  got:  " << Ids(got.value());
      // Byte-level BPE is lossless without a normalizer (Qwen's NFC aside).
      EXPECT_EQ((*tok)->Decode(got.value()), texts[i]) << path << " case " << i;
    }
    std::cout << "[ fixture  ] " << fs::path(path).filename().string() << ": " << pass << "/" << texts.size()
              << " cases pass\n";
  }
}

TEST(TokenizerFixtures, AllGgufVocabsLoad) {
  QS_REQUIRE_FIXTURES();
  for (const auto& path : GgufVocabs(false)) {
    auto tok = Tokenizer::Load(path);
    ASSERT_TRUE(tok.ok()) << path << ": " << tok.status().message();
    EXPECT_GT((*tok)->vocab_size(), 30000u);
    EXPECT_GE((*tok)->eos_id(), 0) << path;
  }
}

struct JsonCases {
  json doc;
  std::string dir;
};

JsonCases ReadCases(const std::string& file, const std::string& dir) {
  JsonCases c;
  c.doc = json::parse(test::ReadFileOrDie(TokDir() + "/" + file));
  c.dir = TokDir() + "/" + dir;
  return c;
}

// Runs every case of a *-cases.json against a tokenizer: both modes, BOS, and decoding.
void CheckJsonCases(const Tokenizer& tok, const json& doc, const std::string& label, bool check_special_mode) {
  const bool nfc = doc.value("normalizer", "") == "NFC";
  const bool add_bos = doc.value("add_bos_token", false);
  int pass = 0, pass_sp = 0, n = 0;
  for (const auto& c : doc["cases"]) {
    ++n;
    const std::string text = c["text"].get<std::string>();
    const auto want = c["ids"].get<std::vector<int32_t>>();
    auto got = tok.Encode(text, false, false);
    ASSERT_TRUE(got.ok()) << got.status().message();
    pass += got.value() == want;
    EXPECT_EQ(Ids(got.value()), Ids(want)) << label << " ids " << json(text).dump();
    if (check_special_mode) {
      const auto want_sp = c["ids_special"].get<std::vector<int32_t>>();
      auto got_sp = tok.Encode(text, true, false);
      ASSERT_TRUE(got_sp.ok());
      pass_sp += got_sp.value() == want_sp;
      EXPECT_EQ(Ids(got_sp.value()), Ids(want_sp)) << label << " ids_special " << json(text).dump();
    }
    // BOS as the config asks: DeepSeek-V3 prepends 0, Qwen adds nothing.
    auto with_bos = tok.Encode(text, false, true);
    ASSERT_TRUE(with_bos.ok());
    std::vector<int32_t> want_bos = want;
    if (add_bos) want_bos.insert(want_bos.begin(), doc["bos_token_id"].get<int32_t>());
    EXPECT_EQ(Ids(with_bos.value()), Ids(want_bos)) << label << " with BOS " << json(text).dump();
    // Decoding gives back the text (its NFC form for Qwen).
    std::string expect_text = text;
    if (nfc) tok::Normalizer::Of({tok::Normalizer::Form::kNFC}).Apply(text, &expect_text);
    EXPECT_EQ(tok.Decode(want), expect_text) << label << " decode " << json(text).dump();
  }
  std::cout << "[ fixture  ] " << label << ": ids " << pass << "/" << n;
  if (check_special_mode) std::cout << ", ids_special " << pass_sp << "/" << n;
  std::cout << "\n";
}

TEST(TokenizerFixtures, DeepSeekV3TokenizerJson) {
  QS_REQUIRE_FIXTURES();
  auto cases = ReadCases("deepseek-v3-cases.json", "deepseek-v3");
  auto tok = Tokenizer::Load(cases.dir);  // the directory: tokenizer.json + tokenizer_config.json
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  EXPECT_EQ((*tok)->bos_id(), 0);
  EXPECT_EQ((*tok)->eos_id(), 1);
  EXPECT_EQ((*tok)->bos_token(), "<｜begin▁of▁sentence｜>");
  EXPECT_TRUE((*tok)->chat_template().has_value());
  EXPECT_EQ((*tok)->vocab_size(), 128815u);
  EXPECT_TRUE((*tok)->IsSpecial(0));
  EXPECT_FALSE((*tok)->IsSpecial(128803));  // <｜User｜> is a non-special added token
  CheckJsonCases(**tok, cases.doc, "deepseek-v3/tokenizer.json", true);
}

TEST(TokenizerFixtures, QwenTokenizerJson) {
  QS_REQUIRE_FIXTURES();
  auto cases = ReadCases("qwen-cases.json", "qwen3");
  auto tok = Tokenizer::Load(cases.dir + "/tokenizer.json");  // a file path: sibling config is read
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  EXPECT_EQ((*tok)->bos_id(), -1);
  EXPECT_EQ((*tok)->eos_id(), 151645);
  EXPECT_FALSE((*tok)->add_bos_token());
  CheckJsonCases(**tok, cases.doc, "qwen3/tokenizer.json", true);
}

// The GGUF vocabs rebuilt from the same BPE must give the same pure-BPE ids as tokenizer.json
// (Qwen including NFC, which Hugging Face applies and llama.cpp does not).
TEST(TokenizerFixtures, GgufVocabsMatchJsonCases) {
  QS_REQUIRE_FIXTURES();
  struct Pair { const char* gguf; const char* cases; };
  for (Pair p : {Pair{"ggml-vocab-deepseek-v3-reconstructed.gguf", "deepseek-v3-cases.json"},
                 Pair{"ggml-vocab-qwen2-reconstructed.gguf", "qwen-cases.json"},
                 Pair{"ggml-vocab-deepseek-r1-qwen-reconstructed.gguf", "qwen-cases.json"}}) {
    auto tok = Tokenizer::Load(TokDir() + "/" + p.gguf);
    ASSERT_TRUE(tok.ok()) << tok.status().message();
    json doc = json::parse(test::ReadFileOrDie(TokDir() + "/" + p.cases));
    doc["add_bos_token"] = false;  // the GGUF's own add_bos_token is checked elsewhere
    if ((*tok)->add_bos_token()) {
      // R1-distill adds BOS; compare without it.
      for (const auto& c : doc["cases"]) {
        auto got = (*tok)->Encode(c["text"].get<std::string>(), false, false);
        ASSERT_TRUE(got.ok());
        EXPECT_EQ(Ids(got.value()), Ids(c["ids"].get<std::vector<int32_t>>())) << p.gguf;
      }
      continue;
    }
    CheckJsonCases(**tok, doc, p.gguf, false);
  }
}

}  // namespace
}  // namespace qs
