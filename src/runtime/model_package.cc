#include "runtime/model_package.h"

#include <filesystem>
#include <fstream>

#include "io/gguf.h"

namespace qs {

Result<ModelFormat> ResolveModelPath(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) return ModelFormat::kDirectory;
  if (!fs::is_regular_file(path, ec))
    return NotFound(path + ": not a model directory (config.json + *.safetensors) or a .gguf file");
  char magic[4] = {};
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError(path + ": cannot open");
  in.read(magic, 4);
  return std::string_view(magic, 4) == "GGUF" ? ModelFormat::kGguf : ModelFormat::kFile;
}

namespace {

// Everything from one open GGUF file; the model (which keeps the file) comes last.
Status OpenGguf(std::unique_ptr<GgufFile> g, const ModelPackageOptions& o, ModelPackage* p) {
  if (o.inspect_gguf) QS_RETURN_IF_ERROR(o.inspect_gguf(*g));
  if (o.tokenizer) {
    QS_ASSIGN_OR_RETURN(p->tokenizer, Tokenizer::FromGguf(*g));
  }
  if (o.chat_template) {
    QS_ASSIGN_OR_RETURN(p->chat_template, LoadChatTemplate(*g));
  }
  if (o.model) {
    QS_ASSIGN_OR_RETURN(p->model, LoadModel(std::move(g)));
  }
  return Status::Ok();
}

}  // namespace

Result<ModelPackage> OpenModelPackage(const std::string& path, const ModelPackageOptions& o) {
  ModelPackage p;
  p.path = path;
  QS_ASSIGN_OR_RETURN(p.format, ResolveModelPath(path));
  switch (p.format) {
    case ModelFormat::kGguf: {
      QS_ASSIGN_OR_RETURN(auto g, GgufFile::Open(path));
      QS_RETURN_IF_ERROR(OpenGguf(std::move(g), o, &p));
      break;
    }
    case ModelFormat::kDirectory:
      // Model first: a broken checkpoint is reported before a missing tokenizer, as always.
      if (o.model) {
        QS_ASSIGN_OR_RETURN(p.model, LoadModel(path));
      }
      if (o.tokenizer) {
        QS_ASSIGN_OR_RETURN(p.tokenizer, Tokenizer::Load(path));
      }
      if (o.chat_template) {
        QS_ASSIGN_OR_RETURN(p.chat_template, LoadChatTemplate(path));
      }
      break;
    case ModelFormat::kFile:
      // Only a tokenizer.json stands alone; for anything else the GGUF reader's error (bad magic,
      // naming the file) says what is wrong.
      if (o.model || o.chat_template || o.inspect_gguf) {
        QS_ASSIGN_OR_RETURN(auto g, GgufFile::Open(path));
        QS_RETURN_IF_ERROR(OpenGguf(std::move(g), o, &p));
      } else if (o.tokenizer) {
        QS_ASSIGN_OR_RETURN(p.tokenizer, Tokenizer::Load(path));
      }
      break;
  }
  return p;
}

}  // namespace qs
