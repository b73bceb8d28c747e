// Hostile safetensors files and checkpoint directories: each gets a clear error naming the file
// and the tensor, never a crash.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "testutil.h"

namespace qs {
namespace {

namespace fs = std::filesystem;

std::string Image(const std::string& header, size_t data_bytes) {
  std::string h = header;
  uint64_t n = h.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out + h + std::string(data_bytes, '\x01');
}

Status Parse(const std::string& img, const std::string& name = "bad.safetensors") {
  auto r = ParseSafetensors(reinterpret_cast<const uint8_t*>(img.data()), img.size(), name);
  return r.ok() ? Status::Ok() : r.status();
}

void ExpectError(const std::string& img, const std::vector<std::string>& needles) {
  Status st = Parse(img);
  ASSERT_FALSE(st.ok());
  for (const auto& n : needles) EXPECT_NE(st.message().find(n), std::string::npos) << st.message();
}

TEST(Safetensors, ValidMinimal) {
  auto img = Image(R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8);
  auto r = ParseSafetensors(reinterpret_cast<const uint8_t*>(img.data()), img.size(), "x");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].name, "a");
  EXPECT_EQ((*r)[0].nbytes, 8u);
}

TEST(Safetensors, TruncatedFile) {
  ExpectError("abc", {"bad.safetensors", "truncated"});
}

TEST(Safetensors, HeaderLengthPastEndOfFile) {
  std::string img(8, '\0');
  uint64_t n = 1000;
  std::memcpy(img.data(), &n, 8);
  img += "{}";
  ExpectError(img, {"bad.safetensors", "header length 1000", "past end of file"});
}

TEST(Safetensors, MalformedJsonHeader) {
  ExpectError(Image(R"({"a":{"dtype":"F32",)", 0), {"bad.safetensors", "malformed JSON"});
  ExpectError(Image(R"([1,2,3])", 0), {"not an object"});
}

TEST(Safetensors, DataOffsetsOutOfRange) {
  ExpectError(Image(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
              {"bad.safetensors", "'w'", "out of range"});
}

TEST(Safetensors, DataOffsetsOverlap) {
  ExpectError(Image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                        "b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
              {"'a'", "'b'", "overlapping"});
}

TEST(Safetensors, ReversedOffsets) {
  ExpectError(Image(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[8,4]}})", 8), {"'a'", "reversed"});
}

TEST(Safetensors, UnknownDtype) {
  ExpectError(Image(R"({"w":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}})", 8), {"'w'", "unknown dtype 'F7'"});
}

TEST(Safetensors, SizeDisagreesWithShape) {
  ExpectError(Image(R"({"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,8]}})", 8), {"'w'", "disagrees"});
}

TEST(Safetensors, ShapeOverflow) {
  ExpectError(Image(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})", 8),
              {"'w'", "overflows"});
  ExpectError(Image(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}})", 8), {"'w'", "non-negative"});
}

TEST(Safetensors, MissingFields) {
  ExpectError(Image(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", 8), {"'w'", "dtype"});
  ExpectError(Image(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", 8), {"'w'", "shape"});
  ExpectError(Image(R"({"w":{"dtype":"F32","shape":[2]}})", 8), {"'w'", "data_offsets"});
  ExpectError(Image(R"({"w":5})", 8), {"'w'"});
}

// ---- checkpoint directories built from the golden v3-tiny checkpoint ----

class BrokenCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    QS_REQUIRE_FIXTURES();
    src_ = test::FixturesDir() + "/deepseek-golden/v3-tiny/checkpoint";
    dir_ = test::TempDir("ckpt");
    cfg_ = nlohmann::json::parse(test::ReadFileOrDie(src_ + "/config.json"));
  }
  void WriteConfig() { test::WriteFile(dir_ + "/config.json", cfg_.dump(2)); }
  void LinkWeights() { fs::create_symlink(src_ + "/model.safetensors", dir_ + "/model.safetensors"); }
  void ExpectLoadError(const std::vector<std::string>& needles) {
    auto m = LoadModel(dir_);
    ASSERT_FALSE(m.ok());
    for (const auto& n : needles) EXPECT_NE(m.status().message().find(n), std::string::npos) << m.status().message();
  }
  std::string src_, dir_;
  nlohmann::json cfg_;
};

TEST_F(BrokenCheckpoint, ShapeDisagreesWithConfig) {
  cfg_["kv_lora_rank"] = 48;
  WriteConfig();
  LinkWeights();
  ExpectLoadError({"model.safetensors", "kv_a_proj_with_mqa.weight", "shape", "config.json"});
}

TEST_F(BrokenCheckpoint, TensorMissing) {
  cfg_["num_hidden_layers"] = 5;  // layers 3 (MTP) and 4 do not have a full decoder layout
  WriteConfig();
  LinkWeights();
  ExpectLoadError({"model.layers.", "missing"});
}

TEST_F(BrokenCheckpoint, TruncatedWeightsFile) {
  WriteConfig();
  std::string bytes = test::ReadFileOrDie(src_ + "/model.safetensors");
  test::WriteFile(dir_ + "/model.safetensors", bytes.substr(0, bytes.size() / 2));
  ExpectLoadError({"model.safetensors", "out of range"});
}

TEST_F(BrokenCheckpoint, IndexNamesMissingShard) {
  WriteConfig();
  nlohmann::json idx;
  idx["metadata"]["total_size"] = 1;
  idx["weight_map"]["model.embed_tokens.weight"] = "model-00001-of-00002.safetensors";
  test::WriteFile(dir_ + "/model.safetensors.index.json", idx.dump());
  ExpectLoadError({"model.safetensors.index.json", "model-00001-of-00002.safetensors", "does not exist"});
}

TEST_F(BrokenCheckpoint, IndexPromisesTensorNotInShard) {
  WriteConfig();
  LinkWeights();
  nlohmann::json idx;
  idx["weight_map"]["model.embed_tokens.weight"] = "model.safetensors";
  idx["weight_map"]["model.layers.0.ghost.weight"] = "model.safetensors";
  test::WriteFile(dir_ + "/model.safetensors.index.json", idx.dump());
  ExpectLoadError({"model.layers.0.ghost.weight", "not found"});
}

TEST_F(BrokenCheckpoint, UnsupportedArchitecture) {
  cfg_["architectures"] = {"MysteryForCausalLM"};
  WriteConfig();
  LinkWeights();
  ExpectLoadError({"config.json", "MysteryForCausalLM", "not supported"});
}

TEST_F(BrokenCheckpoint, Fp8WithoutScale) {
  QS_REQUIRE_FIXTURES();
  // v3-fp8-tiny with only the first shard present in the index: scale tensors live elsewhere.
  const std::string fp8 = test::FixturesDir() + "/deepseek-golden/v3-fp8-tiny/checkpoint";
  auto idx = nlohmann::json::parse(test::ReadFileOrDie(fp8 + "/model.safetensors.index.json"));
  fs::copy_file(fp8 + "/config.json", dir_ + "/config.json");
  // Keep every weight but drop one scale tensor from a rewritten single file.
  std::vector<TensorToWrite> out;
  std::string dropped;
  for (const auto& [name, shard] : idx["weight_map"].items()) {
    auto f = SafetensorsFile::Open(fp8 + "/" + shard.get<std::string>());
    ASSERT_TRUE(f.ok());
    const TensorView* t = (*f)->Find(name);
    if (dropped.empty() && name.find("layers.0.self_attn.q_a_proj.weight_scale_inv") != std::string::npos) {
      dropped = name;
      continue;
    }
    out.push_back({name, t->dtype, t->shape, std::vector<uint8_t>(t->data, t->data + t->nbytes)});
  }
  ASSERT_FALSE(dropped.empty());
  ASSERT_TRUE(WriteSafetensors(dir_ + "/model.safetensors", out).ok());
  ExpectLoadError({"q_a_proj.weight", "F8_E4M3", "scale", "missing"});
}

TEST(Checkpoint, ShardedGoldenLoadsAndMapsEveryTensor) {
  QS_REQUIRE_FIXTURES();
  auto ck = Checkpoint::OpenDir(test::FixturesDir() + "/deepseek-golden/v3-fp8-tiny/checkpoint");
  ASSERT_TRUE(ck.ok()) << ck.status().message();
  EXPECT_EQ((*ck)->num_files(), 3u);
  EXPECT_NE((*ck)->Find("model.layers.0.mlp.gate_proj.weight_scale_inv"), nullptr);
}

}  // namespace
}  // namespace qs
