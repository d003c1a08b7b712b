#include "formats/gguf_split.h"

#include <charconv>

#include "core/error.h"
#include "formats/gguf_file.h"
#include "formats/gguf_shards.h"

namespace glmq {

std::uint64_t parse_gguf_split_size(const std::string& text) {
  std::uint64_t n = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, n);
  std::uint64_t unit = 0;
  if (ptr + 1 == end && *ptr == 'M') unit = 1000ull * 1000;
  if (ptr + 1 == end && *ptr == 'G') unit = 1000ull * 1000 * 1000;
  if (ec != std::errc() || ptr == text.data() || unit == 0 || n == 0 || n > UINT64_MAX / unit)
    fail(ErrorKind::InvalidArgument, "--split-max-size '" + text + "': expected a positive number followed by M or G (e.g. 30G)");
  return n * unit;
}

GgufSplitPlan plan_gguf_split(const std::vector<std::uint64_t>& tensor_bytes, std::uint64_t max_bytes) {
  GgufSplitPlan plan;
  if (max_bytes == 0) {
    plan.shard_of.assign(tensor_bytes.size(), 0);
    return plan;
  }
  // Shard 0 is metadata only; tensors start in shard 1.
  int shard = 1;
  std::uint64_t used = 0;
  bool empty = true;
  for (std::uint64_t bytes : tensor_bytes) {
    const std::uint64_t padded = (bytes + kGgufDefaultAlignment - 1) / kGgufDefaultAlignment * kGgufDefaultAlignment;
    if (!empty && used + padded > max_bytes) {
      ++shard;
      used = 0;
    }
    used += padded;
    empty = false;
    plan.shard_of.push_back(shard);
  }
  plan.shards = shard + 1;
  return plan;
}

void add_gguf_split_keys(GgufMetadata& metadata, int index, int count, std::int64_t total_tensors) {
  metadata.emplace_back("split.no", GgufValue::u16(static_cast<std::uint16_t>(index)));
  metadata.emplace_back("split.count", GgufValue::u16(static_cast<std::uint16_t>(count)));
  metadata.emplace_back("split.tensors.count", GgufValue::i32(static_cast<std::int32_t>(total_tensors)));
}

std::vector<std::string> gguf_split_paths(const std::string& out, int shards) {
  if (shards <= 1) return {out};
  if (shards > 65535) fail(ErrorKind::InvalidArgument, "a split GGUF has at most 65535 shards (split.count is u16); raise --split-max-size");
  const std::string prefix = out.size() > 5 && out.compare(out.size() - 5, 5, ".gguf") == 0 ? out.substr(0, out.size() - 5) : out;
  std::vector<std::string> paths;
  for (int s = 0; s < shards; ++s) paths.push_back(gguf_shard_path(prefix, s, shards));
  return paths;
}

}  // namespace glmq
