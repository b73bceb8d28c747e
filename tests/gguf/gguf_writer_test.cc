// GGUF writer: write -> read back gives the same metadata and bytes; fixture files re-written
// from their parsed contents come out byte-identical; misuse is reported.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "gguf_image.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "testutil.h"

namespace qs {
namespace {

using test::GgufImage;

// Deep equality of two parsed values (types, scalars, strings, raw array bytes, nested arrays).
::testing::AssertionResult SameValue(const GgufValue& a, const GgufValue& b) {
  if (a.type != b.type) return ::testing::AssertionFailure() << "type " << a.DebugString() << " vs " << b.DebugString();
  if (a.type == GgufValueType::kString)
    return a.str == b.str ? ::testing::AssertionSuccess() : ::testing::AssertionFailure() << a.str << " vs " << b.str;
  if (a.type != GgufValueType::kArray)
    return a.scalar_bits == b.scalar_bits ? ::testing::AssertionSuccess()
                                          : ::testing::AssertionFailure() << a.DebugString() << " vs " << b.DebugString();
  if (a.array_type != b.array_type || a.array_len != b.array_len)
    return ::testing::AssertionFailure() << a.DebugString() << " vs " << b.DebugString();
  if (a.strings != b.strings) return ::testing::AssertionFailure() << "string arrays differ";
  if (const size_t sz = GgufScalarSize(a.array_type))
    if (a.array_len && std::memcmp(a.array_data, b.array_data, a.array_len * sz) != 0)
      return ::testing::AssertionFailure() << "array bytes differ";
  if (a.arrays.size() != b.arrays.size()) return ::testing::AssertionFailure() << "nested count differs";
  for (size_t i = 0; i < a.arrays.size(); ++i)
    if (auto r = SameValue(a.arrays[i], b.arrays[i]); !r) return r << " (nested " << i << ")";
  return ::testing::AssertionSuccess();
}

void ExpectSameMetadata(const GgufFile& a, const GgufFile& b) {
  ASSERT_EQ(a.metadata().size(), b.metadata().size());
  for (size_t i = 0; i < a.metadata().size(); ++i) {
    EXPECT_EQ(a.metadata()[i].first, b.metadata()[i].first);
    EXPECT_TRUE(SameValue(a.metadata()[i].second, b.metadata()[i].second)) << a.metadata()[i].first;
  }
}

std::unique_ptr<GgufFile> OpenOrDie(const std::string& path) {
  auto r = GgufFile::Open(path);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : nullptr;
}

TEST(GgufWriter, WriteThenReadBack) {
  const std::string path = test::TempDir("gguf_writer") + "/all.gguf";
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  w.SetU8("t.u8", 250);
  w.SetI8("t.i8", -100);
  w.SetU16("t.u16", 65000);
  w.SetI16("t.i16", -30000);
  w.SetU32("t.u32", 4000000000u);
  w.SetI32("t.i32", -2000000000);
  w.SetU64("t.u64", 1ull << 60);
  w.SetI64("t.i64", -(1ll << 60));
  w.SetF32("t.f32", 1e-6f);
  w.SetF64("t.f64", 3.141592653589793);
  w.SetBool("t.bool", true);
  w.SetStringArray("t.strs", std::vector<std::string>{"a", "", "ünï"});
  w.SetI32Array("t.i32s", {1, -2, 3});
  w.SetF32Array("t.f32s", {0.5f, -1.5f});
  w.SetU32Array("t.u32s", {});
  w.SetI64Array("t.i64s", {1ll << 40});
  const uint8_t flags[3] = {1, 0, 1};
  ASSERT_TRUE(w.SetArray("t.bools", GgufValueType::kBool, flags, 3).ok());
  EXPECT_FALSE(w.SetArray("t.bad", GgufValueType::kString, flags, 3).ok());
  w.SetU32("t.u32", 7);  // replacing keeps the key's position
  EXPECT_TRUE(w.Has("t.u32"));

  std::vector<float> a(6);
  for (int i = 0; i < 6; ++i) a[i] = static_cast<float>(i) * 0.25f;
  std::vector<uint8_t> q(2 * 34);
  for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<uint8_t>(i * 7);
  ASSERT_TRUE(w.AddTensor("a", GgmlType::F32, {3, 2}).ok());
  ASSERT_TRUE(w.AddTensor("empty", GgmlType::F32, {4, 0}).ok());
  ASSERT_TRUE(w.AddTensor("q", GgmlType::Q8_0, {64}).ok());
  EXPECT_EQ(w.tensor_offset(2), 32u);
  ASSERT_TRUE(w.Begin(path).ok());
  ASSERT_TRUE(w.WriteTensor("a", a.data(), 24).ok());
  ASSERT_TRUE(w.WriteTensor("empty", nullptr, 0).ok());
  ASSERT_TRUE(w.WriteTensorChunk(q.data(), 30).ok());  // in two pieces
  ASSERT_TRUE(w.WriteTensorChunk(q.data() + 30, 38).ok());
  ASSERT_TRUE(w.Finish().ok());

  auto f = OpenOrDie(path);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->version(), 3u);
  ASSERT_EQ(f->metadata().size(), 18u);
  EXPECT_EQ(f->metadata()[5].first, "t.u32");
  EXPECT_EQ(f->GetInt("t.u32").value(), 7);
  EXPECT_EQ(f->GetInt("t.u8").value(), 250);
  EXPECT_EQ(f->GetInt("t.i8").value(), -100);
  EXPECT_EQ(f->GetInt("t.u16").value(), 65000);
  EXPECT_EQ(f->GetInt("t.i16").value(), -30000);
  EXPECT_EQ(f->GetInt("t.u64").value(), 1ll << 60);
  EXPECT_EQ(f->GetInt("t.i64").value(), -(1ll << 60));
  EXPECT_FLOAT_EQ(static_cast<float>(f->GetFloat("t.f32").value()), 1e-6f);
  EXPECT_DOUBLE_EQ(f->GetFloat("t.f64").value(), 3.141592653589793);
  EXPECT_TRUE(f->GetBool("t.bool").value());
  const GgufValue* strs = f->Find("t.strs");
  ASSERT_TRUE(strs && strs->IsArrayOf(GgufValueType::kString));
  EXPECT_EQ(strs->strings, (std::vector<std::string_view>{"a", "", "ünï"}));
  EXPECT_EQ(f->Find("t.i32s")->IntArray(), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(f->Find("t.f32s")->FloatArray(), (std::vector<float>{0.5f, -1.5f}));
  EXPECT_EQ(f->Find("t.u32s")->array_len, 0u);
  EXPECT_EQ(f->Find("t.i64s")->IntArray(), (std::vector<int64_t>{1ll << 40}));
  EXPECT_EQ(f->Find("t.bools")->IntArray(), (std::vector<int64_t>{1, 0, 1}));

  ASSERT_EQ(f->tensors().size(), 3u);
  const GgufTensorInfo* ta = f->FindTensor("a");
  EXPECT_EQ(ta->ne, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(std::memcmp(ta->data, a.data(), 24), 0);
  EXPECT_EQ(f->FindTensor("empty")->nbytes, 0u);
  const GgufTensorInfo* tq = f->FindTensor("q");
  EXPECT_EQ(tq->type, GgmlType::Q8_0);
  EXPECT_EQ(tq->offset, 32u);
  EXPECT_EQ(std::memcmp(tq->data, q.data(), q.size()), 0);
  // Data section: 24 -> 32, 68 -> 96 bytes, each tensor padded.
  EXPECT_EQ(f->file_size(), f->data_offset() + 32 + 96);
}

TEST(GgufWriter, CustomAlignmentAddsKey) {
  const std::string path = test::TempDir("gguf_writer") + "/align.gguf";
  GgufWriter w(64);
  ASSERT_TRUE(w.AddTensor("x", GgmlType::F32, {3}).ok());
  ASSERT_TRUE(w.AddTensor("y", GgmlType::F32, {3}).ok());
  EXPECT_EQ(w.tensor_offset(1), 64u);
  ASSERT_TRUE(w.Begin(path).ok());
  const float v[3] = {1, 2, 3};
  ASSERT_TRUE(w.WriteTensor("x", v, 12).ok());
  ASSERT_TRUE(w.WriteTensor("y", v, 12).ok());
  ASSERT_TRUE(w.Finish().ok());
  auto f = OpenOrDie(path);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->alignment(), 64u);
  EXPECT_EQ(f->GetInt("general.alignment").value(), 64);
  EXPECT_EQ(f->data_offset() % 64, 0u);
  EXPECT_EQ(reinterpret_cast<const float*>(f->FindTensor("y")->data)[2], 3.0f);

  GgufWriter bad(32);
  bad.SetU32("general.alignment", 64);
  EXPECT_FALSE(bad.SerializeHeader().ok());
}

TEST(GgufWriter, ReportsMisuse) {
  const std::string dir = test::TempDir("gguf_writer");
  GgufWriter w;
  EXPECT_FALSE(w.AddTensor(std::string(64, 'n'), GgmlType::F32, {1}).ok());  // llama.cpp's name limit
  EXPECT_FALSE(w.AddTensor("", GgmlType::F32, {1}).ok());
  EXPECT_FALSE(w.AddTensor("t", GgmlType::Q4_0, {33}).ok());
  EXPECT_FALSE(w.AddTensor("t", static_cast<GgmlType>(4), {32}).ok());
  EXPECT_FALSE(w.AddTensor("t", GgmlType::F32, {1, 1, 1, 1, 1}).ok());
  EXPECT_FALSE(w.AddTensor("t", GgmlType::F32, {-1}).ok());
  ASSERT_TRUE(w.AddTensor("t", GgmlType::F32, {2}).ok());
  ASSERT_TRUE(w.AddTensor("u", GgmlType::F32, {2}).ok());
  auto dup = w.AddTensor("t", GgmlType::F32, {2});
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.message().find("duplicate tensor name"), std::string::npos);
  const float v[2] = {1, 2};
  EXPECT_FALSE(w.WriteTensor("t", v, 8).ok());  // before Begin
  ASSERT_TRUE(w.Begin(dir + "/misuse.gguf").ok());
  EXPECT_FALSE(w.AddTensor("late", GgmlType::F32, {2}).ok());
  auto order = w.WriteTensor("u", v, 8);
  ASSERT_FALSE(order.ok());
  EXPECT_NE(order.message().find("out of order; next is 't'"), std::string::npos) << order.message();
  auto size = w.WriteTensor("t", v, 4);
  ASSERT_FALSE(size.ok());
  EXPECT_NE(size.message().find("got 4 bytes, expected 8"), std::string::npos) << size.message();
  ASSERT_TRUE(w.WriteTensor("t", v, 8).ok());
  EXPECT_FALSE(w.WriteTensorChunk(v, 12).ok());  // more than 'u' holds
  auto fin = w.Finish();
  ASSERT_FALSE(fin.ok());
  EXPECT_NE(fin.message().find("tensor 'u' (and 0 after it) not written"), std::string::npos) << fin.message();
  EXPECT_FALSE(GgufWriter().Begin("/nonexistent-dir/x.gguf").ok());
}

TEST(GgufWriter, RemoveAndCopyNestedValues) {
  GgufImage g;
  g.Header(0, 2).KvU32("a", 1);
  g.Str("nested").U32(9).U32(9).U64(2).U32(8).U64(1).Str("x").U32(6).U64(1).F32(2.5f);
  auto src = g.Parse();
  ASSERT_TRUE(src.ok()) << src.status().message();
  GgufWriter w;
  ASSERT_TRUE(w.CopyMetadata(*src.value()).ok());
  w.SetString("b", "c");
  EXPECT_TRUE(w.Remove("a"));
  EXPECT_FALSE(w.Remove("a"));
  auto h = w.SerializeHeader();
  ASSERT_TRUE(h.ok()) << h.status().message();
  auto back = GgufImage::ParseBytes(h.value());
  ASSERT_TRUE(back.ok()) << back.status().message();
  ASSERT_EQ(back.value()->metadata().size(), 2u);
  EXPECT_EQ(back.value()->metadata()[0].first, "nested");
  EXPECT_TRUE(SameValue(*back.value()->Find("nested"), *src.value()->Find("nested")));
  EXPECT_EQ(back.value()->GetString("b").value(), "c");
}

// Re-writes a parsed file (metadata, then every tensor) and returns the new file's bytes.
std::string Rewrite(const GgufFile& f, const std::string& out) {
  GgufWriter w(f.alignment());
  EXPECT_TRUE(w.CopyMetadata(f).ok());
  for (const auto& t : f.tensors()) EXPECT_TRUE(w.AddTensor(t.name, t.type, t.ne).ok()) << t.name;
  EXPECT_TRUE(w.Begin(out).ok());
  for (const auto& t : f.tensors()) EXPECT_TRUE(w.WriteTensor(t.name, t.data, t.nbytes).ok()) << t.name;
  EXPECT_TRUE(w.Finish().ok());
  return test::ReadFileOrDie(out);
}

TEST(GgufWriter, VocabFixturesRoundTrip) {
  QS_REQUIRE_FIXTURES();
  const std::string dir = test::TempDir("gguf_vocab_rt");
  for (const char* name : {"deepseek-coder", "deepseek-llm", "deepseek-r1-qwen-reconstructed",
                           "deepseek-v3-reconstructed", "gpt-2", "llama-bpe-reconstructed", "qwen2-reconstructed"}) {
    SCOPED_TRACE(name);
    const std::string path = test::FixturesDir() + "/tokenizer/ggml-vocab-" + std::string(name) + ".gguf";
    auto src = OpenOrDie(path);
    ASSERT_TRUE(src);
    const std::string out = dir + "/" + name + ".gguf";
    const std::string bytes = Rewrite(*src, out);
    auto back = OpenOrDie(out);
    ASSERT_TRUE(back);
    ExpectSameMetadata(*src, *back);
    // Current gguf-py pads the (empty) data section; older writers stopped right after the
    // metadata. Everything up to the original's end is identical either way.
    const std::string orig = test::ReadFileOrDie(path);
    ASSERT_GE(bytes.size(), orig.size());
    EXPECT_TRUE(bytes.compare(0, orig.size(), orig) == 0);
    EXPECT_EQ(bytes.size(), (orig.size() + 31) / 32 * 32);
  }
}

TEST(GgufWriter, ModelFixturesRoundTripByteIdentical) {
  QS_REQUIRE_FIXTURES();
  const std::string dir = test::TempDir("gguf_model_rt");
  const std::string base = test::FixturesDir() + "/dense-golden/";
  for (const std::string rel : {"llama-tiny/gguf/llama-tiny-F32.gguf", "qwen2-tiny/gguf/qwen2-tiny-F16.gguf",
                                "llama-tied-tiny/gguf/llama-tied-tiny-Q4_0.gguf",
                                "qwen2-tiny/gguf/qwen2-tiny-Q8_0.gguf", "deepseek2-v2lite-tiny/v2lite-tiny-F32.gguf"}) {
    SCOPED_TRACE(rel);
    auto src = OpenOrDie(base + rel);
    ASSERT_TRUE(src);
    const std::string bytes = Rewrite(*src, dir + "/out.gguf");
    EXPECT_TRUE(bytes == test::ReadFileOrDie(base + rel)) << "re-written file differs";
  }
}

}  // namespace
}  // namespace qs
