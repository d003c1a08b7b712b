#pragma once
// Rows of float-typed weights (F32, F16, BF16) against float activations, one row per block: each thread takes
// 16-byte pieces tid, tid + blockDim.x, … of the row, all loaded at once (registers), then multiplies them. For
// products of few rows (the router: 256 × 6144 BF16; the indexer's 32 head weights), where row groups of 4 over
// a block's warps left most of the chip idle and each warp's loads in rounds.
#include <cuda_fp16.h>

#include <cstdint>

#include "backend/cuda/device_weight.h"
#include "backend/cuda/weight_decode.cuh"

namespace glmq::cuda {

// Pieces per thread: rows of up to kFloatRowPieces · 16 bytes · blockDim.x.
constexpr int kFloatRowPieces = 4;

__host__ __device__ constexpr int float_row_piece_values(WeightType t) { return t == WeightType::F32 ? 4 : 8; }

struct FloatRowPieces {
  uint4 q[kFloatRowPieces];
};

// This thread's pieces of row r (weights never change: may be loaded before wait_for_inputs).
__device__ __forceinline__ void load_float_row(const DeviceWeight& w, std::int64_t r, FloatRowPieces& p) {
  const uint4* row = reinterpret_cast<const uint4*>(w.data + r * w.row_bytes);
  const int pieces = static_cast<int>(w.cols) / float_row_piece_values(w.type);
#pragma unroll
  for (int k = 0; k < kFloatRowPieces; ++k) {
    const int i = static_cast<int>(threadIdx.x) + k * static_cast<int>(blockDim.x);
    p.q[k] = i < pieces ? __ldg(row + i) : make_uint4(0, 0, 0, 0);
  }
}

__device__ __forceinline__ float half_pair_dot(std::uint32_t h, float a, float b, WeightType t) {
  if (t == WeightType::BF16) return __uint_as_float(h << 16) * a + __uint_as_float(h & 0xFFFF0000u) * b;
  return f16_bits_to_float(h & 0xFFFFu) * a + f16_bits_to_float(h >> 16) * b;
}

// This thread's part of row · x (x 16-byte aligned); the caller sums over the block.
__device__ __forceinline__ float float_row_dot(const DeviceWeight& w, const FloatRowPieces& p, const float* x) {
  const float4* x4 = reinterpret_cast<const float4*>(x);
  const int per_piece = float_row_piece_values(w.type), pieces = static_cast<int>(w.cols) / per_piece;
  float sum = 0.0f;
#pragma unroll
  for (int k = 0; k < kFloatRowPieces; ++k) {
    const int i = static_cast<int>(threadIdx.x) + k * static_cast<int>(blockDim.x);
    if (i >= pieces) break;
    const uint4 q = p.q[k];
    if (w.type == WeightType::F32) {
      const float4 v = x4[i];
      sum += __uint_as_float(q.x) * v.x + __uint_as_float(q.y) * v.y + __uint_as_float(q.z) * v.z + __uint_as_float(q.w) * v.w;
    } else {
      const float4 v0 = x4[2 * i], v1 = x4[2 * i + 1];
      sum += half_pair_dot(q.x, v0.x, v0.y, w.type) + half_pair_dot(q.y, v0.z, v0.w, w.type) +
             half_pair_dot(q.z, v1.x, v1.y, w.type) + half_pair_dot(q.w, v1.z, v1.w, w.type);
    }
  }
  return sum;
}

}  // namespace glmq::cuda
