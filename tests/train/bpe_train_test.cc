// The BPE tokenizer trainer: what it writes loads in the project's tokenizer, round-trips text
// exactly, compresses the corpus it learned from, and carries DeepSeek's special tokens and a
// chat template.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "io/mapped_file.h"
#include "testutil.h"
#include "tokenizer/tokenizer.h"
#include "train/bpe_train.h"

namespace qs::train {
namespace {

std::vector<std::string> Poems() {
  return {"白日依山尽，黄河入海流。\n欲穷千里目，更上一层楼。", "床前明月光，疑是地上霜。\n举头望明月，低头思故乡。",
          "春眠不觉晓，处处闻啼鸟。\n夜来风雨声，花落知多少。", "The quick brown fox jumps over the lazy dog 123 times.",
          "明月几时有？把酒问青天。不知天上宫阙，今夕是何年。", "<｜User｜>写一首五言绝句<｜Assistant｜>白日依山尽<｜end▁of▁sentence｜>"};
}

TEST(BpeTrain, WritesALoadableTokenizerThatRoundTrips) {
  std::vector<std::string> texts;
  for (int i = 0; i < 20; ++i)
    for (const auto& p : Poems()) texts.push_back(p);
  BpeOptions o;
  o.vocab_size = 400;
  auto r = TrainBpe(texts, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_GT(r->merges.size(), 50u);
  EXPECT_LE(static_cast<int64_t>(r->vocab.size() + SpecialTokens().size()), o.vocab_size);
  const std::string dir = qs::test::TempDir("bpe_train");
  ASSERT_TRUE(WriteTokenizer(*r, dir).ok());
  auto tok = Tokenizer::Load(dir);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  EXPECT_EQ((*tok)->bos_id(), 0);
  EXPECT_EQ((*tok)->eos_id(), 1);
  for (const auto& t : Poems()) {
    auto ids = (*tok)->Encode(t, /*parse_special=*/true, /*add_bos=*/false);
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ((*tok)->Decode(*ids), t);
    EXPECT_LT(ids->size() * 3, t.size() * 2) << "merges should compress text seen in training: " << t;
  }
  // Unseen text still round-trips (every byte is in the vocabulary).
  const std::string unseen = "滚滚长江东逝水 — naïve café ✓ 🙂";
  auto ids = (*tok)->Encode(unseen, false, false);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ((*tok)->Decode(*ids), unseen);
  // Special tokens are single ids; the chat template is DeepSeek's shape.
  auto sp = (*tok)->Encode("<｜User｜>", true, false);
  ASSERT_TRUE(sp.ok());
  EXPECT_EQ(sp->size(), 1u);
  auto cfg = ReadTextFile(dir + "/tokenizer_config.json");
  ASSERT_TRUE(cfg.ok());
  auto j = nlohmann::json::parse(*cfg);
  EXPECT_NE(j["chat_template"].get<std::string>().find("<｜Assistant｜>"), std::string::npos);
}

TEST(BpeTrain, IsDeterministicAndRejectsATinyVocabulary) {
  std::vector<std::string> texts = Poems();
  BpeOptions o;
  o.vocab_size = 300;
  auto a = TrainBpe(texts, o), b = TrainBpe(texts, o);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->merges, b->merges);
  o.vocab_size = 100;
  EXPECT_FALSE(TrainBpe(texts, o).ok());
}

}  // namespace
}  // namespace qs::train

namespace qs::train {
namespace {

// The commands end to end: train-tokenizer, train (3 steps), train --resume to 5 steps, then the
// checkpoint (tokenizer files included) loads in `qiusuo logits`.
TEST(TrainCli, TokenizerTrainResumeAndLogits) {
  const std::string dir = qs::test::TempDir("train_cli");
  {
    std::ofstream f(dir + "/data.jsonl");
    for (int i = 0; i < 60; ++i)
      for (const auto& p : Poems()) f << nlohmann::json({{"text", "<｜begin▁of▁sentence｜><｜User｜>写诗<｜Assistant｜>" + p + "<｜end▁of▁sentence｜>"}}).dump() << "\n";
  }
  const std::string bin = qs::test::QiusuoBin(), model = dir + "/model";
  std::string out;
  ASSERT_EQ(qs::test::RunCommand(bin + " train-tokenizer --data " + dir + "/data.jsonl --out " + model + " --vocab-size 320", &out), 0) << out;
  const std::string dims = " --hidden 16 --layers 2 --heads 2 --q-lora 8 --kv-lora 8 --nope-dim 4 --rope-dim 4 --v-dim 4"
                           " --inter 32 --moe-inter 8 --experts 4 --topk 2 --batch 2 --seq 16 --threads 2";
  ASSERT_EQ(qs::test::RunCommand(bin + " train --data " + dir + "/data.jsonl --val " + dir + "/data.jsonl --out " + model +
                                     " --tokenizer " + model + dims + " --steps 3 --log-every 1", &out), 0) << out;
  EXPECT_NE(out.find("step 3/3"), std::string::npos) << out;
  EXPECT_NE(out.find("tok/s"), std::string::npos) << out;
  ASSERT_EQ(qs::test::RunCommand(bin + " train --data " + dir + "/data.jsonl --out " + model + " --resume --steps 5", &out), 0) << out;
  EXPECT_NE(out.find("step 5/5"), std::string::npos) << out;
  EXPECT_EQ(out.find("step 1/5"), std::string::npos) << "resume restarted from step 0: " << out;
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json",
                        "train_state.json", "train_state.safetensors"})
    EXPECT_TRUE(std::ifstream(model + "/" + f).good()) << f;
  ASSERT_EQ(qs::test::RunCommand(bin + " logits --model " + model + " --tokens 0,3,4,5 --out " + dir + "/l.bin", &out), 0) << out;
  EXPECT_EQ(qs::test::ReadF32File(dir + "/l.bin").size(), 4u * 320u);
  // Bad input is an error, not a crash.
  EXPECT_NE(qs::test::RunCommand(bin + " train --data /nonexistent.jsonl --out " + model + " --tokenizer " + model, &out), 0);
  EXPECT_NE(out.find("nonexistent"), std::string::npos) << out;
  EXPECT_NE(qs::test::RunCommand(bin + " train --data " + dir + "/data.jsonl --out " + dir + "/big --tokenizer " + model +
                                     " --seq 1000000 --steps 1", &out), 0);
  EXPECT_NE(out.find("64 GB"), std::string::npos) << out;
}

}  // namespace
}  // namespace qs::train
