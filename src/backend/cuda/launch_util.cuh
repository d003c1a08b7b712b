#pragma once
// Grid-size helpers shared by the kernel files.
#include <algorithm>
#include <cstdint>

namespace glmq::cuda {

constexpr int kThreads = 256;

// Blocks for `count` items at `per_block` items each, capped so grid-stride loops cover the rest.
inline unsigned grid_for(std::int64_t count, std::int64_t per_block = kThreads, std::int64_t cap = 1 << 16) {
  return static_cast<unsigned>(std::clamp<std::int64_t>((count + per_block - 1) / per_block, 1, cap));
}

}  // namespace glmq::cuda
