// A model as the user names it: a Hugging Face directory or a .gguf file. OpenModelPackage
// resolves the path once and yields what the commands need from it: the loaded Model (its
// config), the Tokenizer and the chat template source, each read from the one place it lives.
// A GGUF file is opened (and its header parsed) once: the tokenizer and the chat template are read
// from that GgufFile, which is then handed to LoadModel. Errors name the file they are about.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/status.h"
#include "model/model.h"
#include "chat/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace qs {

class GgufFile;

enum class ModelFormat {
  kDirectory,  // config.json + safetensors, tokenizer.json, tokenizer_config.json, ...
  kGguf,       // one file: metadata, vocabulary, template and tensors
  kFile,       // another single file (e.g. a bare tokenizer.json: only the tokenizer can be read)
};

// Directory, GGUF (by its magic) or other file; NotFound naming the path when it is none.
Result<ModelFormat> ResolveModelPath(const std::string& path);

struct ModelPackageOptions {
  bool model = true;           // load the weights (LoadModel)
  bool tokenizer = true;       // load the tokenizer (an error when there is none)
  bool chat_template = false;  // read the chat template source (built-in fallback when absent)
  // GGUF only: sees the open file before anything is read from it (`qiusuo info` runs the
  // validator here); a non-OK status is returned as is.
  std::function<Status(const GgufFile&)> inspect_gguf;

  // The weights alone (generate, logits, bench: token ids in, no text).
  static ModelPackageOptions ModelOnly() {
    ModelPackageOptions o;
    o.tokenizer = false;
    return o;
  }
};

struct ModelPackage {
  std::string path;
  ModelFormat format = ModelFormat::kDirectory;
  std::unique_ptr<Model> model;              // null unless options.model
  std::unique_ptr<Tokenizer> tokenizer;      // null unless options.tokenizer
  std::optional<ModelChatTemplate> chat_template;  // source + origin, when options.chat_template

  const ModelConfig& config() const { return model->config(); }
};

Result<ModelPackage> OpenModelPackage(const std::string& path, const ModelPackageOptions& options = {});

}  // namespace qs
