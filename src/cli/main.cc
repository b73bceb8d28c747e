// qiusuo: one binary, one subcommand per job (info, logits, generate, synth, tokenize, ...).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>

#include "base/log.h"
#include "cli/command.h"
#include "cli/common.h"

namespace qs::cli {
std::vector<CommandInfo>& Registry() {
  static std::vector<CommandInfo> r;
  return r;
}
}  // namespace qs::cli

int main(int argc, char** argv) {
  CLI::App app{"qiusuo (求索): run DeepSeek models on the machines you have"};
  app.require_subcommand(1);
  bool quiet = false, verbose = false;
  app.add_flag("-q,--quiet", quiet, "only errors on stderr");
  app.add_flag("-v,--verbose", verbose, "debug logging");
  // Run-time settings for every command; set before the subcommands exist so they inherit the
  // fallthrough (a global option may also follow the subcommand's name).
  qs::cli::RuntimeFlags rt;
  qs::cli::AddRuntimeFlags(&app, &rt);
  app.fallthrough();
  auto& reg = qs::cli::Registry();
  std::sort(reg.begin(), reg.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::function<int()> run;
  for (auto& c : reg) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    auto fn = c.setup(sub);
    sub->callback([&run, fn] { run = fn; });
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (quiet) qs::SetLogLevel(qs::LogLevel::kError);
  if (verbose) qs::SetLogLevel(qs::LogLevel::kDebug);
  // Built once, here; nothing below the CLI reads the environment.
  const qs::RuntimeConfig config = qs::cli::BuildRuntimeConfig(rt);
  qs::cli::SetRuntime(config);
  qs::ApplyRuntimeConfig(config);
  QS_LOG_DEBUG("runtime: %s", qs::Describe(config).c_str());
  return run ? run() : 1;
}
