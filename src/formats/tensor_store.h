#pragma once
// All tensors of a checkpoint, from one safetensors file or a sharded set with an index.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "formats/safetensors.h"

namespace glmq {

class TensorStore {
 public:
  // `dir` holds model.safetensors, or model.safetensors.index.json with its shards.
  static TensorStore open_hf_dir(const std::string& dir);

  bool contains(const std::string& name) const { return by_name_.count(name) != 0; }
  // Throws MissingTensor naming the checkpoint when absent. Marks the tensor as used.
  const TensorSource& get(const std::string& name) const;
  const TensorSource* find(const std::string& name) const;
  std::vector<std::string> names() const;
  std::vector<std::string> unused_names() const;
  const std::string& location() const { return location_; }

 private:
  std::string location_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorSource*> by_name_;
  mutable std::set<std::string> used_;
};

}  // namespace glmq
