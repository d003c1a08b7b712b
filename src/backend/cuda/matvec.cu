// Fused dequantize + matrix-vector product for few tokens: groups of lanes stream R weight rows each
// (row_dot.cuh); blocks loop over row groups (grid-stride) over a grid sized to fill the chip once.
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/float_rows.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch_util.cuh"
#include "backend/cuda/row_dot.cuh"

namespace glmq::cuda {

namespace {

constexpr int kRowsPerGroup = 4;

// Block: kRowThreads / LANES lane groups; `split` consecutive groups share kRowsPerGroup rows and take one
// slice of their units each (split-K for matrices with few rows), partial sums reduced in shared memory.
template <int KIND, int LANES, bool BF16Y>
__global__ void __launch_bounds__(kRowThreads, 3) matvec_kernel(MatvecArgs a, int split) {
  allow_dependents();  // waits in group_rows_dot, once the first weight loads are in flight
  extern __shared__ unsigned long long smem[];
  __shared__ float partial[kRowThreads / LANES][kRowsPerGroup];
  const DeviceWeight& w = a.w;
  const Codebook cb = stage_codebook<KIND>(w, smem);
  constexpr int kGroups = kRowThreads / LANES;
  const int group = static_cast<int>(threadIdx.x) / LANES, slice = group % split;
  const int per_block = kGroups / split;
  const std::int64_t t = blockIdx.y;
  const std::int64_t rows_per_seg = w.rows / a.segments;
  const std::int64_t groups_per_seg = (rows_per_seg + kRowsPerGroup - 1) / kRowsPerGroup;
  const std::int64_t groups = groups_per_seg * a.segments;
  const int units = static_cast<int>(w.cols / RowUnit<KIND>::kElems);
  // Slices of whole staging steps (LANES·kBatch units), so every slice but the last stages full ranges.
  constexpr int kStep = LANES * RowUnit<KIND>::kBatch;
  const int per_slice = ((units + split - 1) / split + kStep - 1) / kStep * kStep;
  const int begin = min(units, slice * per_slice), end = min(units, begin + per_slice);
  const bool leader = (threadIdx.x & (LANES - 1)) == 0;
  // Every thread of the block runs the same iterations (the loop bound depends on the block only).
  for (std::int64_t g0 = static_cast<std::int64_t>(blockIdx.x) * per_block; g0 < groups;
       g0 += static_cast<std::int64_t>(gridDim.x) * per_block) {
    const std::int64_t gi = g0 + group / split;
    const std::int64_t g = min(gi, groups - 1);
    const std::int64_t seg = g / groups_per_seg, r0 = (g % groups_per_seg) * kRowsPerGroup;
    const DeviceWeight* mats[kRowsPerGroup];
    std::int64_t rows[kRowsPerGroup];
#pragma unroll
    for (int k = 0; k < kRowsPerGroup; ++k) {
      mats[k] = &w;
      rows[k] = seg * rows_per_seg + min(r0 + k, rows_per_seg - 1);
    }
    float out[kRowsPerGroup];
    group_rows_dot<KIND, LANES, kRowsPerGroup, true>(mats, rows, a.x + t * a.x_token_stride + seg * a.x_segment_stride,
                                                     cb, warp_stage<KIND>(smem), out, begin, end);
    wait_for_inputs();
    const std::int64_t y0 = t * a.y_token_stride + seg * rows_per_seg;
    if (split == 1) {
      if (leader && gi < groups) {
#pragma unroll
        for (int k = 0; k < kRowsPerGroup; ++k)
          if (r0 + k < rows_per_seg) store_matvec_y<BF16Y>(a.y, y0 + r0 + k, out[k]);
      }
      continue;
    }
    if (leader) {
#pragma unroll
      for (int k = 0; k < kRowsPerGroup; ++k) partial[group][k] = out[k];
    }
    __syncthreads();
    if (leader && slice == 0 && gi < groups) {
#pragma unroll
      for (int k = 0; k < kRowsPerGroup; ++k) {
        float sum = 0.0f;
        for (int i = 0; i < split; ++i) sum += partial[group + i][k];
        if (r0 + k < rows_per_seg) store_matvec_y<BF16Y>(a.y, y0 + r0 + k, sum);
      }
    }
    __syncthreads();
  }
}

constexpr int kFloatRowThreads = 256;

// Few rows of a float type (float_rows.cuh): a block per row and token.
template <bool BF16Y>
__global__ void __launch_bounds__(kFloatRowThreads) float_rows_kernel(MatvecArgs a) {
  allow_dependents();
  FloatRowPieces p;
  load_float_row(a.w, blockIdx.x, p);
  wait_for_inputs();
  const float sum = block_sum(float_row_dot(a.w, p, a.x + blockIdx.y * a.x_token_stride));
  if (threadIdx.x == 0) store_matvec_y<BF16Y>(a.y, blockIdx.y * a.y_token_stride + blockIdx.x, sum);
}

// Products of float-typed weights with at most this many rows (times tokens) take float_rows_kernel.
constexpr std::int64_t kFloatRowsMaxBlocks = 4096;

}  // namespace

bool float_rows_apply(const DeviceWeight& w, int threads) {
  const bool float_type = w.type == WeightType::F32 || w.type == WeightType::F16 || w.type == WeightType::BF16;
  if (!float_type) return false;
  const int per_piece = float_row_piece_values(w.type);
  return w.cols % per_piece == 0 && w.cols / per_piece <= std::int64_t{kFloatRowPieces} * threads && w.row_bytes % 16 == 0 &&
         reinterpret_cast<std::uintptr_t>(w.data) % 16 == 0;
}

unsigned row_group_grid(std::int64_t groups, int lanes, std::int64_t parallel, int sm_count) {
  const std::int64_t groups_per_block = (kRowThreads / 32) * (32 / lanes);
  // One group per warp up to a few waves of the chip (small blocks let the block scheduler balance the
  // multiprocessors); past that, grid-stride loops cover the rest.
  const std::int64_t cap = std::max<std::int64_t>(1, std::int64_t{sm_count} * 32 / parallel);
  return grid_for(groups, groups_per_block, cap);
}

void launch_matvec(const MatvecArgs& a, int sm_count, cudaStream_t s, bool bf16_y) {
  if (a.n_tokens <= 0) return;
  const std::int64_t rows_per_seg = a.w.rows / a.segments;
  const std::int64_t groups = (rows_per_seg + kRowsPerGroup - 1) / kRowsPerGroup * a.segments;
  DeviceWeight w = a.w;
  const bool aligned = activations_aligned(a.x, a.x_token_stride, a.x_segment_stride);
  if (aligned && a.segments == 1 && a.w.rows * a.n_tokens <= kFloatRowsMaxBlocks && float_rows_apply(a.w, kFloatRowThreads)) {
    const dim3 grid(static_cast<unsigned>(a.w.rows), static_cast<unsigned>(a.n_tokens));
    launch("matvec_float_rows", bf16_y ? float_rows_kernel<true> : float_rows_kernel<false>, grid, kFloatRowThreads, 0, s, a);
    return;
  }
  auto run = [&](auto kind) {
    constexpr int KIND = decltype(kind)::value;
    dispatch_lanes<KIND>(w.cols, [&](auto lanes) {
      constexpr int LANES = decltype(lanes)::value;
      // Few row groups (router, indexer head weights): split the columns over the warps of a block.
      constexpr int kGroups = kRowThreads / LANES;
      int split = 1;
      if (LANES == 32 && KIND != kGenericKind)
        while (split < kGroups && groups * a.n_tokens * split < std::int64_t{8} * sm_count) split *= 2;
      const std::int64_t per_block = kGroups / split;
      const std::int64_t cap = std::max<std::int64_t>(1, std::int64_t{sm_count} * 32 / a.n_tokens);
      const dim3 grid(grid_for(groups, per_block, cap), static_cast<unsigned>(a.n_tokens));
      launch("matvec", bf16_y ? matvec_kernel<KIND, LANES, true> : matvec_kernel<KIND, LANES, false>, grid,
             kRowThreads, row_kernel_smem_bytes<KIND>(), s, a, split);
    });
  };
  if (!aligned) return run(std::integral_constant<int, kGenericKind>{});
  dispatch_kind(w, run);
}

}  // namespace glmq::cuda
