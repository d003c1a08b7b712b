#pragma once
// Grid-size helpers shared by the kernel files.
#include <algorithm>
#include <cstdint>

#include <cuda_bf16.h>

namespace glmq::cuda {

constexpr int kThreads = 256;

// Blocks for `count` items at `per_block` items each, capped so grid-stride loops cover the rest.
inline unsigned grid_for(std::int64_t count, std::int64_t per_block = kThreads, std::int64_t cap = 1 << 16) {
  return static_cast<unsigned>(std::clamp<std::int64_t>((count + per_block - 1) / per_block, 1, cap));
}

// Matvec output i of y: a float, or for the kernels' BF16Y instantiations a bf16 rounded to nearest.
template <bool BF16Y>
__device__ __forceinline__ void store_matvec_y(float* y, std::int64_t i, float v) {
  if constexpr (BF16Y)
    reinterpret_cast<std::uint16_t*>(y)[i] = __bfloat16_as_ushort(__float2bfloat16(v));
  else
    y[i] = v;
}

}  // namespace glmq::cuda
