// qiusuo synth: a random-weight checkpoint in the official HF layout for any supported config.
#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "cli/common.h"
#include "model/synth.h"

namespace qs::cli {

QS_COMMAND(synth, "synth", "write a random-weight checkpoint with a config's exact dimensions", [](CLI::App* app) {
  auto o = std::make_shared<SynthOptions>();
  app->add_option("--config", o->config_path, "config.json of the model to imitate")->required();
  app->add_option("--tokenizer", o->tokenizer_dir, "directory whose tokenizer files to copy beside it");
  app->add_option("--dtype", o->dtype, "bf16 | f32 | fp8 (e4m3 + 128x128 scale_inv, as the V3 release)");
  app->add_option("--seed", o->seed, "random seed");
  app->add_option("--out", o->out_dir, "output directory")->required();
  return [o] {
    Status st = SynthesizeCheckpoint(*o);
    return st.ok() ? 0 : Fail(st);
  };
});

}  // namespace qs::cli
