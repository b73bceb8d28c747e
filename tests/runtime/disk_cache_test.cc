// The prefix cache's disk tier (runtime/disk_cache.h): entries round-trip and survive a reopen
// (a restart), every corruption (a flipped byte anywhere, truncation, another model's key, a stray
// temporary) is dropped and deleted and never served, LRU eviction by bytes, namespaces are
// isolated; and with a real (tiny, random) model: the scheduler hits after a restart, with the
// same greedy output as without the cache, also when the files were damaged.
#include "runtime/disk_cache.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "base/hash.h"
#include "convert/synth.h"
#include "model/model.h"
#include "runtime/prefix_cache.h"
#include "runtime/scheduler.h"
#include "testutil.h"

namespace qs {
namespace {

namespace fs = std::filesystem;

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);  // RFC 3720 B.4 check value
  EXPECT_EQ(Crc32c("", 0), 0u);
  std::string a(1000, 'x');
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<char>(i * 7);
  // Incremental = whole, at every split (the slicing-by-8 path and the byte tail agree).
  for (size_t k : {0, 1, 7, 8, 9, 500, 999, 1000})
    EXPECT_EQ(Crc32c(a.data() + k, a.size() - k, Crc32c(a.data(), k)), Crc32c(a.data(), a.size())) << k;
}

// A cache of `n` tokens whose rows are a function of (token, layer, column): two caches for prompts
// with a common prefix agree exactly on it, as real KV rows do.
std::shared_ptr<KvCache> Rows(const std::vector<int32_t>& tokens, int64_t aux = 3) {
  auto kv = std::make_shared<KvCache>(2, 5, 4, 1024, aux);
  EXPECT_TRUE(kv->Reserve(static_cast<int64_t>(tokens.size())).ok());
  for (int64_t l = 0; l < 2; ++l)
    for (size_t p = 0; p < tokens.size(); ++p) {
      const int64_t pos = static_cast<int64_t>(p);
      for (int64_t c = 0; c < 5; ++c) kv->k(l, pos)[c] = static_cast<float>(tokens[p] * 100 + l * 10 + c);
      for (int64_t c = 0; c < 4; ++c) kv->v(l, pos)[c] = static_cast<float>(-tokens[p] - l - c);
      for (int64_t c = 0; c < aux; ++c) kv->aux(l, pos)[c] = static_cast<float>(pos + c * 0.5);
    }
  kv->set_size(static_cast<int64_t>(tokens.size()));
  return kv;
}

bool SameRows(KvCache& a, KvCache& b, int64_t n) {
  for (int64_t l = 0; l < 2; ++l)
    for (int64_t p = 0; p < n; ++p) {
      for (int64_t c = 0; c < 5; ++c)
        if (a.k(l, p)[c] != b.k(l, p)[c]) return false;
      for (int64_t c = 0; c < 4; ++c)
        if (a.v(l, p)[c] != b.v(l, p)[c]) return false;
      for (int64_t c = 0; c < a.aux_width(); ++c)
        if (a.aux(l, p)[c] != b.aux(l, p)[c]) return false;
    }
  return true;
}

std::vector<int32_t> Seq(int32_t from, int n) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) t[static_cast<size_t>(i)] = from + i;
  return t;
}

class DiskCacheTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::TempDir("diskcache"); }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::unique_ptr<DiskCache> Open(uint64_t max_bytes = 1 << 20, uint64_t key = 42) {
    DiskCacheOptions o;
    o.dir = dir_;
    o.max_bytes = max_bytes;
    o.model_key = key;
    auto c = DiskCache::Open(o);
    EXPECT_TRUE(c.ok()) << c.status().message();
    return c.ok() ? std::move(*c) : nullptr;
  }
  std::vector<fs::path> Files() {
    std::vector<fs::path> f;
    for (auto& e : fs::recursive_directory_iterator(dir_))
      if (e.is_regular_file()) f.push_back(e.path());
    return f;
  }
  std::string dir_;
};

TEST_F(DiskCacheTest, RoundTripAndRestart) {
  const auto t = Seq(10, 40);
  {
    auto c = Open();
    c->Store(t, Rows(t), 7);
    c->Flush();
    EXPECT_EQ(c->Stats().entries, 1u);
  }  // closed: a restart
  auto c = Open();
  ASSERT_EQ(c->Stats().entries, 1u);
  KvCache dst(2, 5, 4, 1024, 3);
  // A prompt sharing 25 tokens: 25 rows, exactly those stored.
  auto q = Seq(10, 25);
  q.push_back(999);
  EXPECT_EQ(c->Lookup(q, 100, 0, &dst, 7), 25);
  EXPECT_EQ(dst.size(), 25);
  auto want = Rows(t);
  EXPECT_TRUE(SameRows(dst, *want, 25));
  // max_len caps it, min_len means "only if longer".
  EXPECT_EQ(c->Lookup(t, 10, 0, &dst, 7), 10);
  EXPECT_EQ(c->Lookup(t, 100, 40, &dst, 7), 0);
  EXPECT_EQ(c->Stats().hits, 2u);
  EXPECT_EQ(c->Stats().hit_tokens, 35u);
}

TEST_F(DiskCacheTest, NamespacesAreIsolated) {
  auto c = Open();
  const auto t = Seq(1, 30);
  c->Store(t, Rows(t), 1);
  c->Flush();
  KvCache dst(2, 5, 4, 1024, 3);
  EXPECT_EQ(c->Lookup(t, 29, 0, &dst, 2), 0);  // another key / user: nothing, not even a prefix
  EXPECT_EQ(c->Lookup(t, 29, 0, &dst, 0), 0);
  EXPECT_EQ(c->Lookup(t, 29, 0, &dst, 1), 29);
  // The same tokens in another namespace are a separate file.
  c->Store(t, Rows(t), 2);
  c->Flush();
  EXPECT_EQ(c->Stats().entries, 2u);
}

TEST_F(DiskCacheTest, ExtendingEntryReplacesItsPrefixAndCoveredIsNotWritten) {
  auto c = Open();
  const auto a = Seq(1, 20), b = Seq(1, 35);
  c->Store(a, Rows(a), 1);
  c->Store(b, Rows(b), 1);  // extends a: a's file goes
  c->Store(a, Rows(a), 1);  // covered by b: nothing written
  c->Flush();
  EXPECT_EQ(c->Stats().entries, 1u);
  EXPECT_EQ(c->Stats().writes, 2u);
  EXPECT_EQ(Files().size(), 1u);
}

// Every byte of a file matters: a flipped byte anywhere (header, tokens, payload) or a truncation
// is caught at open or at lookup, the file is deleted and nothing is served.
TEST_F(DiskCacheTest, CorruptionIsDroppedNeverServed) {
  const auto t = Seq(5, 16);
  {
    auto c = Open();
    c->Store(t, Rows(t), 3);
    c->Flush();
  }
  ASSERT_EQ(Files().size(), 1u);
  const fs::path f = Files()[0];
  std::string good = test::ReadFileOrDie(f.string());
  const size_t header = 80, tokens_end = header + t.size() * 4;
  for (size_t at : {size_t{0}, size_t{20}, size_t{79}, header + 3, tokens_end + 1, good.size() / 2, good.size() - 1}) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x40);
    test::WriteFile(f.string(), bad);
    auto c = Open();
    KvCache dst(2, 5, 4, 1024, 3);
    EXPECT_EQ(c->Lookup(t, 15, 0, &dst, 3), 0) << "byte " << at;
    EXPECT_EQ(dst.size(), 0) << "byte " << at;
    EXPECT_FALSE(fs::exists(f)) << "byte " << at << " not deleted";
    EXPECT_EQ(c->Stats().dropped, 1u) << "byte " << at;
  }
  for (size_t len : {size_t{0}, size_t{40}, header, tokens_end, good.size() - 4}) {
    test::WriteFile(f.string(), good.substr(0, len));
    auto c = Open();
    KvCache dst(2, 5, 4, 1024, 3);
    EXPECT_EQ(c->Lookup(t, 15, 0, &dst, 3), 0) << "truncated to " << len;
    EXPECT_FALSE(fs::exists(f)) << "truncated to " << len;
  }
  // Appended garbage: the size no longer matches the header.
  test::WriteFile(f.string(), good + "x");
  EXPECT_EQ(Open()->Stats().entries, 0u);
  // The intact file is served again.
  test::WriteFile(f.string(), good);
  auto c = Open();
  KvCache dst(2, 5, 4, 1024, 3);
  EXPECT_EQ(c->Lookup(t, 15, 0, &dst, 3), 15);
}

TEST_F(DiskCacheTest, OtherModelsAndStrayTemporariesAreNotRead) {
  const auto t = Seq(5, 16);
  {
    auto c = Open(1 << 20, 42);
    c->Store(t, Rows(t), 3);
    c->Flush();
  }
  // Another model key has its own subdirectory: nothing of model 42 is visible or touched.
  EXPECT_EQ(Open(1 << 20, 43)->Stats().entries, 0u);
  EXPECT_EQ(Open(1 << 20, 42)->Stats().entries, 1u);
  // A file of model 42 copied into model 43's directory (same name) has the wrong key: dropped.
  fs::path f42;
  for (auto& f : Files())
    if (f.parent_path().filename() == "000000000000002a") f42 = f;
  ASSERT_FALSE(f42.empty());
  fs::path in43 = fs::path(dir_) / "000000000000002b" / f42.filename();
  fs::copy_file(f42, in43);
  auto c43 = Open(1 << 20, 43);
  EXPECT_EQ(c43->Stats().entries, 0u);
  EXPECT_EQ(c43->Stats().dropped, 1u);
  EXPECT_FALSE(fs::exists(in43));
  // A temporary left by a crash mid-write is deleted at start.
  fs::path tmp = f42.string() + ".tmp";
  test::WriteFile(tmp.string(), "partial");
  Open(1 << 20, 42);
  EXPECT_FALSE(fs::exists(tmp));
}

TEST_F(DiskCacheTest, LruEvictionByBytes) {
  const auto a = Seq(100, 50), b = Seq(200, 50), c3 = Seq(300, 50);
  const uint64_t entry = 80 + 50 * 4 + 50 * 2 * (5 + 4 + 3) * 4;  // header + tokens + rows
  {
    auto c = Open(2 * entry + 10);
    c->Store(a, Rows(a), 1);
    c->Store(b, Rows(b), 1);
    c->Flush();
    KvCache dst(2, 5, 4, 1024, 3);
    EXPECT_EQ(c->Lookup(a, 49, 0, &dst, 1), 49);  // a is now the most recently used
    c->Store(c3, Rows(c3), 1);  // over budget: b (least recently used) goes
    c->Flush();
    EXPECT_EQ(c->Stats().entries, 2u);
    EXPECT_EQ(c->Stats().bytes, 2 * entry);
    EXPECT_EQ(c->Stats().evicted, 1u);
    EXPECT_EQ(c->Lookup(b, 49, 0, &dst, 1), 0);
    EXPECT_EQ(c->Lookup(a, 49, 0, &dst, 1), 49);
  }
  // The order survives a restart (mtimes), and a smaller bound evicts at open.
  auto c = Open(entry + 10);
  EXPECT_EQ(c->Stats().entries, 1u);
  KvCache dst(2, 5, 4, 1024, 3);
  EXPECT_EQ(c->Lookup(a, 49, 0, &dst, 1), 49);  // a was used last
  // An entry larger than the whole bound is not written.
  const auto big = Seq(1, 120);
  c->Store(big, Rows(big), 1);
  c->Flush();
  EXPECT_EQ(c->Stats().entries, 1u);
}

TEST_F(DiskCacheTest, PrefixCacheTakesTheLongerDiskMatch) {
  auto disk = Open();
  const auto t = Seq(1, 40);
  {
    PrefixCache mem(1 << 20);
    mem.set_disk(disk.get());
    mem.Insert(t, *Rows(t), 9);  // written through
    disk->Flush();
  }
  PrefixCache mem(1 << 20);  // a restart: memory is empty
  mem.set_disk(disk.get());
  KvCache dst(2, 5, 4, 1024, 3);
  EXPECT_EQ(mem.Lookup(t, 39, &dst, 9), 39);
  auto want = Rows(t);
  EXPECT_TRUE(SameRows(dst, *want, 39));
  EXPECT_EQ(mem.Lookup(t, 39, &dst, 8), 0);
}

// The scheduler with a real model: after a "restart" (a new scheduler and disk cache on the same
// directory) the repeated prompt hits, and greedy output equals the uncached run; with the files
// damaged it misses and the output is still the same.
TEST(DiskCacheScheduler, HitsAfterRestartSameOutputAndCorruptionIsHarmless) {
  const std::string dir = test::TempDir("diskcache-sched");
  std::ofstream(dir + "/config.json") << R"({"architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
      "vocab_size": 300, "hidden_size": 32, "intermediate_size": 64, "moe_intermediate_size": 16,
      "num_hidden_layers": 2, "first_k_dense_replace": 1, "n_routed_experts": 4, "num_experts_per_tok": 2,
      "n_shared_experts": 1, "n_group": 2, "topk_group": 1, "topk_method": "noaux_tc", "scoring_func": "sigmoid",
      "norm_topk_prob": true, "routed_scaling_factor": 2.5, "kv_lora_rank": 16, "q_lora_rank": 24,
      "qk_nope_head_dim": 8, "qk_rope_head_dim": 8, "v_head_dim": 8, "num_attention_heads": 2,
      "num_key_value_heads": 2, "max_position_embeddings": 512, "rms_norm_eps": 1e-6, "rope_theta": 10000,
      "bos_token_id": 0, "eos_token_id": 1, "tie_word_embeddings": false, "moe_layer_freq": 1,
      "num_nextn_predict_layers": 0, "hidden_act": "silu"})";
  SynthOptions so;
  so.config_path = dir + "/config.json";
  so.dtype = "f32";
  so.seed = 3;
  so.out_dir = dir + "/m";
  ASSERT_TRUE(SynthesizeCheckpoint(so).ok());
  auto model = LoadModel(dir + "/m");
  ASSERT_TRUE(model.ok()) << model.status().message();
  auto probe = (*model)->NewCache(1);
  auto key = ModelCacheKey(dir + "/m", *probe);
  ASSERT_TRUE(key.ok()) << key.status().message();
  // The key is stable and depends on the cache layout.
  EXPECT_EQ(ModelCacheKey(dir + "/m", *probe).value(), key.value());
  KvCache other(probe->n_layers(), probe->k_width() + 1, probe->v_width(), 1);
  EXPECT_NE(ModelCacheKey(dir + "/m", other).value(), key.value());

  std::vector<int32_t> prompt;
  for (int i = 0; i < 90; ++i) prompt.push_back(2 + (i * 37) % 290);
  struct Run {
    std::vector<int32_t> tokens;
    int64_t hit = -1;
  };
  auto run = [&](bool with_disk) {
    SchedulerOptions o;
    o.ctx = 256;
    o.chunk = 32;
    o.threads = 1;
    if (with_disk) {
      DiskCacheOptions dco;
      dco.dir = dir + "/cache";
      dco.max_bytes = 64 << 20;
      dco.model_key = *key;
      auto dc = DiskCache::Open(dco);
      EXPECT_TRUE(dc.ok());
      o.disk_cache = std::move(*dc);
    }
    Scheduler s(model->get(), o);
    GenRequest r;
    r.prompt = prompt;
    r.sampling.temperature = 0;
    r.max_tokens = 12;
    r.cache_namespace = 5;
    Scheduler::SubmitError err;
    auto h = s.Submit(r, &err);
    Run out;
    for (;;) {
      GenEvent ev;
      if (!h || !h->Next(&ev, std::chrono::seconds(30))) break;
      if (ev.kind == GenEvent::kStarted) out.hit = ev.cache_hit_tokens;
      if (ev.kind == GenEvent::kToken) out.tokens.push_back(ev.token);
      if (ev.kind == GenEvent::kDone) break;
    }
    return out;  // the scheduler, then the disk cache (flushing its writes) go here
  };
  Run plain = run(false);
  ASSERT_EQ(plain.tokens.size(), 12u);
  Run first = run(true);
  EXPECT_EQ(first.hit, 0);
  EXPECT_EQ(first.tokens, plain.tokens);
  Run again = run(true);  // a restart: only the disk has it
  EXPECT_EQ(again.hit, static_cast<int64_t>(prompt.size()) - 1);
  EXPECT_EQ(again.tokens, plain.tokens);
  // Damage every entry file's payload: a miss, the file deleted, the same answer.
  for (auto& e : fs::recursive_directory_iterator(dir + "/cache")) {
    if (!e.is_regular_file()) continue;
    std::string b = test::ReadFileOrDie(e.path().string());
    b[b.size() - 10] = static_cast<char>(b[b.size() - 10] ^ 1);
    test::WriteFile(e.path().string(), b);
  }
  Run damaged = run(true);
  EXPECT_EQ(damaged.hit, 0);
  EXPECT_EQ(damaged.tokens, plain.tokens);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace qs
