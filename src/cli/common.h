// Small helpers shared by the subcommands.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "base/status.h"
#include "runtime/runtime_config.h"

namespace CLI {
class App;
}

namespace qs::cli {

// The global run-time options as given on the command line (empty / 0: not given).
struct RuntimeFlags {
  int threads = 0;
  std::string isa, f16_prefill;
  bool no_repack = false;
};
// Declares --threads, --isa, --no-repack, --f16-prefill on the top-level app (subcommands fall
// through to them, so `qiusuo bench --isa avx2` works too).
void AddRuntimeFlags(CLI::App* app, RuntimeFlags* flags);
// The one place that reads the QIUSUO_* environment: each setting is taken from its flag, else
// from its variable (QIUSUO_THREADS, QIUSUO_ISA, QIUSUO_REPACK, QIUSUO_F16_PREFILL), else the
// default. A bad variable is warned about and ignored, as it always was.
RuntimeConfig BuildRuntimeConfig(const RuntimeFlags& flags);
// The configuration main() built and installed at start-up; commands read the thread default here.
const RuntimeConfig& Runtime();
void SetRuntime(const RuntimeConfig& c);
// A command's thread count: its own --threads if given, else the global one.
inline int Threads(int own) { return ResolveThreads(own, Runtime()); }

// The server's API key: --api-key, else the first line of --api-key-file, else QIUSUO_API_KEY
// (the file and the variable keep the key out of `ps`). Empty: none. The key is taken exactly as
// given (only the file's line break is dropped); both flags at once is an error.
Result<std::string> ResolveApiKey(const std::string& flag_key, const std::string& key_file);

// "0,17,5" or "0 17 5" -> ids. Error on anything that is not a non-negative integer.
Result<std::vector<int32_t>> ParseIdList(const std::string& s);
// Prints "qiusuo: error: <message>" to stderr and returns exit code 1.
int Fail(const Status& st);

}  // namespace qs::cli
