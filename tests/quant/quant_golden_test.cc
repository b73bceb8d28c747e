// The dense-golden GGUF files (shared fixtures): the Q8_0 / Q4_0 files were made by llama.cpp's
// llama-quantize from the F32 file (no importance matrix, so quantize_row_*_ref), and the F16
// file by gguf-py's numpy float16 cast. Our quantizers must reproduce those bytes exactly, and
// the dequantized tensors must sit within each format's error bound of the F32 weights.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "quant/fp16.h"
#include "quant/quant.h"
#include "testutil.h"

namespace qs {
namespace {

const char* const kVariants[] = {"qwen2-tiny", "llama-tiny", "llama3rope-tiny", "llama-tied-tiny"};

std::unique_ptr<GgufFile> Load(const std::string& variant, const std::string& type) {
  const std::string path = test::FixturesDir() + "/dense-golden/" + variant + "/gguf/" + variant + "-" + type + ".gguf";
  auto r = GgufFile::Open(path);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : nullptr;
}

std::vector<float> F32Data(const GgufTensorInfo& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  std::memcpy(v.data(), t.data, t.nbytes);
  return v;
}

// Checks every tensor of `type` in the quantized file against the F32 file; returns how many.
int CheckQuantizedFile(const std::string& variant, GgmlType type, const char* file_type) {
  auto f32 = Load(variant, "F32");
  auto qf = Load(variant, file_type);
  if (!f32 || !qf) return 0;
  int checked = 0;
  for (const GgufTensorInfo& t : qf->tensors()) {
    const GgufTensorInfo* ref = f32->FindTensor(t.name);
    EXPECT_NE(ref, nullptr) << t.name;
    if (!ref) continue;
    EXPECT_EQ(ref->ne, t.ne) << t.name;
    EXPECT_EQ(ref->type, GgmlType::F32) << t.name;
    const std::vector<float> x = F32Data(*ref);
    const int64_t n = t.numel();
    if (t.type == GgmlType::F32) {  // norms, biases, rope_freqs stay F32
      EXPECT_EQ(std::memcmp(t.data, ref->data, t.nbytes), 0) << t.name;
      continue;
    }
    if (t.type != type && t.type != GgmlType::Q8_0) {
      ADD_FAILURE() << t.name << ": unexpected type " << GgmlTypeName(t.type);
      continue;
    }
    // 1. Quantizing the F32 weights reproduces the file's bytes exactly.
    std::vector<uint8_t> q(t.nbytes);
    EXPECT_TRUE(QuantizeRow(t.type, x.data(), q.data(), n).ok());
    EXPECT_EQ(std::memcmp(q.data(), t.data, t.nbytes), 0)
        << variant << " " << t.name << " (" << GgmlTypeName(t.type) << "): bytes differ from llama-quantize's";
    // 2. Dequantizing the file lands within the format's bound of the F32 weights, per block.
    std::vector<float> y(static_cast<size_t>(n));
    EXPECT_TRUE(DequantizeRow(t.type, t.data, y.data(), n).ok());
    const double levels = t.type == GgmlType::Q8_0 ? 127 : 8;
    const double tol = t.type == GgmlType::Q8_0 ? 0.5 + 127.0 / 2048 : 1.0 + 8.0 / 2048;
    for (int64_t b = 0; b < n / 32; ++b) {
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
      bool within = true;
      for (int j = 0; j < 32; ++j) within &= std::fabs(y[b * 32 + j] - x[b * 32 + j]) <= tol * amax / levels + 1e-9;
      if (!within) {
        ADD_FAILURE() << t.name << " block " << b << " exceeds the " << GgmlTypeName(t.type) << " error bound";
        break;
      }
    }
    // 3. Re-quantizing the dequantized tensor gives the file's bytes again.
    std::vector<uint8_t> rq(t.nbytes);
    EXPECT_TRUE(QuantizeRow(t.type, y.data(), rq.data(), n).ok());
    EXPECT_EQ(rq, std::vector<uint8_t>(t.data, t.data + t.nbytes)) << t.name;
    ++checked;
  }
  return checked;
}

TEST(QuantGolden, Q8_0FilesMatchLlamaQuantize) {
  QS_REQUIRE_FIXTURES();
  for (const char* v : kVariants) {
    SCOPED_TRACE(v);
    EXPECT_GT(CheckQuantizedFile(v, GgmlType::Q8_0, "Q8_0"), 10);
  }
}

TEST(QuantGolden, Q4_0FilesMatchLlamaQuantize) {
  QS_REQUIRE_FIXTURES();
  for (const char* v : kVariants) {
    SCOPED_TRACE(v);
    EXPECT_GT(CheckQuantizedFile(v, GgmlType::Q4_0, "Q4_0"), 10);
  }
}

TEST(QuantGolden, F16FilesMatchRoundToNearestEven) {
  QS_REQUIRE_FIXTURES();
  for (const char* v : kVariants) {
    SCOPED_TRACE(v);
    auto f32 = Load(v, "F32");
    auto f16 = Load(v, "F16");
    ASSERT_TRUE(f32 && f16);
    int checked = 0;
    for (const GgufTensorInfo& t : f16->tensors()) {
      if (t.type != GgmlType::F16) continue;
      const std::vector<float> x = F32Data(*f32->FindTensor(t.name));
      std::vector<uint8_t> q(t.nbytes);
      ASSERT_TRUE(QuantizeRow(GgmlType::F16, x.data(), q.data(), t.numel()).ok());
      EXPECT_EQ(std::memcmp(q.data(), t.data, t.nbytes), 0) << t.name;
      std::vector<float> y(x.size());
      ASSERT_TRUE(DequantizeRow(GgmlType::F16, t.data, y.data(), t.numel()).ok());
      for (size_t i = 0; i < x.size(); ++i) ASSERT_LE(std::fabs(y[i] - x[i]), std::fabs(x[i]) * 4.9e-4 + 3e-8);
      ++checked;
    }
    EXPECT_GT(checked, 10);
  }
}

}  // namespace
}  // namespace qs
