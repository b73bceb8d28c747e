// The process's run-time settings in one place. The CLI builds one RuntimeConfig at start-up
// from its global flags (--threads, --isa, --no-repack, --f16-prefill), falling back to the
// QIUSUO_* environment variables the README documents, and installs it with ApplyRuntimeConfig.
// Nothing below the CLI reads the environment: the kernels' process-wide choices (ISA cap,
// repacking, F16 prefill) are set through their setters, and the thread count is passed down.
#pragma once

#include <optional>
#include <string>

#include "base/cpu.h"

namespace qs {

struct RuntimeConfig {
  int threads = 0;                        // compute threads; 0: all cores
  std::optional<Isa> isa_cap;             // cap on the kernels' instruction set; none: the CPU's
  bool repack = true;                     // repack weights into the kernels' layout at load
  std::optional<bool> f16_prefill_bf16;   // F16 prefill on bf16 products; none: the default
};

// Installs the process-wide parts (kernel choices, the default thread count).
void ApplyRuntimeConfig(const RuntimeConfig& c);

// Threads for a command: its own --threads when given (> 0), else the configured default.
inline int ResolveThreads(int own, const RuntimeConfig& c) { return own > 0 ? own : c.threads; }

// "scalar, avx2 (threads 8)"-style one-liner for logs.
std::string Describe(const RuntimeConfig& c);

}  // namespace qs
