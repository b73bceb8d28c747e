#include "runtime/runtime_config.h"

#include "base/thread_pool.h"
#include "kernels/matmul.h"
#include "kernels/pack.h"

namespace qs {

void ApplyRuntimeConfig(const RuntimeConfig& c) {
  SetDefaultThreadCount(c.threads);
  if (c.isa_cap) SetIsaCap(*c.isa_cap);
  SetRepackEnabled(c.repack);
  if (c.f16_prefill_bf16) SetF16PrefillBf16(*c.f16_prefill_bf16);
}

std::string Describe(const RuntimeConfig& c) {
  std::string s = "threads " + (c.threads > 0 ? std::to_string(c.threads) : std::string("all"));
  s += ", isa " + std::string(c.isa_cap ? IsaName(*c.isa_cap) : "auto");
  s += c.repack ? ", repack" : ", no repack";
  if (c.f16_prefill_bf16) s += *c.f16_prefill_bf16 ? ", f16 prefill bf16" : ", f16 prefill fp32";
  return s;
}

}  // namespace qs
