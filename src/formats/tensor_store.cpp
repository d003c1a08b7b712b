#include "formats/tensor_store.h"

#include <filesystem>

#include "core/error.h"
#include "core/json_file.h"

namespace glmq {

namespace fs = std::filesystem;

TensorStore TensorStore::open_hf_dir(const std::string& dir) {
  TensorStore store;
  store.location_ = dir;
  const fs::path root(dir);
  const fs::path single = root / "model.safetensors";
  const fs::path index = root / "model.safetensors.index.json";
  std::map<std::string, std::string> expected_file;  // tensor → shard, from the index
  if (fs::exists(index)) {
    Json j = read_json_file(index.string());
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      fail(ErrorKind::Format, index.string() + ": expected an object with a 'weight_map' object");
    std::set<std::string> shards;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string()) fail(ErrorKind::Format, index.string() + ": weight_map['" + it.key() + "'] is not a file name");
      const std::string shard = it.value().get<std::string>();
      if (shard.find('/') != std::string::npos || shard == "..")
        fail(ErrorKind::Format, index.string() + ": shard name '" + shard + "' must be a plain file name");
      shards.insert(shard);
      expected_file[it.key()] = shard;
    }
    for (const auto& shard : shards) store.files_.push_back(std::make_unique<SafetensorsFile>((root / shard).string()));
  } else if (fs::exists(single)) {
    store.files_.push_back(std::make_unique<SafetensorsFile>(single.string()));
  } else {
    fail(ErrorKind::Io, dir + ": no model.safetensors or model.safetensors.index.json");
  }
  for (const auto& f : store.files_) {
    for (const auto& t : f->tensors()) {
      if (store.by_name_.count(t.name))
        fail(ErrorKind::Format, t.file + ": tensor '" + t.name + "' also appears in " + store.by_name_[t.name]->file);
      store.by_name_[t.name] = &t;
    }
  }
  for (const auto& [name, shard] : expected_file) {
    auto it = store.by_name_.find(name);
    if (it == store.by_name_.end())
      fail(ErrorKind::MissingTensor, index.string() + ": lists '" + name + "' in " + shard + ", which does not hold it");
    if (fs::path(it->second->file).filename() != shard)
      fail(ErrorKind::Format, index.string() + ": lists '" + name + "' in " + shard + ", found in " + it->second->file);
  }
  return store;
}

const TensorSource* TensorStore::find(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return nullptr;
  used_.insert(name);
  return it->second;
}

const TensorSource& TensorStore::get(const std::string& name) const {
  const TensorSource* t = find(name);
  if (!t) fail(ErrorKind::MissingTensor, location_ + ": tensor '" + name + "' not found");
  return *t;
}

std::vector<std::string> TensorStore::names() const {
  std::vector<std::string> out;
  for (const auto& [name, t] : by_name_) out.push_back(name);
  return out;
}

std::vector<std::string> TensorStore::unused_names() const {
  std::vector<std::string> out;
  for (const auto& [name, t] : by_name_)
    if (!used_.count(name)) out.push_back(name);
  return out;
}

}  // namespace glmq
