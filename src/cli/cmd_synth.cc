// qiusuo synth: a random-weight model with a config's exact dimensions, as an HF checkpoint
// directory (the official layout) or, with --out x.gguf, straight as a llama.cpp GGUF file of
// any `quantize` type (no intermediate HF copy).
#include <CLI/CLI.hpp>
#include <filesystem>

#include "cli/command.h"
#include "cli/common.h"
#include "io/mapped_file.h"
#include "convert/gguf_export.h"
#include "convert/synth.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "tokenizer/tokenizer_gguf_export.h"

namespace qs::cli {

QS_COMMAND(synth, "synth", "write a random-weight model with a config's exact dimensions (HF dir or .gguf)",
           [](CLI::App* app) {
  auto o = std::make_shared<SynthOptions>();
  auto type = std::make_shared<std::string>("f16");
  auto threads = std::make_shared<int>(0);
  app->add_option("--config", o->config_path, "config.json of the model to imitate")->required();
  app->add_option("--tokenizer", o->tokenizer_dir, "directory whose tokenizer files to copy beside it (HF) or "
                  "to write as tokenizer.ggml.* metadata (GGUF), or a vocab .gguf whose tokenizer keys to copy");
  app->add_option("--dtype", o->dtype, "HF output: bf16 | f32 | fp8 (e4m3 + 128x128 scale_inv, as the V3 release) | fp4 (the V4 release: e4m3 + ue8m0 .scale, routed experts packed e2m1 + ue8m0 1x32)");
  app->add_option("--type", *type, "GGUF output: " + GgufFileTypeNames() + " (default f16)");
  app->add_option("--threads", *threads, "GGUF output: threads for quantizing rows");
  app->add_option("--seed", o->seed, "random seed");
  app->add_option("--out", o->out_dir, "output directory, or a .gguf file")->required();
  return [o, type, threads] {
    const std::string& out = o->out_dir;
    if (out.size() < 5 || out.compare(out.size() - 5, 5, ".gguf") != 0) {
      Status st = SynthesizeCheckpoint(*o);
      return st.ok() ? 0 : Fail(st);
    }
    SynthGgufOptions g;
    g.config_path = o->config_path;
    g.out_path = out;
    g.gguf_type = *type;
    g.seed = o->seed;
    g.threads = Threads(*threads);
    const std::string& tk = o->tokenizer_dir;
    if (tk.size() > 5 && tk.compare(tk.size() - 5, 5, ".gguf") == 0) {
      // A (vocab-only) GGUF: copy its tokenizer.* keys as they are (e.g. llama.cpp's
      // ggml-vocab-deepseek-llm.gguf for a DeepSeek-V2-Lite-shaped model).
      g.extra_metadata = [tk](GgufWriter* w) -> Status {
        QS_ASSIGN_OR_RETURN(auto v, GgufFile::Open(tk));
        return w->CopyMetadata(*v, "tokenizer.");
      };
    } else if (!o->tokenizer_dir.empty()) {
      const std::string dir = o->tokenizer_dir, cfg = o->config_path;
      g.extra_metadata = [dir, cfg](GgufWriter* w) -> Status {
        namespace fs = std::filesystem;
        QS_ASSIGN_OR_RETURN(std::string tj, ReadTextFile((fs::path(dir) / "tokenizer.json").string()));
        std::string tc;
        std::error_code ec;
        if (fs::exists(fs::path(dir) / "tokenizer_config.json", ec)) {
          QS_ASSIGN_OR_RETURN(tc, ReadTextFile((fs::path(dir) / "tokenizer_config.json").string()));
        }
        QS_ASSIGN_OR_RETURN(std::string mc, ReadTextFile(cfg));  // vocab_size pads the token list
        return WriteTokenizerGgufMetadataFromText(tj, tc, mc, (fs::path(dir) / "tokenizer.json").string(), w);
      };
    }
    Status st = SynthesizeGguf(g);
    return st.ok() ? 0 : Fail(st);
  };
});

}  // namespace qs::cli
