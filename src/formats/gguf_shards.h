#pragma once
// A GGUF model that may be split into shards `<prefix>-0000N-of-0000M.gguf` (quant_gguf.md §2): opening the first
// shard opens them all and checks split.no / split.count / split.tensors.count; tensors are then looked up by name
// across shards. Metadata comes from the first shard only, as llama.cpp reads it.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "formats/gguf_file.h"

namespace glmq {

// "<prefix>-00002-of-00009.gguf" for shard index 1 (0-based) of 9.
std::string gguf_shard_path(const std::string& prefix, int index, int count);

class GgufShards {
 public:
  // `path` is a single GGUF file or the first shard of a split model.
  explicit GgufShards(const std::string& path);

  const GgufFile& metadata_file() const { return *files_.front(); }
  const std::vector<std::unique_ptr<GgufFile>>& files() const { return files_; }
  const std::string& path() const { return path_; }

  const GgufTensor* find(const std::string& name) const;
  // Throws MissingTensor naming the model when absent. Marks the tensor as used.
  const GgufTensor& get(const std::string& name) const;
  std::vector<std::string> names() const;  // in shard and file order
  std::vector<std::string> unused_names() const;

 private:
  std::string path_;
  std::vector<std::unique_ptr<GgufFile>> files_;
  std::map<std::string, const GgufTensor*> by_name_;
  mutable std::set<std::string> used_;
};

}  // namespace glmq
