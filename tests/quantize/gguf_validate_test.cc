// The GGUF validator (accepts what `qiusuo quantize` writes, rejects broken files with messages
// that name the problem) and the tokenizer -> tokenizer.ggml.* export (against llama.cpp's
// vocab files).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "convert/gguf_quantize.h"
#include "convert/gguf_validate.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_gguf_export.h"
#include "testutil.h"

namespace qs {
namespace {

namespace fs = std::filesystem;

std::string Joined(const GgufValidation& v) {
  std::string s;
  for (const auto& e : v.errors) s += e + "\n";
  return s;
}

// Copies `src` to `dst`, letting `edit` change metadata and drop / reshape tensors.
struct Edit {
  std::function<void(GgufWriter*)> meta;
  std::string drop;                      // tensor to leave out
  std::string reshape;                   // tensor whose ne[1] is halved (data truncated)
};
void Rewrite(const GgufFile& src, const std::string& dst, const Edit& e) {
  GgufWriter w(src.alignment());
  ASSERT_TRUE(w.CopyMetadata(src).ok());
  if (e.meta) e.meta(&w);
  std::vector<std::pair<const GgufTensorInfo*, size_t>> keep;
  for (const auto& t : src.tensors()) {
    if (t.name == e.drop) continue;
    std::vector<int64_t> ne = t.ne;
    size_t nb = t.nbytes;
    if (t.name == e.reshape) {
      ne[1] /= 2;
      nb /= 2;
    }
    ASSERT_TRUE(w.AddTensor(t.name, t.type, ne).ok());
    keep.emplace_back(&t, nb);
  }
  ASSERT_TRUE(w.Begin(dst).ok());
  for (auto& [t, nb] : keep) ASSERT_TRUE(w.WriteTensor(t->name, t->data, nb).ok());
  ASSERT_TRUE(w.Finish().ok());
}

TEST(GgufValidate, AcceptsQuantizeOutputAndRejectsBrokenFiles) {
  QS_REQUIRE_FIXTURES();
  const std::string tmp = test::TempDir("gguf_validate");
  const std::string good = tmp + "/good.gguf";
  QuantizeOptions qo;
  qo.model = test::FixturesDir() + "/deepseek-golden/v2-tiny/checkpoint";
  qo.out = good;
  qo.type = "q8_0";
  Status qst = QuantizeModel(qo);
  ASSERT_TRUE(qst.ok()) << qst.message();
  auto g = GgufFile::Open(good);
  ASSERT_TRUE(g.ok());
  GgufValidation v = ValidateGgufModel(**g);
  EXPECT_TRUE(v.ok()) << Joined(v);
  bool warned_tokenizer = false;
  for (auto& w : v.warnings) warned_tokenizer |= w.find("tokenizer") != std::string::npos;
  EXPECT_TRUE(warned_tokenizer);  // this checkpoint has no tokenizer.json

  // llama.cpp's own files validate too.
  for (const char* f : {"dense-golden/llama3rope-tiny/gguf/llama3rope-tiny-Q4_0.gguf",
                        "dense-golden/qwen2-tiny/gguf/qwen2-tiny-F16.gguf",
                        "dense-golden/deepseek2-v2lite-tiny/v2lite-tiny-F32.gguf"}) {
    auto r = GgufFile::Open(test::FixturesDir() + "/" + f);
    ASSERT_TRUE(r.ok());
    GgufValidation rv = ValidateGgufModel(**r);
    EXPECT_TRUE(rv.ok()) << f << ": " << Joined(rv);
    EXPECT_TRUE(rv.warnings.empty()) << f << ": " << rv.warnings[0];
  }

  struct Case {
    Edit edit;
    const char* expect;
  } cases[] = {
      {{nullptr, "blk.1.ffn_up_exps.weight", ""}, "tensor 'blk.1.ffn_up_exps.weight' is missing"},
      {{nullptr, "", "blk.0.attn_kv_b.weight"}, "tensor 'blk.0.attn_kv_b.weight' has ne"},
      {{[](GgufWriter* w) { w->SetString("general.architecture", "gptneox"); }, "", ""}, "gptneox"},
      {{[](GgufWriter* w) { w->Remove("deepseek2.attention.kv_lora_rank"); }, "", ""}, "kv_lora_rank"},
      {{[](GgufWriter* w) { w->SetU32("deepseek2.expert_count", 7); }, "", ""}, "expert"},
  };
  for (const auto& c : cases) {
    const std::string bad = tmp + "/bad.gguf";
    Rewrite(**g, bad, c.edit);
    auto b = GgufFile::Open(bad);
    ASSERT_TRUE(b.ok()) << b.status().message();
    GgufValidation bv = ValidateGgufModel(**b);
    EXPECT_FALSE(bv.ok()) << c.expect;
    EXPECT_NE(Joined(bv).find(c.expect), std::string::npos) << "expected '" << c.expect << "' in: " << Joined(bv);
    EXPECT_NE(bv.ToStatus(bad).message().find(bad), std::string::npos);
  }

  // Overlapping tensor data: the parser or the validator must say so.
  std::string bytes = test::ReadFileOrDie(good);
  const GgufTensorInfo& t1 = (*g)->tensors()[1];
  const std::string name = t1.name;
  size_t pos = bytes.find(name);
  ASSERT_NE(pos, std::string::npos);
  pos += name.size() + 4 + 8 * t1.ne.size() + 4;  // n_dims, ne[], type -> offset
  uint64_t zero = 0;
  std::memcpy(&bytes[pos], &zero, 8);  // tensor 1 now starts where tensor 0 does
  test::WriteFile(tmp + "/overlap.gguf", bytes);
  auto o = GgufFile::Open(tmp + "/overlap.gguf");
  if (o.ok()) {
    GgufValidation ov = ValidateGgufModel(**o);
    EXPECT_NE(Joined(ov).find("overlap"), std::string::npos) << Joined(ov);
  } else {
    EXPECT_NE(o.status().message().find("overlap"), std::string::npos) << o.status().message();
  }
  fs::remove_all(tmp);
}

// Newer deepseek2 files split attn_kv_b into attn_k_b (transposed per head) and attn_v_b: the
// validator accepts them and requantizing rebuilds the combined tensor exactly.
TEST(GgufValidate, SplitKvBIsAcceptedAndRequantizedBack) {
  QS_REQUIRE_FIXTURES();
  const std::string tmp = test::TempDir("gguf_split");
  const std::string src = test::FixturesDir() + "/dense-golden/deepseek2-v2lite-tiny/v2lite-tiny-F32.gguf";
  auto g = GgufFile::Open(src);
  ASSERT_TRUE(g.ok());
  const int64_t H = 4, nope = 32, vd = 32, L = 64;  // v2lite-tiny
  GgufWriter w((*g)->alignment());
  ASSERT_TRUE(w.CopyMetadata(**g).ok());
  std::vector<std::pair<std::string, std::vector<float>>> data;
  for (const auto& t : (*g)->tensors()) {
    std::vector<float> v(static_cast<size_t>(t.numel()));
    std::memcpy(v.data(), t.data, t.nbytes);
    const std::string kvb = ".attn_kv_b.weight";
    if (t.name.size() > kvb.size() && t.name.compare(t.name.size() - kvb.size(), kvb.size(), kvb) == 0) {
      ASSERT_EQ(t.ne, (std::vector<int64_t>{L, H * (nope + vd)}));
      const std::string p = t.name.substr(0, t.name.size() - kvb.size());
      std::vector<float> k(static_cast<size_t>(H * L * nope)), vv(static_cast<size_t>(H * vd * L));
      for (int64_t h = 0; h < H; ++h)
        for (int64_t j = 0; j < nope + vd; ++j)
          for (int64_t c = 0; c < L; ++c) {
            const float x = v[(h * (nope + vd) + j) * L + c];
            if (j < nope) k[(h * L + c) * nope + j] = x;
            else vv[(h * vd + j - nope) * L + c] = x;
          }
      ASSERT_TRUE(w.AddTensor(p + ".attn_k_b.weight", GgmlType::F32, {nope, L, H}).ok());
      data.emplace_back(p + ".attn_k_b.weight", k);
      ASSERT_TRUE(w.AddTensor(p + ".attn_v_b.weight", GgmlType::F32, {L, vd, H}).ok());
      data.emplace_back(p + ".attn_v_b.weight", vv);
      continue;
    }
    ASSERT_TRUE(w.AddTensor(t.name, t.type, t.ne).ok());
    data.emplace_back(t.name, v);
  }
  ASSERT_TRUE(w.Begin(tmp + "/split.gguf").ok());
  for (auto& [n, v] : data) ASSERT_TRUE(w.WriteTensor(n, v.data(), v.size() * 4).ok());
  ASSERT_TRUE(w.Finish().ok());
  auto split = GgufFile::Open(tmp + "/split.gguf");
  ASSERT_TRUE(split.ok());
  GgufValidation v = ValidateGgufModel(**split);
  EXPECT_TRUE(v.ok()) << Joined(v);
  QuantizeOptions qo;
  qo.model = tmp + "/split.gguf";
  qo.out = tmp + "/back.gguf";
  qo.type = "f32";
  Status st = QuantizeModel(qo);
  ASSERT_TRUE(st.ok()) << st.message();
  auto back = GgufFile::Open(tmp + "/back.gguf");
  ASSERT_TRUE(back.ok());
  for (const auto& t : (*g)->tensors()) {
    const GgufTensorInfo* u = (*back)->FindTensor(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    ASSERT_EQ(u->nbytes, t.nbytes);
    EXPECT_EQ(std::memcmp(u->data, t.data, t.nbytes), 0) << t.name;
  }
  fs::remove_all(tmp);
}

// tokenizer.json -> tokenizer.ggml.* equals llama.cpp's vocab file for DeepSeek-V3 (tokens,
// types, merges, special ids, add_bos/add_eos), and the result loads back into our tokenizer.
TEST(TokenizerGgufExport, DeepSeekV3MatchesLlamaCppVocab) {
  QS_REQUIRE_FIXTURES();
  const std::string dir = test::FixturesDir() + "/tokenizer";
  const std::string tmp = test::TempDir("tok_export");
  fs::copy(dir + "/deepseek-v3", tmp + "/m");
  std::ofstream(tmp + "/m/config.json") << R"({"vocab_size": 129280, "bos_token_id": 0, "eos_token_id": 1})";
  GgufWriter w;
  Status st = WriteTokenizerGgufMetadata(tmp + "/m", &w);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_TRUE(w.Begin(tmp + "/tok.gguf").ok());
  ASSERT_TRUE(w.Finish().ok());
  auto ours = GgufFile::Open(tmp + "/tok.gguf");
  auto ref = GgufFile::Open(dir + "/ggml-vocab-deepseek-v3-reconstructed.gguf");
  ASSERT_TRUE(ours.ok() && ref.ok());
  for (const char* k : {"tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.bos_token_id",
                        "tokenizer.ggml.eos_token_id", "tokenizer.ggml.padding_token_id",
                        "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token"}) {
    const GgufValue* a = (*ours)->Find(k);
    const GgufValue* b = (*ref)->Find(k);
    ASSERT_TRUE(a && b) << k;
    EXPECT_EQ(a->DebugString(), b->DebugString()) << k;
  }
  for (const char* k : {"tokenizer.ggml.tokens", "tokenizer.ggml.merges"}) {
    const GgufValue* a = (*ours)->Find(k);
    const GgufValue* b = (*ref)->Find(k);
    ASSERT_TRUE(a && b) << k;
    ASSERT_EQ(a->strings.size(), b->strings.size()) << k;
    size_t diff = 0;
    for (size_t i = 0; i < a->strings.size(); ++i) diff += a->strings[i] != b->strings[i];
    EXPECT_EQ(diff, 0u) << k;
  }
  EXPECT_EQ((*ours)->Find("tokenizer.ggml.token_type")->IntArray(), (*ref)->Find("tokenizer.ggml.token_type")->IntArray());
  EXPECT_NE((*ours)->Find("tokenizer.chat_template"), nullptr);
  auto tok = Tokenizer::FromGguf(**ours);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  auto hf = Tokenizer::Load(tmp + "/m");
  ASSERT_TRUE(hf.ok());
  const std::string text = "Hello, world! 你好 123456 <｜User｜>hi";
  EXPECT_EQ((*tok)->Encode(text, true, true).value(), (*hf)->Encode(text, true, true).value());
  fs::remove_all(tmp);
}

TEST(TokenizerGgufExport, QwenPreTokenizerAndPairMerges) {
  QS_REQUIRE_FIXTURES();
  const std::string dir = test::FixturesDir() + "/tokenizer";
  GgufWriter w;
  ASSERT_TRUE(WriteTokenizerGgufMetadata(dir + "/qwen3", &w).ok());
  const std::string tmp = test::TempDir("tok_qwen");
  ASSERT_TRUE(w.Begin(tmp + "/t.gguf").ok() && w.Finish().ok());
  auto ours = GgufFile::Open(tmp + "/t.gguf");
  auto ref = GgufFile::Open(dir + "/ggml-vocab-qwen2-reconstructed.gguf");
  ASSERT_TRUE(ours.ok() && ref.ok());
  EXPECT_EQ((*ours)->GetString("tokenizer.ggml.pre").value(), "qwen2");
  // The 151643-token base BPE and its merges are shared with Qwen2 (added tokens differ).
  const auto& a = (*ours)->Find("tokenizer.ggml.merges")->strings;
  const auto& b = (*ref)->Find("tokenizer.ggml.merges")->strings;
  ASSERT_EQ(a.size(), b.size());
  EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin()));
  const auto& ta = (*ours)->Find("tokenizer.ggml.tokens")->strings;
  const auto& tb = (*ref)->Find("tokenizer.ggml.tokens")->strings;
  ASSERT_GE(ta.size(), 151643u);
  EXPECT_TRUE(std::equal(ta.begin(), ta.begin() + 151643, tb.begin()));
  EXPECT_EQ(GgufPreTokenizerName("", true, false), "gpt-2");
  EXPECT_EQ(GgufPreTokenizerName("x", false, false), "");
  fs::remove_all(tmp);
}

}  // namespace
}  // namespace qs
