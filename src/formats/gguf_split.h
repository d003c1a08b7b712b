#pragma once
// Split GGUF output as llama-gguf-split --split-max-size N --no-tensor-first-split writes it (shared/docs/quant_gguf.md
// §2): shard 1 holds the metadata (and tokenizer) and no tensors; the tensors follow in order, a new shard starting
// when the next tensor's padded bytes would take the running total past N. Every shard carries split.no (u16,
// 0-based), split.count (u16) and split.tensors.count (i32); only the first carries the model's metadata.
#include <cstdint>
#include <string>
#include <vector>

#include "formats/gguf_writer.h"

namespace glmq {

// gguf-split's size argument: a positive integer followed by M (10^6 bytes) or G (10^9 bytes), e.g. "30G".
std::uint64_t parse_gguf_split_size(const std::string& text);

struct GgufSplitPlan {
  int shards = 1;
  std::vector<int> shard_of;  // per tensor, 0-based; never 0 when the first shard is metadata-only
};

// `tensor_bytes` are the tensors' data sizes in file order; max_bytes 0 means one file holding everything.
// A tensor larger than max_bytes gets a shard of its own (gguf-split would refuse).
GgufSplitPlan plan_gguf_split(const std::vector<std::uint64_t>& tensor_bytes, std::uint64_t max_bytes);

// The three split.* keys of shard `index` of `count`.
void add_gguf_split_keys(GgufMetadata& metadata, int index, int count, std::int64_t total_tensors);

// "<out without .gguf>-0000N-of-0000M.gguf" for each shard, or `out` itself for one file.
std::vector<std::string> gguf_split_paths(const std::string& out, int shards);

}  // namespace glmq
