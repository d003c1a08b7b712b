// Fused dequantize + matrix-vector product for few tokens: each warp streams ROWS weight rows once,
// against activations staged once per block in shared memory; blocks loop over rows (grid-stride) so the
// staging cost is spread over many rows.
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch_util.cuh"
#include "backend/cuda/weight_decode.cuh"

namespace glmq::cuda {

namespace {

constexpr int kRowsPerWarp = 2;

template <int KIND>
__global__ void __launch_bounds__(kThreads) matvec_kernel(MatvecArgs a) {
  extern __shared__ float smem[];
  const DeviceWeight w = a.w;
  const std::int64_t t = blockIdx.y, seg = blockIdx.z;
  const std::int64_t rows_per_seg = w.rows / a.segments;
  float* xs = smem;
  float* csum = smem + padded_length(w.cols);
  stage_activations<KIND>(a.x + t * a.x_token_stride + seg * a.x_segment_stride, w.cols, xs, csum);
  const int lane = static_cast<int>(threadIdx.x & 31);
  const std::int64_t warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  float* y = a.y + t * a.y_token_stride + seg * rows_per_seg;
  for (std::int64_t r0 = (blockIdx.x * warps + warp) * kRowsPerWarp; r0 < rows_per_seg;
       r0 += static_cast<std::int64_t>(gridDim.x) * warps * kRowsPerWarp) {
    const DeviceWeight* mats[kRowsPerWarp];
    std::int64_t rows[kRowsPerWarp];
#pragma unroll
    for (int k = 0; k < kRowsPerWarp; ++k) {
      mats[k] = &w;
      rows[k] = seg * rows_per_seg + min(r0 + k, rows_per_seg - 1);
    }
    float out[kRowsPerWarp];
    warp_rows_dot<KIND, kRowsPerWarp>(mats, rows, xs, csum, out);
    if (lane == 0) {
#pragma unroll
      for (int k = 0; k < kRowsPerWarp; ++k)
        if (r0 + k < rows_per_seg) y[r0 + k] = out[k];
    }
  }
}

}  // namespace

// Blocks a multiprocessor can hold for a kernel of kThreads threads using `smem` bytes of shared memory.
int blocks_per_sm(std::size_t smem) {
  const std::size_t per_block = smem + 1024;  // the runtime reserves 1 KB per block
  return static_cast<int>(std::clamp<std::size_t>((227u * 1024u) / per_block, 1, 2048 / kThreads));
}

void launch_matvec(const MatvecArgs& a, int sm_count, cudaStream_t s) {
  if (a.n_tokens <= 0) return;
  const std::size_t smem = staged_bytes(a.w.cols);
  const std::int64_t rows_per_seg = a.w.rows / a.segments;
  const std::int64_t per_block = (kThreads / 32) * kRowsPerWarp;
  // Enough blocks to fill the chip once, spread over the (token, segment) pairs.
  const std::int64_t want = std::max<std::int64_t>(1, sm_count * blocks_per_sm(smem) / (a.n_tokens * a.segments));
  const dim3 grid(grid_for(rows_per_seg, per_block, want), static_cast<unsigned>(a.n_tokens),
                  static_cast<unsigned>(a.segments));
  dispatch_kind(a.w, [&](auto kind) {
    auto kernel = matvec_kernel<decltype(kind)::value>;
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)),
          "matvec shared memory");
    kernel<<<grid, kThreads, smem, s>>>(a);
    check_launch("matvec");
  });
}

}  // namespace glmq::cuda
