// Helpers for the end-to-end server tests: a tiny synthetic DeepSeek-V3 checkpoint with the real
// tokenizer, the `qiusuo serve` process on a loopback port, and an SSE reader.
#pragma once

#include <sys/types.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "testutil.h"

namespace qs::test {

// Writes a tiny random DeepSeek-V3 model (vocab 129280, hidden 64, 2 layers, 8 experts) with the
// DeepSeek-V3 tokenizer into `dir`; `chat_template`: optional chat_template.jinja to add (an R1
// template). `vocab`: the model's vocab_size (smaller than the tokenizer's makes every special
// token, hence every chat prompt, fail in the forward pass: the server's 500 path). Returns "" on
// success, else the error.
std::string MakeTinyModel(const std::string& dir, const std::string& chat_template_file = "", int vocab = 129280);
// The same, built once per qiusuo binary and shared by the test processes (CTest runs each test in
// its own process): <tmp>/qiusuo-tests/e2e-model-<name>-<binary mtime>/m. Sets *model_dir.
std::string SharedTinyModel(const std::string& name, const std::string& chat_template_file, std::string* model_dir,
                            int vocab = 129280);

class ServerProcess {
 public:
  // Starts `qiusuo serve --model M --port 0 ARGS` and waits for "listening on".
  bool Start(const std::string& model, const std::vector<std::string>& args, std::string* error);
  ~ServerProcess() { Stop(); }
  void Stop();
  // Waits up to `timeout_s` for the process to exit by itself; its wait status, or -1 if it is
  // still running (then it stays in our hands: Stop() ends it).
  int Wait(double timeout_s);
  int port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

struct SseResult {
  std::vector<nlohmann::json> events;  // parsed data: payloads, [DONE] excluded
  bool done = false;                   // saw data: [DONE]
  int keepalives = 0;
  std::string error;                   // malformed event
};
SseResult ParseSse(const std::string& body);

// A test whose servers run the shared tiny DeepSeek-V3 model (skips without the fixtures).
class TinyV3ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    QS_REQUIRE_FIXTURES();
    std::string err = SharedTinyModel("v3", "", &model_);
    ASSERT_TRUE(err.empty()) << err;
  }
  std::string model_;
};

}  // namespace qs::test
