// Fused dequantize + matrix-vector product for few tokens: groups of lanes stream R weight rows each
// (row_dot.cuh); blocks loop over row groups (grid-stride) over a grid sized to fill the chip once.
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch_util.cuh"
#include "backend/cuda/row_dot.cuh"

namespace glmq::cuda {

namespace {

constexpr int kRowsPerGroup = 4;

template <int KIND, int LANES>
__global__ void __launch_bounds__(kRowThreads, 3) matvec_kernel(MatvecArgs a) {
  extern __shared__ unsigned long long smem[];
  const DeviceWeight& w = a.w;
  const Codebook cb = stage_codebook<KIND>(w, smem);
  constexpr int kGroupsPerWarp = 32 / LANES;
  const std::int64_t t = blockIdx.y;
  const std::int64_t rows_per_seg = w.rows / a.segments;
  const std::int64_t groups_per_seg = (rows_per_seg + kRowsPerGroup - 1) / kRowsPerGroup;
  const std::int64_t groups = groups_per_seg * a.segments;
  const std::int64_t warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  const int sub = static_cast<int>((threadIdx.x & 31) / LANES);
  const bool leader = (threadIdx.x & (LANES - 1)) == 0;
  // The loop runs per warp (all its lanes together, for the shuffles); groups past the end redo the last.
  for (std::int64_t g0 = (blockIdx.x * warps + warp) * kGroupsPerWarp; g0 < groups;
       g0 += static_cast<std::int64_t>(gridDim.x) * warps * kGroupsPerWarp) {
    const std::int64_t g = min(g0 + sub, groups - 1);
    const std::int64_t seg = g / groups_per_seg, r0 = (g % groups_per_seg) * kRowsPerGroup;
    const DeviceWeight* mats[kRowsPerGroup];
    std::int64_t rows[kRowsPerGroup];
#pragma unroll
    for (int k = 0; k < kRowsPerGroup; ++k) {
      mats[k] = &w;
      rows[k] = seg * rows_per_seg + min(r0 + k, rows_per_seg - 1);
    }
    float out[kRowsPerGroup];
    group_rows_dot<KIND, LANES, kRowsPerGroup>(mats, rows, a.x + t * a.x_token_stride + seg * a.x_segment_stride, cb,
                                               warp_stage<KIND>(smem), out);
    if (leader && g0 + sub < groups) {
      float* y = a.y + t * a.y_token_stride + seg * rows_per_seg;
#pragma unroll
      for (int k = 0; k < kRowsPerGroup; ++k)
        if (r0 + k < rows_per_seg) y[r0 + k] = out[k];
    }
  }
}

}  // namespace

unsigned row_group_grid(std::int64_t groups, int lanes, std::int64_t parallel, int sm_count) {
  const std::int64_t groups_per_block = (kRowThreads / 32) * (32 / lanes);
  // One group per warp up to a few waves of the chip (small blocks let the block scheduler balance the
  // multiprocessors); past that, grid-stride loops cover the rest.
  const std::int64_t cap = std::max<std::int64_t>(1, std::int64_t{sm_count} * 32 / parallel);
  return grid_for(groups, groups_per_block, cap);
}

void launch_matvec(const MatvecArgs& a, int sm_count, cudaStream_t s) {
  if (a.n_tokens <= 0) return;
  const std::int64_t rows_per_seg = a.w.rows / a.segments;
  const std::int64_t groups = (rows_per_seg + kRowsPerGroup - 1) / kRowsPerGroup * a.segments;
  DeviceWeight w = a.w;
  const bool aligned = activations_aligned(a.x, a.x_token_stride, a.x_segment_stride);
  auto run = [&](auto kind) {
    constexpr int KIND = decltype(kind)::value;
    dispatch_lanes<KIND>(w.cols, [&](auto lanes) {
      constexpr int LANES = decltype(lanes)::value;
      const dim3 grid(row_group_grid(groups, LANES, a.n_tokens, sm_count), static_cast<unsigned>(a.n_tokens));
      matvec_kernel<KIND, LANES><<<grid, kRowThreads, row_kernel_smem_bytes<KIND>(), s>>>(a);
      check_launch("matvec");
    });
  };
  if (!aligned) return run(std::integral_constant<int, kGenericKind>{});
  dispatch_kind(w, run);
}

}  // namespace glmq::cuda
