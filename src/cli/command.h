// Subcommand registry: each cmd_<name>.cc declares its options and its run function with
// QS_COMMAND, so adding a command touches no other file.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace qs::cli {

// Declares options on `app` and returns the function that runs the command (exit code).
using CommandSetup = std::function<std::function<int()>(CLI::App* app)>;

struct CommandInfo {
  std::string name;
  std::string help;
  CommandSetup setup;
};

std::vector<CommandInfo>& Registry();

struct Registrar {
  Registrar(const char* name, const char* help, CommandSetup setup) {
    Registry().push_back({name, help, std::move(setup)});
  }
};

}  // namespace qs::cli

// Variadic so the setup lambda may contain top-level commas.
#define QS_COMMAND(ident, name, help, ...) \
  static ::qs::cli::Registrar qs_cmd_registrar_##ident(name, help, __VA_ARGS__)
