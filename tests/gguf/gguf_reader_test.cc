// GGUF reader: real files from the shared fixtures, every value type, and every kind of broken
// file the parser must refuse with a message naming the problem.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "gguf_image.h"
#include "io/gguf.h"
#include "testutil.h"

namespace qs {
namespace {

using test::GgufImage;

// Expects parsing to fail with a message containing `needle` (and the file name).
void ExpectError(const std::string& bytes, const std::string& needle) {
  auto r = GgufImage::ParseBytes(bytes);
  ASSERT_FALSE(r.ok()) << "parsed, expected error containing: " << needle;
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("test.gguf"), std::string::npos) << r.status().message();
}

// A valid little file: two keys, one F32 tensor [4, 2] and one Q8_0 tensor [32].
GgufImage ValidImage() {
  GgufImage g;
  g.Header(2, 2).KvStr("general.architecture", "llama").KvU32("llama.block_count", 3);
  g.Tensor("a", {4, 2}, 0, 0).Tensor("b", {32}, 8, 32).PadTo(32);
  for (int i = 0; i < 8; ++i) g.F32(static_cast<float>(i));
  g.Zeros(34).PadTo(32);
  return g;
}

TEST(GgufReader, ParsesHandBuiltFile) {
  GgufImage g = ValidImage();
  auto r = g.Parse();
  ASSERT_TRUE(r.ok()) << r.status().message();
  const GgufFile& f = *r.value();
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  ASSERT_EQ(f.metadata().size(), 2u);
  EXPECT_EQ(f.metadata()[0].first, "general.architecture");
  EXPECT_EQ(f.GetString("general.architecture").value(), "llama");
  EXPECT_EQ(f.GetInt("llama.block_count").value(), 3);
  EXPECT_DOUBLE_EQ(f.GetFloat("llama.block_count").value(), 3.0);
  ASSERT_EQ(f.tensors().size(), 2u);
  const GgufTensorInfo* a = f.FindTensor("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->type, GgmlType::F32);
  EXPECT_EQ(a->ne, (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(a->RowMajorShape(), (Shape{2, 4}));
  EXPECT_EQ(a->nbytes, 32u);
  EXPECT_EQ(a->numel(), 8);
  float v[8];
  std::memcpy(v, a->data, 32);
  EXPECT_EQ(v[7], 7.0f);
  EXPECT_EQ(f.FindTensor("b")->nbytes, 34u);
  EXPECT_EQ(f.FindTensor("nope"), nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a->data) - reinterpret_cast<uintptr_t>(g.bytes().data()), f.data_offset());
}

TEST(GgufReader, EveryPrefixOfAValidFileIsRejected) {
  const std::string full = ValidImage().bytes();
  // The file ends with tensor "b"'s 34 bytes + padding; anything shorter than that end must fail.
  const size_t data_end = full.size() - 30;
  for (size_t n = 0; n < data_end; ++n) {
    auto r = GgufImage::ParseBytes(full.substr(0, n));
    ASSERT_FALSE(r.ok()) << "prefix of " << n << " bytes parsed";
    const std::string& m = r.status().message();
    EXPECT_TRUE(m.find("truncated") != std::string::npos || m.find("past end") != std::string::npos ||
                m.find("not a GGUF file") != std::string::npos || m.find("impossible") != std::string::npos)
        << n << ": " << m;
  }
}

TEST(GgufReader, TruncatedFileMessage) {
  // 74 bytes: the header counts are still possible, the second key's length is cut.
  ExpectError(ValidImage().bytes().substr(0, 74), "truncated file: key #1 length needs 8 bytes");
}

TEST(GgufReader, RejectsBadMagic) {
  std::string b = ValidImage().bytes();
  b[0] = 'X';
  ExpectError(b, "not a GGUF file");
}

TEST(GgufReader, RejectsVersion1) {
  GgufImage g;
  g.Header(0, 0, 1);
  ExpectError(g.bytes(), "GGUF version 1 is not supported");
}

TEST(GgufReader, RejectsUnknownVersion) {
  GgufImage g;
  g.Header(0, 0, 7);
  ExpectError(g.bytes(), "unsupported GGUF version 7");
}

TEST(GgufReader, RejectsBigEndian) {
  GgufImage g;
  g.Header(0, 0, 0x03000000);
  ExpectError(g.bytes(), "big-endian");
}

TEST(GgufReader, RejectsImpossibleCounts) {
  GgufImage g;
  g.Header(0, ~0ull);
  ExpectError(g.bytes(), "kv_count 18446744073709551615 is impossible");
  GgufImage t;
  t.Header(1ull << 40, 0);
  ExpectError(t.bytes(), "tensor_count 1099511627776 is impossible");
}

TEST(GgufReader, RejectsStringLengthPastEnd) {
  GgufImage g;
  g.Header(0, 1).Str("general.name").U32(8).U64(1000).Raw("abc", 3);
  ExpectError(g.bytes(), "test.gguf: key 'general.name': string length 1000 at offset 48 runs past end of file");
  GgufImage k;
  k.Header(0, 1).U64(~0ull).Zeros(8);
  ExpectError(k.bytes(), "past end of file");
}

TEST(GgufReader, RejectsUnknownValueTypes) {
  GgufImage g;
  g.Header(0, 1).Str("x.key").U32(13).U32(0);
  ExpectError(g.bytes(), "test.gguf: key 'x.key': unknown value type 13");
  GgufImage a;
  a.Header(0, 1).Str("x.arr").U32(9).U32(42).U64(0);
  ExpectError(a.bytes(), "test.gguf: key 'x.arr': unknown array element type 42");
}

TEST(GgufReader, RejectsArrayPastEnd) {
  GgufImage g;
  g.Header(0, 1).Str("x.arr").U32(9).U32(6).U64(1ull << 61).F32(1);
  ExpectError(g.bytes(), "test.gguf: key 'x.arr': array of 2305843009213693952 f32 elements runs past end of file");
  GgufImage s;  // array of strings whose count cannot fit
  s.Header(0, 1).Str("x.strs").U32(9).U32(8).U64(100).Str("a");
  ExpectError(s.bytes(), "x.strs");
  GgufImage e;  // the count fits, the second string's length does not
  e.Header(0, 1).Str("x.s2").U32(9).U32(8).U64(2).Str("a").U64(1000).Zeros(16);
  ExpectError(e.bytes(), "test.gguf: key 'x.s2'[1]: string length 1000 at offset 61 runs past end of file");
}

TEST(GgufReader, ParsesAllValueTypes) {
  GgufImage g;
  g.Header(0, 16);
  g.Str("u8").U32(0).U8(200);
  g.Str("i8").U32(1).U8(0xFE);  // -2
  g.Str("u16").U32(2).U8(0x34).U8(0x12);
  g.Str("i16").U32(3).U8(0xFF).U8(0xFF);  // -1
  g.Str("u32").U32(4).U32(4000000000u);
  g.Str("i32").U32(5).U32(static_cast<uint32_t>(-7));
  g.Str("f32").U32(6).F32(0.5f);
  g.Str("bool").U32(7).U8(1);
  g.Str("str").U32(8).Str("héllo");
  g.Str("u64").U32(10).U64(~0ull);
  g.Str("i64").U32(11).U64(static_cast<uint64_t>(-5ll));
  double dv = -2.25;
  g.Str("f64").U32(12).Raw(&dv, 8);
  g.Str("arr_i32").U32(9).U32(5).U64(3).U32(1).U32(static_cast<uint32_t>(-2)).U32(3);
  g.Str("arr_f32").U32(9).U32(6).U64(2).F32(1.5f).F32(-0.25f);
  g.Str("arr_str").U32(9).U32(8).U64(2).Str("a").Str("");
  // [[1, 2], []]: an array of arrays of u8
  g.Str("nested").U32(9).U32(9).U64(2).U32(0).U64(2).U8(1).U8(2).U32(0).U64(0);
  auto r = g.Parse();
  ASSERT_TRUE(r.ok()) << r.status().message();
  const GgufFile& f = *r.value();
  EXPECT_EQ(f.GetInt("u8").value(), 200);
  EXPECT_EQ(f.GetInt("i8").value(), -2);
  EXPECT_EQ(f.GetInt("u16").value(), 0x1234);
  EXPECT_EQ(f.GetInt("i16").value(), -1);
  EXPECT_EQ(f.GetInt("u32").value(), 4000000000ll);
  EXPECT_EQ(f.GetInt("i32").value(), -7);
  EXPECT_DOUBLE_EQ(f.GetFloat("f32").value(), 0.5);
  EXPECT_TRUE(f.GetBool("bool").value());
  EXPECT_EQ(f.GetString("str").value(), "héllo");
  EXPECT_FALSE(f.Find("u64")->AsInt().has_value());  // 2^64-1 does not fit int64
  EXPECT_DOUBLE_EQ(*f.Find("u64")->AsFloat(), 18446744073709551615.0);
  EXPECT_EQ(f.GetInt("i64").value(), -5);
  EXPECT_DOUBLE_EQ(f.GetFloat("f64").value(), -2.25);
  EXPECT_FALSE(f.Find("f64")->AsInt().has_value());
  EXPECT_EQ(f.Find("arr_i32")->IntArray(), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(f.Find("arr_i32")->FloatArray(), (std::vector<float>{1, -2, 3}));
  EXPECT_EQ(f.Find("arr_f32")->FloatArray(), (std::vector<float>{1.5f, -0.25f}));
  EXPECT_EQ(f.Find("arr_f32")->IntArray(), (std::vector<int64_t>{1, 0}));
  const GgufValue* s = f.GetArray("arr_str", GgufValueType::kString).value();
  ASSERT_EQ(s->strings.size(), 2u);
  EXPECT_EQ(s->strings[0], "a");
  EXPECT_EQ(s->strings[1], "");
  const GgufValue* n = f.GetArray("nested", GgufValueType::kArray).value();
  ASSERT_EQ(n->arrays.size(), 2u);
  EXPECT_EQ(n->arrays[0].IntArray(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(n->arrays[1].array_len, 0u);
  // Typed getters name the key and the file on a type mismatch or a missing key.
  auto bad = f.GetString("u8");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("test.gguf: key 'u8' should be a string, got u8 200"), std::string::npos)
      << bad.status().message();
  auto missing = f.GetInt("no.such.key");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "test.gguf: missing key 'no.such.key'");
  EXPECT_FALSE(f.GetArray("arr_i32", GgufValueType::kF32).ok());
  EXPECT_EQ(f.GetIntOr("no.such.key", 42).value(), 42);
  EXPECT_FALSE(f.GetIntOr("str", 42).ok());
}

TEST(GgufReader, BoundsArrayNesting) {
  auto nested = [](int depth) {
    GgufImage g;
    g.Header(0, 1).Str("deep").U32(9);
    for (int i = 0; i < depth - 1; ++i) g.U32(9).U64(1);
    g.U32(0).U64(0);
    return g;
  };
  EXPECT_TRUE(nested(kGgufMaxArrayDepth).Parse().ok());
  ExpectError(nested(kGgufMaxArrayDepth + 1).bytes(), "nested deeper than 8");
}

TEST(GgufReader, RejectsDuplicateKey) {
  GgufImage g;
  g.Header(0, 2).KvU32("a.b", 1).KvU32("a.b", 2);
  ExpectError(g.bytes(), "key 'a.b': duplicate key");
}

TEST(GgufReader, RejectsDuplicateTensorName) {
  GgufImage g;
  g.Header(2, 0).Tensor("w", {8}, 0, 0).Tensor("w", {8}, 0, 32).PadTo(32).Zeros(64);
  ExpectError(g.bytes(), "tensor 'w': duplicate tensor name");
}

TEST(GgufReader, RejectsUnknownGgmlType) {
  for (uint32_t t : {4u, 31u, 40u, 1000u}) {
    GgufImage g;
    g.Header(1, 0).Tensor("w", {32}, t, 0).PadTo(32).Zeros(64);
    ExpectError(g.bytes(), "tensor 'w': unknown ggml type " + std::to_string(t));
  }
}

TEST(GgufReader, RejectsTooManyDims) {
  GgufImage g;
  g.Header(1, 0).Tensor("w", {1, 1, 1, 1, 1}, 0, 0).PadTo(32).Zeros(32);
  ExpectError(g.bytes(), "tensor 'w': n_dims 5 exceeds the maximum of 4");
}

TEST(GgufReader, RejectsNegativeAndOverflowingDims) {
  GgufImage g;
  g.Header(1, 0).Tensor("w", {2, ~0ull}, 0, 0).PadTo(32).Zeros(32);
  ExpectError(g.bytes(), "tensor 'w': dimension 1 is negative");
  GgufImage o;
  o.Header(1, 0).Tensor("w", {1ull << 32, 1ull << 32}, 0, 0).PadTo(32).Zeros(32);
  ExpectError(o.bytes(), "tensor 'w': dimensions overflow");
  GgufImage b;  // element count fits, byte count (x4) does not
  b.Header(1, 0).Tensor("w", {1ull << 31, 1ull << 31}, 0, 0).PadTo(32).Zeros(32);
  ExpectError(b.bytes(), "tensor 'w': tensor byte size overflows");
}

TEST(GgufReader, RejectsRowNotMultipleOfBlock) {
  GgufImage g;
  g.Header(1, 0).Tensor("w", {33}, 2, 0).PadTo(32).Zeros(64);
  ExpectError(g.bytes(), "tensor 'w': row length 33 is not a multiple of the q4_0 block size 32");
}

TEST(GgufReader, RejectsMisalignedOffset) {
  GgufImage g;
  g.Header(1, 0).Tensor("w", {4}, 0, 4).PadTo(32).Zeros(64);
  ExpectError(g.bytes(), "tensor 'w': data offset 4 is not aligned to 32 bytes");
}

TEST(GgufReader, RejectsOverlappingTensors) {
  GgufImage g;
  g.Header(2, 0).Tensor("a", {16}, 0, 0).Tensor("b", {8}, 0, 32).PadTo(32).Zeros(128);
  ExpectError(g.bytes(), "tensors 'a' and 'b' have overlapping data");
}

TEST(GgufReader, RejectsTensorDataPastEnd) {
  GgufImage g;
  g.Header(1, 0).Tensor("w", {64}, 0, 0).PadTo(32).Zeros(100);
  ExpectError(g.bytes(), "tensor 'w': data [0, +256) runs past end of file");
  GgufImage h;  // offset itself past the end, near 2^64 (no wrap-around)
  h.Header(1, 0).Tensor("w", {8}, 0, ~0ull - 31).PadTo(32).Zeros(32);
  ExpectError(h.bytes(), "runs past end of file");
}

TEST(GgufReader, HonoursAlignment) {
  GgufImage g;
  g.Header(1, 1).KvU32("general.alignment", 64).Tensor("w", {4}, 0, 0).PadTo(64).F32(1).F32(2).F32(3).F32(4);
  auto r = g.Parse();
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value()->alignment(), 64u);
  EXPECT_EQ(r.value()->data_offset() % 64, 0u);
  EXPECT_EQ(reinterpret_cast<const float*>(r.value()->FindTensor("w")->data)[3], 4.0f);

  GgufImage bad;
  bad.Header(0, 1).KvU32("general.alignment", 48);
  ExpectError(bad.bytes(), "'general.alignment' = 48 is not a power of two");
  GgufImage zero;
  zero.Header(0, 1).KvU32("general.alignment", 0);
  ExpectError(zero.bytes(), "is not a power of two");
  GgufImage str;
  str.Header(0, 1).KvStr("general.alignment", "32");
  ExpectError(str.bytes(), "'general.alignment' must be an integer");
}

TEST(GgufReader, OpenReportsMissingFile) {
  auto r = GgufFile::Open("/nonexistent/x.gguf");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/x.gguf"), std::string::npos);
}

// The seed corpus of fuzz/fuzz_gguf.cc: valid_* files parse, bad_* files are refused.
TEST(GgufReader, FuzzSeedCorpus) {
  const std::string dir = std::string(QS_SOURCE_DIR) + "/fuzz/corpus/gguf/";
  const std::pair<const char*, const char*> bad[] = {
      {"bad_alignment", "not a power of two"},     {"bad_bigendian", "big-endian"},
      {"bad_data_past_end", "runs past end"},      {"bad_dims_overflow", "dimensions overflow"},
      {"bad_dup_key", "duplicate key"},            {"bad_dup_tensor", "duplicate tensor name"},
      {"bad_ggml_type", "unknown ggml type 31"},   {"bad_huge_counts", "is impossible"},
      {"bad_magic", "not a GGUF file"},            {"bad_misaligned", "not aligned"},
      {"bad_ndims", "n_dims 5"},                   {"bad_nested_deep", "nested deeper"},
      {"bad_overlap", "overlapping"},              {"bad_string_len", "string length"},
      {"bad_truncated", "runs past end of file"},              {"bad_v1", "version 1 is not supported"},
      {"bad_value_type", "unknown value type 13"}};
  for (const auto& [name, needle] : bad) {
    SCOPED_TRACE(name);
    ExpectError(test::ReadFileOrDie(dir + name + ".gguf"), needle);
  }
  for (const char* name : {"valid_tensors", "valid_all_types", "valid_align64_v2"}) {
    const std::string bytes = test::ReadFileOrDie(dir + name + ".gguf");
    auto r = GgufImage::ParseBytes(bytes);
    EXPECT_TRUE(r.ok()) << name << ": " << r.status().message();
  }
}

// ---- shared fixtures ----------------------------------------------------------------------

TEST(GgufReader, VocabFixture) {
  QS_REQUIRE_FIXTURES();
  const std::string path = test::FixturesDir() + "/tokenizer/ggml-vocab-deepseek-llm.gguf";
  auto r = GgufFile::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const GgufFile& f = *r.value();
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.path(), path);
  EXPECT_TRUE(f.tensors().empty());
  EXPECT_EQ(f.GetString("tokenizer.ggml.model").value(), "gpt2");
  EXPECT_EQ(f.GetString("tokenizer.ggml.pre").value(), "deepseek-llm");
  auto tokens = f.GetArray("tokenizer.ggml.tokens", GgufValueType::kString);
  ASSERT_TRUE(tokens.ok()) << tokens.status().message();
  EXPECT_EQ(tokens.value()->strings.size(), 102400u);
  EXPECT_EQ(f.GetInt("tokenizer.ggml.bos_token_id").value(), 100000);
  EXPECT_EQ(f.GetInt("tokenizer.ggml.eos_token_id").value(), 100001);
}

TEST(GgufReader, AllVocabFixturesParse) {
  QS_REQUIRE_FIXTURES();
  for (const char* name : {"deepseek-coder", "deepseek-llm", "deepseek-r1-qwen-reconstructed",
                           "deepseek-v3-reconstructed", "gpt-2", "llama-bpe-reconstructed", "qwen2-reconstructed"}) {
    auto r = GgufFile::Open(test::FixturesDir() + "/tokenizer/ggml-vocab-" + name + ".gguf");
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_GT(r.value()->metadata().size(), 5u) << name;
  }
}

TEST(GgufReader, DenseGoldenModel) {
  QS_REQUIRE_FIXTURES();
  auto r = GgufFile::Open(test::FixturesDir() + "/dense-golden/llama-tiny/gguf/llama-tiny-Q4_0.gguf");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const GgufFile& f = *r.value();
  EXPECT_EQ(f.GetString("general.architecture").value(), "llama");
  EXPECT_EQ(f.GetInt("general.file_type").value(), 2);
  EXPECT_EQ(f.GetInt("llama.block_count").value(), 3);
  EXPECT_EQ(f.GetInt("llama.embedding_length").value(), 96);
  EXPECT_NEAR(f.GetFloat("llama.attention.layer_norm_rms_epsilon").value(), 1e-5, 1e-12);
  const GgufTensorInfo* emb = f.FindTensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->type, GgmlType::Q4_0);
  EXPECT_EQ(emb->ne, (std::vector<int64_t>{96, 1000}));
  EXPECT_EQ(emb->nbytes, 96u / 32 * 18 * 1000);
  EXPECT_EQ(f.FindTensor("output.weight")->type, GgmlType::Q8_0);  // see dense-golden README
  EXPECT_EQ(f.FindTensor("output_norm.weight")->type, GgmlType::F32);
  for (const auto& t : f.tensors()) {
    EXPECT_EQ(t.offset % f.alignment(), 0u) << t.name;
    EXPECT_LE(t.data + t.nbytes, f.file_data() + f.file_size()) << t.name;
  }
}

TEST(GgufReader, DeepseekFixture) {
  QS_REQUIRE_FIXTURES();
  auto r = GgufFile::Open(test::FixturesDir() + "/dense-golden/deepseek2-v2lite-tiny/v2lite-tiny-F32.gguf");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const GgufFile& f = *r.value();
  EXPECT_EQ(f.GetString("general.architecture").value(), "deepseek2");
  EXPECT_EQ(f.GetInt("deepseek2.attention.key_length").value(), 48);
  EXPECT_EQ(f.GetString("deepseek2.rope.scaling.type").value(), "yarn");
  EXPECT_EQ(f.Find("deepseek2.attention.q_lora_rank"), nullptr);
  const GgufTensorInfo* exps = f.FindTensor("blk.1.ffn_gate_exps.weight");
  ASSERT_NE(exps, nullptr);
  EXPECT_EQ(exps->ne.size(), 3u);
}

}  // namespace
}  // namespace qs
