#pragma once
// Writes an MLX-layout checkpoint (as mlx_lm.convert makes: packed affine .weight/.scales/.biases, experts
// stacked into switch_mlp, kv_b_proj split into embed_q/unembed_out, a "quantization" block in config.json)
// from an HF checkpoint, quantizing module by module according to a Recipe. It streams: at most one
// expert's matrix is held in memory at a time.
#include <cstdint>
#include <string>
#include <vector>

#include "quant/recipe.h"

namespace glmq {

struct ComponentSize {
  std::string component;  // embedding, attention, indexer, routed experts, ...
  std::int64_t params = 0;
  std::uint64_t bytes = 0;
  std::string types;      // the storage types used, e.g. "affine3 g64"
};

struct QuantizeSummary {
  std::vector<ComponentSize> components;
  std::int64_t total_params = 0;
  std::uint64_t total_bytes = 0;
  int shards = 0;
  double bits_per_weight() const { return total_params ? 8.0 * static_cast<double>(total_bytes) / static_cast<double>(total_params) : 0; }
};

struct MlxWriteOptions {
  std::uint64_t max_shard_bytes = 5'000'000'000ull;  // mlx-lm's 5 GB
};

QuantizeSummary write_mlx_checkpoint(const std::string& hf_dir, const std::string& out_dir, const Recipe& recipe,
                                     const MlxWriteOptions& options = {});

}  // namespace glmq
