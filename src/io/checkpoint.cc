#include "io/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "base/log.h"
#include "io/json_util.h"

namespace qs {

namespace fs = std::filesystem;

Result<std::unique_ptr<Checkpoint>> Checkpoint::OpenDir(const std::string& dir) {
  std::unique_ptr<Checkpoint> ck(new Checkpoint());
  const fs::path d(dir);
  const fs::path index_path = d / "model.safetensors.index.json";
  std::vector<std::string> shard_names;
  std::map<std::string, std::string> weight_map;  // tensor -> shard (from the index)
  std::error_code ec;
  if (fs::exists(index_path, ec)) {
    QS_ASSIGN_OR_RETURN(std::string text, ReadTextFile(index_path.string()));
    nlohmann::json j;
    QS_RETURN_IF_ERROR(ParseJson(text, index_path.string(), &j));
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      return InvalidArgument(index_path.string() + ": missing object 'weight_map'");
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string())
        return InvalidArgument(index_path.string() + ": weight_map entry '" + it.key() + "' is not a file name");
      std::string shard = it.value().get<std::string>();
      if (shard.find('/') != std::string::npos || shard == ".." )
        return InvalidArgument(index_path.string() + ": shard name '" + shard + "' must be a plain file name");
      weight_map[it.key()] = shard;
      if (std::find(shard_names.begin(), shard_names.end(), shard) == shard_names.end())
        shard_names.push_back(shard);
    }
    std::sort(shard_names.begin(), shard_names.end());
    for (const auto& s : shard_names)
      if (!fs::exists(d / s, ec))
        return NotFound(index_path.string() + " names shard '" + s + "', which does not exist in " + dir);
  } else if (fs::exists(d / "model.safetensors", ec)) {
    shard_names.push_back("model.safetensors");
  } else {
    if (!fs::is_directory(d, ec)) return NotFound(dir + ": not a directory");
    for (const auto& e : fs::directory_iterator(d, ec))
      if (e.path().extension() == ".safetensors") shard_names.push_back(e.path().filename().string());
    std::sort(shard_names.begin(), shard_names.end());
    if (shard_names.empty()) return NotFound(dir + ": no model.safetensors, index.json or *.safetensors files");
  }
  uint64_t total = 0;
  for (const auto& s : shard_names) total += fs::file_size(d / s, ec);
  Progress progress("mapping", total);
  uint64_t done = 0;
  for (const auto& s : shard_names) {
    QS_ASSIGN_OR_RETURN(auto f, SafetensorsFile::Open((d / s).string()));
    size_t fi = ck->files_.size();
    for (const auto& t : f->tensors()) {
      auto [it, inserted] = ck->index_.emplace(t.name, std::make_pair(fi, &t));
      if (!inserted)
        return InvalidArgument(f->path() + ": tensor '" + t.name + "' also appears in " +
                               ck->files_[it->second.first]->path());
    }
    ck->files_.push_back(std::move(f));
    done += fs::file_size(d / s, ec);
    progress.Update(done);
  }
  // Every tensor the index promises must be in the shard it names.
  for (const auto& [name, shard] : weight_map) {
    auto it = ck->index_.find(name);
    if (it == ck->index_.end())
      return NotFound(index_path.string() + ": tensor '" + name + "' is listed in shard '" + shard + "' but not found in it");
    if (fs::path(ck->files_[it->second.first]->path()).filename() != shard)
      return InvalidArgument(index_path.string() + ": tensor '" + name + "' is listed in shard '" + shard +
                             "' but found in " + ck->files_[it->second.first]->path());
  }
  return ck;
}

const TensorView* Checkpoint::Find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second.second;
}

std::string Checkpoint::FileOf(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? std::string("<checkpoint>") : files_[it->second.first]->path();
}

std::vector<std::string> Checkpoint::Names() const {
  std::vector<std::string> n;
  n.reserve(index_.size());
  for (const auto& [k, v] : index_) n.push_back(k);
  std::sort(n.begin(), n.end());
  return n;
}

uint64_t Checkpoint::total_bytes() const {
  uint64_t t = 0;
  for (const auto& f : files_)
    for (const auto& v : f->tensors()) t += v.nbytes;
  return t;
}

}  // namespace qs
