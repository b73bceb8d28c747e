// qiusuo quantize: a Hugging Face checkpoint (BF16 / F32 / FP8 as released) or a GGUF file ->
// a llama.cpp GGUF of the chosen type, streamed tensor by tensor (convert/gguf_quantize.h).
#include <CLI/CLI.hpp>
#include <filesystem>

#include "cli/command.h"
#include "cli/common.h"
#include "convert/gguf_export.h"
#include "convert/gguf_quantize.h"
#include "tokenizer/tokenizer_gguf_export.h"

namespace qs::cli {

QS_COMMAND(quantize, "quantize", "convert an HF checkpoint or a GGUF file to a llama.cpp GGUF of a given type",
           [](CLI::App* app) {
  auto o = std::make_shared<QuantizeOptions>();
  app->add_option("--model", o->model, "HF checkpoint directory or .gguf file")->required();
  app->add_option("--out", o->out, "output .gguf file")->required();
  app->add_option("--type", o->type, "output type: " + GgufFileTypeNames())->required();
  app->add_option("--name", o->name, "general.name (default: the input's name)");
  app->add_option("--threads", o->threads, "threads for decoding and quantizing rows (default: all)");
  return [o] {
    // A tokenizer.json beside the weights becomes tokenizer.ggml.* metadata (llama.cpp needs it).
    o->hf_tokenizer = [](const std::string& dir, GgufWriter* w) -> Status {
      std::error_code ec;
      if (!std::filesystem::exists(std::filesystem::path(dir) / "tokenizer.json", ec)) {
        std::fprintf(stderr, "qiusuo: warning: %s has no tokenizer.json; the GGUF will have no tokenizer "
                     "(llama.cpp will refuse to load it)\n", dir.c_str());
        return Status::Ok();
      }
      return WriteTokenizerGgufMetadata(dir, w);
    };
    Status st = QuantizeModel(*o);
    return st.ok() ? 0 : Fail(st);
  };
});

}  // namespace qs::cli
