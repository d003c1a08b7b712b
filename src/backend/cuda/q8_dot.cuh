#pragma once
// The int8 decode-path core: a group of LANES lanes computes R row·x dot products over units [begin, end) of
// the rows (units of 32 weights, q8_units.cuh). Each lane takes units begin + lane, begin + lane + LANES, …;
// per step it issues the loads of NB units of all R rows before decoding any (bytes in flight hide the
// memory latency). Activations come from global memory (a few KB, L1-resident; the weights bypass L1):
// with SHARED_X all rows multiply one activation row, decoded once per unit; otherwise row k has its own.
// The first step's weight loads are issued before wait_for_inputs (dependent_launch.cuh): they are in flight
// while the previous kernel finishes; the activations are read after it. A lane without units does not wait
// here, so the caller waits again before its stores.
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/q8_units.cuh"

namespace glmq::cuda {

constexpr int kQ8Threads = 128;

template <int LANES>
__device__ __forceinline__ float lanes_sum(float v) {
#pragma unroll
  for (int o = LANES / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Per-lane partial sums (acc[k] += …); the caller reduces over the group with lanes_sum.
template <int KIND, int LANES, int R, int NB, bool SHARED_X>
__device__ __forceinline__ void q8_rows_dot(const typename Q8Unit<KIND>::Row (&row)[R],
                                            const Q8Row (&x)[SHARED_X ? 1 : R], int begin, int end,
                                            const Q8Codebook& cb, float (&acc)[R]) {
  using U = Q8Unit<KIND>;
  const int lane = static_cast<int>(threadIdx.x & (LANES - 1));
  for (int u0 = begin + lane; u0 < end; u0 += LANES * NB) {
    typename U::Raw raw[NB][R];
#pragma unroll
    for (int j = 0; j < NB; ++j) {
      const int u = u0 + j * LANES;
      if (u < end) {
#pragma unroll
        for (int k = 0; k < R; ++k) U::load(row[k], u, raw[j][k]);
      }
    }
    if (u0 == begin + lane) wait_for_inputs();
#pragma unroll
    for (int j = 0; j < NB; ++j) {
      const int u = u0 + j * LANES;
      if (u < end) {
        if constexpr (SHARED_X) {
          Q8Block b;
          load_q8_block(x[0], u, b);
          Q8Prepared p;
          U::prep(b, p);
#pragma unroll
          for (int k = 0; k < R; ++k) acc[k] += U::dot(raw[j][k], p, cb);
        } else {
#pragma unroll
          for (int k = 0; k < R; ++k) {
            Q8Block b;
            load_q8_block(x[k], u, b);
            Q8Prepared p;
            U::prep(b, p);
            acc[k] += U::dot(raw[j][k], p, cb);
          }
        }
      }
    }
  }
}

// Shared memory of the int8 kernels' codebook (IQ2_S / IQ2_XXS / IQ3_S grids), and its staging; IQ4_NL and
// IQ4_XS levels go to registers.
template <int KIND>
constexpr std::size_t q8_codebook_smem_bytes() {
  if constexpr (KIND == kind_of(WeightType::IQ2_S)) return 1024 * sizeof(std::uint64_t);
  if constexpr (KIND == kind_of(WeightType::IQ2_XXS)) return 256 * sizeof(std::uint64_t);
  if constexpr (KIND == kind_of(WeightType::IQ3_S)) return 512 * sizeof(std::uint32_t);
  return 0;
}
template <int KIND>
__device__ __forceinline__ Q8Codebook stage_q8_codebook(const DeviceWeight& w, void* smem) {
  Q8Codebook cb;
  if constexpr (KIND == kind_of(WeightType::IQ2_S) || KIND == kind_of(WeightType::IQ2_XXS)) {
    constexpr unsigned kEntries = KIND == kind_of(WeightType::IQ2_S) ? 1024 : 256;
    auto* grid = static_cast<unsigned long long*>(smem);
    for (unsigned i = threadIdx.x; i < kEntries; i += blockDim.x)
      grid[i] = __ldg(reinterpret_cast<const unsigned long long*>(w.codebook) + i);
    __syncthreads();
    cb.grid = reinterpret_cast<const std::uint64_t*>(grid);
  } else if constexpr (KIND == kind_of(WeightType::IQ3_S)) {
    auto* grid = static_cast<unsigned*>(smem);
    for (unsigned i = threadIdx.x; i < 512; i += blockDim.x) grid[i] = __ldg(reinterpret_cast<const unsigned*>(w.codebook) + i);
    __syncthreads();
    cb.grid4 = reinterpret_cast<const std::uint32_t*>(grid);
  } else if constexpr (KIND == kind_of(WeightType::IQ4_NL) || KIND == kind_of(WeightType::IQ4_XS)) {
#pragma unroll
    for (int i = 0; i < 4; ++i) cb.nl[i] = __ldg(reinterpret_cast<const std::uint32_t*>(w.codebook) + i);
  }
  return cb;
}

// Quantizes 32 floats held one per lane of a warp into an int8 block (lane i writes code i); lane 0
// writes the block's {d, Σx}. All 32 lanes must call it.
__device__ __forceinline__ void quantize_block_warp(float v, std::int8_t* q, float2* ds) {
  float amax = fabsf(v), sum = v;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    sum += __shfl_xor_sync(0xffffffffu, sum, o);
  }
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  q[threadIdx.x & 31] = static_cast<std::int8_t>(__float2int_rn(v * inv));
  if ((threadIdx.x & 31) == 0) *ds = make_float2(amax / 127.0f, sum);
}

}  // namespace glmq::cuda
