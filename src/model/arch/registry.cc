// The registry of architecture specs (arch.h). Family files register themselves at start-up.
#include <algorithm>

#include "model/arch/arch.h"

namespace qs {

namespace {
std::vector<const ArchSpec*>& Specs() {
  static std::vector<const ArchSpec*> specs;
  return specs;
}
bool Has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }
}  // namespace

const std::vector<const ArchSpec*>& AllArchitectures() { return Specs(); }

ArchRegistrar::ArchRegistrar(const ArchSpec* spec) { Specs().push_back(spec); }

const ArchSpec* FindArchitecture(const std::string& hf_architecture, const std::string& model_type) {
  if (!hf_architecture.empty()) {
    for (const ArchSpec* s : Specs())
      if (Has(s->hf_architectures, hf_architecture)) return s;
    return nullptr;
  }
  for (const ArchSpec* s : Specs())
    if (Has(s->model_types, model_type)) return s;
  return nullptr;
}

const ArchSpec* FindGgufArchitecture(const std::string& gguf_arch) {
  for (const ArchSpec* s : Specs())
    if (!s->gguf_arch.empty() && s->gguf_arch == gguf_arch) return s;
  return nullptr;
}

std::string SupportedArchitectures() {
  std::vector<std::string> names;
  for (const ArchSpec* s : Specs()) names.insert(names.end(), s->hf_architectures.begin(), s->hf_architectures.end());
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string SupportedGgufArchitectures() {
  std::vector<std::string> names;
  for (const ArchSpec* s : Specs())
    if (!s->gguf_arch.empty() && !Has(names, s->gguf_arch)) names.push_back(s->gguf_arch);
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace qs
