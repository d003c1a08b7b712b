#pragma once
// The fused dequantize+matvec core. A group of LANES lanes (a whole warp, or a quarter of one for short rows)
// computes R row·x dot products at once: each lane walks its share of the rows' units, issuing the loads of
// kBatch units of all R rows before decoding any (bytes in flight hide the memory latency), and decodes each
// unit's activations once for all R rows. Activations go through a small per-warp shared-memory stage (no
// block-wide barrier), so a block starts streaming weights at once.
#include <cstddef>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/row_units.cuh"

namespace glmq::cuda {

// Threads per block of the row kernels: small blocks, so the last wave of a launch leaves few SMs idle.
constexpr int kRowThreads = 128;

template <int LANES>
__device__ __forceinline__ float group_sum(float v) {
#pragma unroll
  for (int o = LANES / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Shared-memory bytes a kind's kernels use for its codebook.
template <int KIND>
constexpr std::size_t codebook_smem_bytes() {
  if constexpr (KIND == kind_of(WeightType::IQ4_NL) || KIND == kind_of(WeightType::IQ4_XS)) return 16 * sizeof(float);
  if constexpr (KIND == kind_of(WeightType::IQ2_S)) return 1024 * sizeof(std::uint64_t);
  if constexpr (KIND == kind_of(WeightType::IQ2_XXS)) return 256 * sizeof(std::uint64_t);
  if constexpr (KIND == kind_of(WeightType::IQ3_S)) return 512 * sizeof(std::uint32_t);
  return 0;
}

// Stages w's codebook in shared memory when its kind has one. Called by the whole block.
template <int KIND>
__device__ __forceinline__ Codebook stage_codebook(const DeviceWeight& w, void* smem) {
  Codebook cb;
  if constexpr (KIND == kind_of(WeightType::IQ4_NL) || KIND == kind_of(WeightType::IQ4_XS)) {
    auto* levels = static_cast<float*>(smem);
    if (threadIdx.x < 16) levels[threadIdx.x] = static_cast<float>(reinterpret_cast<const std::int8_t*>(w.codebook)[threadIdx.x]);
    __syncthreads();
    cb.levels = levels;
  } else if constexpr (KIND == kind_of(WeightType::IQ2_S) || KIND == kind_of(WeightType::IQ2_XXS)) {
    constexpr unsigned kEntries = KIND == kind_of(WeightType::IQ2_S) ? 1024 : 256;
    cb.grid = reinterpret_cast<const std::uint64_t*>(stage_words(static_cast<unsigned long long*>(smem), w.codebook, kEntries));
  } else if constexpr (KIND == kind_of(WeightType::IQ3_S)) {
    cb.grid4 = stage_words(static_cast<unsigned*>(smem), w.codebook, 512);
  }
  return cb;
}

// Floats of shared memory each warp uses to stage activations (kBatch ranges of 32 units, padded).
template <int KIND>
constexpr int stage_floats_per_warp() {
  using U = RowUnit<KIND>;
  if constexpr (!U::kStaged) return 0;
  return U::kBatch * 32 * U::kElems / 32 * 36;
}

// Dynamic shared memory of a row kernel: the codebook, then each warp's activation stage.
template <int KIND>
constexpr std::size_t row_kernel_smem_bytes() {
  return codebook_smem_bytes<KIND>() + static_cast<std::size_t>(kRowThreads / 32) * stage_floats_per_warp<KIND>() * sizeof(float);
}
template <int KIND>
__device__ __forceinline__ float* warp_stage(void* smem) {
  auto* base = reinterpret_cast<float*>(static_cast<char*>(smem) + codebook_smem_bytes<KIND>());
  return base + (threadIdx.x >> 5) * stage_floats_per_warp<KIND>();
}

// out[k] = units [begin, end) of row rows[k] of *mats[k] · x for k < R (begin < 0: the whole row), in every
// lane of the group. x: the row's activations
// (16-byte aligned unless KIND is generic); every matrix has mats[0]'s type and columns. stage: this warp's
// shared-memory stage (warp_stage). Each step the group copies the activations of its next LANES·kBatch
// units from global memory with coalesced 16-byte loads into the padded stage, so each lane then reads its
// own unit's activations without bank conflicts (reading them straight from global memory would make
// every 16-byte load of the warp touch 32 different cache lines). With WAIT_INPUTS the group calls
// wait_for_inputs (dependent_launch.cuh) once its first step's weight loads are issued, before it reads x: the
// weights stream while the kernel before finishes (a group with no units does not wait here; the caller waits
// again before it stores).
template <int KIND, int LANES, int R, bool WAIT_INPUTS = false>
__device__ __forceinline__ void group_rows_dot(const DeviceWeight* const (&mats)[R], const std::int64_t (&rows)[R],
                                               const float* x, const Codebook& cb, float* stage, float (&out)[R],
                                               int begin = -1, int end = -1) {
  using U = RowUnit<KIND>;
  // 32-bit unit and element indices (rows hold far fewer than 2^31 elements): cheaper index arithmetic.
  const int cols = static_cast<int>(mats[0]->cols);
  if (begin < 0) {
    begin = 0;
    end = cols / U::kElems;
  }
  const int units = end, limit = end * U::kElems;
  const int lane = static_cast<int>(threadIdx.x & (LANES - 1));
  const int sub = static_cast<int>((threadIdx.x & 31) / LANES);
  constexpr int kRange = LANES * U::kElems;            // activations of one step of the group
  constexpr int kRangePadded = kRange / 32 * 36;
  float acc[R];
  // Row pointers once, in registers: reading them through `mats` inside the loop would reload them after
  // every shared-memory store (the compiler cannot rule out aliasing).
  typename U::Row row[R];
#pragma unroll
  for (int k = 0; k < R; ++k) {
    acc[k] = 0.0f;
    row[k] = U::row(*mats[k], rows[k]);
  }
  // The loop runs the same steps in every lane of the warp (staging and __syncwarp need all of them).
  for (int step = begin; step < units; step += LANES * U::kBatch) {
    const int u0 = step + lane;
    typename U::Raw raw[U::kBatch][R];
#pragma unroll
    for (int j = 0; j < U::kBatch; ++j) {
      const int u = u0 + j * LANES;
      if (u < units) {
#pragma unroll
        for (int k = 0; k < R; ++k) U::load(row[k], u, raw[j][k]);
      }
    }
    if constexpr (WAIT_INPUTS) {
      if (step == begin) wait_for_inputs();
    }
    if constexpr (U::kStaged) {
      __syncwarp();  // the previous step's reads of the stage are done
#pragma unroll
      for (int j = 0; j < U::kBatch; ++j) {
        const int first = (step + j * LANES) * U::kElems;
        const int left = limit - first;
        const float4* src = reinterpret_cast<const float4*>(x + first);
        float* dst = stage + (j * (32 / LANES) + sub) * kRangePadded;
#pragma unroll
        for (int i = 0; i < kRange / 4 / LANES; ++i) {
          const int e = 4 * (lane + LANES * i);
          // A plain load: the activations may be written by the kernel before while this one starts
          // (dependent_launch.cuh), which the read-only path (__ldg) does not allow.
          if (e < left) *reinterpret_cast<float4*>(dst + e + (e >> 5) * 4) = src[lane + LANES * i];
        }
      }
      __syncwarp();
    }
#pragma unroll
    for (int j = 0; j < U::kBatch; ++j) {
      const int u = u0 + j * LANES;
      if (u < units) {
        typename U::X xv;
        if constexpr (U::kStaged) {
          U::load_x(stage + (j * (32 / LANES) + sub) * kRangePadded, lane, xv);
        } else {
          U::load_x(x, u, xv);
        }
#pragma unroll
        for (int k = 0; k < R; ++k) acc[k] += U::dot(raw[j][k], xv, cb);
      }
    }
  }
#pragma unroll
  for (int k = 0; k < R; ++k) out[k] = group_sum<LANES>(acc[k]);
}

// Lanes per row for rows of `cols` columns of kind KIND: a whole warp for long rows, 8 lanes for rows of
// few units (per-head attention matrices) so that lanes are not left idle.
template <int KIND>
constexpr int lanes_for_cols(std::int64_t cols) {
  return cols / RowUnit<KIND>::kElems >= 48 ? 32 : 8;
}

// Calls f(std::integral_constant<int, LANES>) for the lane count of rows of `cols` columns.
template <int KIND, typename F>
void dispatch_lanes(std::int64_t cols, F&& f) {
  if (lanes_for_cols<KIND>(cols) == 32) return f(std::integral_constant<int, 32>{});
  f(std::integral_constant<int, 8>{});
}

// Whether activations at x with these strides (floats) allow the 16-byte loads of the fast kernels.
inline bool activations_aligned(const float* x, std::int64_t stride_a, std::int64_t stride_b) {
  return reinterpret_cast<std::uintptr_t>(x) % 16 == 0 && stride_a % 4 == 0 && stride_b % 4 == 0;
}

}  // namespace glmq::cuda
