#include "formats/gguf_shards.h"

#include <cstdio>
#include <filesystem>

#include "core/error.h"

namespace glmq {

std::string gguf_shard_path(const std::string& prefix, int index, int count) {
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, "-%05d-of-%05d.gguf", index + 1, count);
  return prefix + suffix;
}

namespace {
std::int64_t split_key(const GgufFile& f, const std::string& key, GgufType want) {
  const GgufValue& v = f.get(key);
  if (v.type() != want)
    fail(ErrorKind::Format, f.path() + ": '" + key + "' must be " + gguf_type_name(want) + ", found " + gguf_type_name(v.type()));
  return v.as_int(key);
}
}  // namespace

GgufShards::GgufShards(const std::string& path) : path_(path) {
  files_.push_back(std::make_unique<GgufFile>(path));
  const GgufFile& first = *files_.front();
  std::int64_t count = 1, total = -1;
  if (first.find("split.count")) {
    count = split_key(first, "split.count", GgufType::U16);
    total = split_key(first, "split.tensors.count", GgufType::I32);
    const std::int64_t no = split_key(first, "split.no", GgufType::U16);
    if (no != 0)
      fail(ErrorKind::InvalidArgument, path + ": this is shard " + std::to_string(no + 1) + " of " + std::to_string(count) +
                                           "; open the first shard (…-00001-of-" + std::to_string(count) + ".gguf)");
    if (count < 1) fail(ErrorKind::Format, path + ": split.count is " + std::to_string(count));
  }
  if (count > 1) {
    const std::string suffix = gguf_shard_path("", 0, static_cast<int>(count));
    if (path.size() < suffix.size() || path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0)
      fail(ErrorKind::InvalidArgument, path + ": split into " + std::to_string(count) + " shards, but the name does not end in '" +
                                           suffix + "', so the other shards cannot be found");
    const std::string prefix = path.substr(0, path.size() - suffix.size());
    for (int i = 1; i < count; ++i) {
      const std::string shard = gguf_shard_path(prefix, i, static_cast<int>(count));
      if (!std::filesystem::exists(shard))
        fail(ErrorKind::Io, path + ": shard " + std::to_string(i + 1) + " of " + std::to_string(count) + " is missing: " + shard);
      files_.push_back(std::make_unique<GgufFile>(shard));
      const GgufFile& f = *files_.back();
      if (split_key(f, "split.no", GgufType::U16) != i || split_key(f, "split.count", GgufType::U16) != count)
        fail(ErrorKind::Format, shard + ": split.no/split.count say shard " + std::to_string(f.get("split.no").as_int("split.no") + 1) +
                                    " of " + std::to_string(f.get("split.count").as_int("split.count")) + ", expected " +
                                    std::to_string(i + 1) + " of " + std::to_string(count));
    }
  }
  for (const auto& f : files_)
    for (const auto& t : f->tensors()) {
      if (!by_name_.emplace(t.name, &t).second)
        fail(ErrorKind::Format, f->path() + ": tensor '" + t.name + "' is also in an earlier shard");
    }
  if (total >= 0 && static_cast<std::int64_t>(by_name_.size()) != total)
    fail(ErrorKind::Format, path + ": split.tensors.count says " + std::to_string(total) + " tensors, the " + std::to_string(count) +
                                " shards hold " + std::to_string(by_name_.size()));
}

const GgufTensor* GgufShards::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

const GgufTensor& GgufShards::get(const std::string& name) const {
  const GgufTensor* t = find(name);
  if (!t) fail(ErrorKind::MissingTensor, path_ + ": tensor '" + name + "' not found");
  used_.insert(name);
  return *t;
}

std::vector<std::string> GgufShards::names() const {
  std::vector<std::string> out;
  for (const auto& f : files_)
    for (const auto& t : f->tensors()) out.push_back(t.name);
  return out;
}

std::vector<std::string> GgufShards::unused_names() const {
  std::vector<std::string> out;
  for (const auto& n : names())
    if (!used_.count(n)) out.push_back(n);
  return out;
}

}  // namespace glmq
