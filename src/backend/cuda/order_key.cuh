#pragma once
// Floats as unsigned keys in their order, for the top-k selections (routing, the indexer) that compare keys
// with integer warp reductions and radix histograms.
#include <cstdint>

namespace glmq::cuda {

// Larger float → larger key; −0 keys as +0 (they tie, as floats compare), and every key is above 0 but NaN's:
// key 0 is below every value, −inf included, so callers may also use it to mark entries taken or absent.
__device__ __forceinline__ std::uint32_t order_key(float v) {
  if (v != v) return 0u;
  const std::uint32_t u = __float_as_uint(v + 0.0f);
  return (u & 0x80000000u) ? ~u : u | 0x80000000u;
}

}  // namespace glmq::cuda
