// SwiGLU over routed experts for few tokens: one launch computes silu(gate·x) ⊙ up·x for every
// (token, expert) slot, reading each routed expert's rows once; a second applies down and the routing
// weight. Expert ids are read on the device, so routing needs no host round trip (CUDA-graph safe).
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch_util.cuh"
#include "backend/cuda/weight_decode.cuh"

namespace glmq::cuda {

int blocks_per_sm(std::size_t smem);

namespace {

__device__ __forceinline__ std::int32_t slot_expert(const GroupedSwigluArgs& a, std::int64_t slot) {
  return a.expert_ids ? a.expert_ids[slot] : 0;
}

template <int KIND>
__global__ void __launch_bounds__(kThreads) gate_up_kernel(GroupedSwigluArgs a) {
  extern __shared__ float smem[];
  const std::int64_t slot = blockIdx.y;
  const DeviceSwiglu& e = a.table[slot_expert(a, slot)];
  const DeviceWeight gate = e.gate, up = e.up;
  float* xs = smem;
  float* csum = smem + padded_length(gate.cols);
  stage_activations<KIND>(a.x + (slot / a.top_k) * gate.cols, gate.cols, xs, csum);
  const std::int64_t warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  float* h = a.h + slot * gate.rows;
  for (std::int64_t r = blockIdx.x * warps + warp; r < gate.rows; r += static_cast<std::int64_t>(gridDim.x) * warps) {
    const DeviceWeight* mats[2] = {&gate, &up};
    const std::int64_t rows[2] = {r, r};
    float out[2];
    warp_rows_dot<KIND, 2>(mats, rows, xs, csum, out);
    if ((threadIdx.x & 31) == 0) h[r] = out[0] / (1.0f + expf(-out[0])) * out[1];
  }
}

template <int KIND>
__global__ void __launch_bounds__(kThreads) down_kernel(GroupedSwigluArgs a) {
  extern __shared__ float smem[];
  const std::int64_t slot = blockIdx.y;
  const DeviceWeight down = a.table[slot_expert(a, slot)].down;
  float* xs = smem;
  float* csum = smem + padded_length(down.cols);
  stage_activations<KIND>(a.h + slot * down.cols, down.cols, xs, csum);
  const float weight = a.slot_weights ? a.slot_weights[slot] : 1.0f;
  const std::int64_t warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  float* y = a.y + slot * down.rows;
  for (std::int64_t r0 = (blockIdx.x * warps + warp) * 2; r0 < down.rows; r0 += static_cast<std::int64_t>(gridDim.x) * warps * 2) {
    const DeviceWeight* mats[2] = {&down, &down};
    const std::int64_t rows[2] = {r0, min(r0 + 1, down.rows - 1)};
    float out[2];
    warp_rows_dot<KIND, 2>(mats, rows, xs, csum, out);
    if ((threadIdx.x & 31) == 0) {
      y[r0] = weight * out[0];
      if (r0 + 1 < down.rows) y[r0 + 1] = weight * out[1];
    }
  }
}

__global__ void sum_slots_kernel(const float* y, std::int64_t n_tokens, std::int64_t top_k, std::int64_t width, float* out) {
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n_tokens * width;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t t = i / width, c = i % width;
    float acc = out[i];
    for (std::int64_t k = 0; k < top_k; ++k) acc += y[(t * top_k + k) * width + c];
    out[i] = acc;
  }
}

}  // namespace

void launch_grouped_swiglu(const GroupedSwigluArgs& a, int sm_count, cudaStream_t s) {
  if (a.n_slots <= 0) return;
  const DeviceWeight& gate = a.probe.gate;
  const DeviceWeight& down = a.probe.down;
  const std::int64_t warps = kThreads / 32;
  {
    const std::size_t smem = staged_bytes(gate.cols);
    const std::int64_t want = std::max<std::int64_t>(1, sm_count * blocks_per_sm(smem) / a.n_slots);
    const dim3 grid(grid_for(gate.rows, warps, want), static_cast<unsigned>(a.n_slots));
    dispatch_kind(gate, [&](auto kind) {
      auto kernel = gate_up_kernel<decltype(kind)::value>;
      check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)),
            "gate_up shared memory");
      kernel<<<grid, kThreads, smem, s>>>(a);
      check_launch("grouped gate_up");
    });
  }
  {
    const std::size_t smem = staged_bytes(down.cols);
    const std::int64_t want = std::max<std::int64_t>(1, sm_count * blocks_per_sm(smem) / a.n_slots);
    const dim3 grid(grid_for(down.rows, warps * 2, want), static_cast<unsigned>(a.n_slots));
    dispatch_kind(down, [&](auto kind) {
      auto kernel = down_kernel<decltype(kind)::value>;
      check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)),
            "down shared memory");
      kernel<<<grid, kThreads, smem, s>>>(a);
      check_launch("grouped down");
    });
  }
}

void launch_sum_slots(const float* y, std::int64_t n_tokens, std::int64_t top_k, std::int64_t width, float* out,
                      cudaStream_t s) {
  if (n_tokens * width <= 0) return;
  sum_slots_kernel<<<grid_for(n_tokens * width), kThreads, 0, s>>>(y, n_tokens, top_k, width, out);
  check_launch("sum_slots");
}

}  // namespace glmq::cuda
