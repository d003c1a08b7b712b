// SwiGLU over routed experts for few tokens: one launch computes silu(gate·x) ⊙ up·x for every
// (token, expert) slot, reading each routed expert's rows once; a second applies down and the routing
// weight. Expert ids are read on the device, so routing needs no host round trip (CUDA-graph safe).
// Both launches spread every slot's row groups over one grid (row_dot.cuh), so all multiprocessors stream
// weights whatever the number of slots.
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch_util.cuh"
#include "backend/cuda/row_dot.cuh"

namespace glmq::cuda {

unsigned row_group_grid(std::int64_t groups, int lanes, std::int64_t parallel, int sm_count);

namespace {

// gate_up: each group takes one row of gate and the same row of up; down: 2 rows. Few rows per group keep
// registers low, so many warps stay resident: expert matrices are decode-bound, and latency needs hiding.
constexpr int kGateUpRows = 1, kDownRows = 2;

__device__ __forceinline__ std::int32_t slot_expert(const GroupedSwigluArgs& a, std::int64_t slot) {
  return a.expert_ids ? a.expert_ids[slot] : 0;
}

template <int KIND, int LANES>
__global__ void __launch_bounds__(kRowThreads, 3) gate_up_kernel(GroupedSwigluArgs a) {
  begin_dependent_kernel();
  extern __shared__ unsigned long long smem[];
  const Codebook cb = stage_codebook<KIND>(a.probe.gate, smem);
  const std::int64_t rows = a.probe.gate.rows, cols = a.probe.gate.cols;
  const std::int64_t groups_per_slot = (rows + kGateUpRows - 1) / kGateUpRows;
  const std::int64_t groups = groups_per_slot * a.n_slots;
  constexpr int kGroupsPerWarp = 32 / LANES;
  const std::int64_t warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  const int sub = static_cast<int>((threadIdx.x & 31) / LANES);
  const bool leader = (threadIdx.x & (LANES - 1)) == 0;
  for (std::int64_t g0 = (blockIdx.x * warps + warp) * kGroupsPerWarp; g0 < groups;
       g0 += static_cast<std::int64_t>(gridDim.x) * warps * kGroupsPerWarp) {
    const std::int64_t g = min(g0 + sub, groups - 1);
    const std::int64_t slot = g / groups_per_slot, r0 = (g % groups_per_slot) * kGateUpRows;
    const DeviceSwiglu& e = a.table[slot_expert(a, slot)];
    const DeviceWeight* mats[2] = {&e.gate, &e.up};
    const std::int64_t rs[2] = {r0, r0};
    float out[2];
    group_rows_dot<KIND, LANES, 2>(mats, rs, a.x + (slot / a.top_k) * cols, cb, warp_stage<KIND>(smem), out);
    if (leader && g0 + sub < groups) a.h[slot * rows + r0] = out[0] / (1.0f + expf(-out[0])) * out[1];
  }
}

template <int KIND, int LANES>
__global__ void __launch_bounds__(kRowThreads, 3) down_kernel(GroupedSwigluArgs a) {
  begin_dependent_kernel();
  extern __shared__ unsigned long long smem[];
  const Codebook cb = stage_codebook<KIND>(a.probe.down, smem);
  const std::int64_t rows = a.probe.down.rows, cols = a.probe.down.cols;
  const std::int64_t groups_per_slot = (rows + kDownRows - 1) / kDownRows;
  const std::int64_t groups = groups_per_slot * a.n_slots;
  constexpr int kGroupsPerWarp = 32 / LANES;
  const std::int64_t warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  const int sub = static_cast<int>((threadIdx.x & 31) / LANES);
  const bool leader = (threadIdx.x & (LANES - 1)) == 0;
  for (std::int64_t g0 = (blockIdx.x * warps + warp) * kGroupsPerWarp; g0 < groups;
       g0 += static_cast<std::int64_t>(gridDim.x) * warps * kGroupsPerWarp) {
    const std::int64_t g = min(g0 + sub, groups - 1);
    const std::int64_t slot = g / groups_per_slot, r0 = (g % groups_per_slot) * kDownRows;
    const DeviceWeight& down = a.table[slot_expert(a, slot)].down;
    const DeviceWeight* mats[kDownRows];
    std::int64_t rs[kDownRows];
#pragma unroll
    for (int k = 0; k < kDownRows; ++k) {
      mats[k] = &down;
      rs[k] = min(r0 + k, rows - 1);
    }
    float out[kDownRows];
    group_rows_dot<KIND, LANES, kDownRows>(mats, rs, a.h + slot * cols, cb, warp_stage<KIND>(smem), out);
    if (leader && g0 + sub < groups) {
      const float weight = a.slot_weights ? a.slot_weights[slot] : 1.0f;
      float* y = a.y + slot * rows;
#pragma unroll
      for (int k = 0; k < kDownRows; ++k)
        if (r0 + k < rows) y[r0 + k] = weight * out[k];
    }
  }
}

__global__ void sum_slots_kernel(const float* y, std::int64_t n_tokens, std::int64_t top_k, std::int64_t width, float* out) {
  begin_dependent_kernel();
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n_tokens * width;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t t = i / width, c = i % width;
    float acc = out[i];
    for (std::int64_t k = 0; k < top_k; ++k) acc += y[(t * top_k + k) * width + c];
    out[i] = acc;
  }
}

// Runs f(kind, lanes) for w's kernel instantiation reading activation rows of w.cols floats at x.
template <typename F>
void dispatch_rows(const DeviceWeight& w, const float* x, F&& f) {
  auto with_lanes = [&](auto kind) {
    dispatch_lanes<decltype(kind)::value>(w.cols, [&](auto lanes) { f(kind, lanes); });
  };
  if (!activations_aligned(x, w.cols, 0)) return with_lanes(std::integral_constant<int, kGenericKind>{});
  dispatch_kind(w, with_lanes);
}

}  // namespace

void launch_grouped_swiglu(const GroupedSwigluArgs& a, int sm_count, cudaStream_t s) {
  if (a.n_slots <= 0) return;
  const DeviceWeight& gate = a.probe.gate;
  const DeviceWeight& down = a.probe.down;
  dispatch_rows(gate, a.x, [&](auto kind, auto lanes) {
    constexpr int KIND = decltype(kind)::value, LANES = decltype(lanes)::value;
    const std::int64_t groups = (gate.rows + kGateUpRows - 1) / kGateUpRows * a.n_slots;
    launch("grouped gate_up", gate_up_kernel<KIND, LANES>, row_group_grid(groups, LANES, 1, sm_count), kRowThreads, row_kernel_smem_bytes<KIND>(), s, a);
  });
  dispatch_rows(down, a.h, [&](auto kind, auto lanes) {
    constexpr int KIND = decltype(kind)::value, LANES = decltype(lanes)::value;
    const std::int64_t groups = (down.rows + kDownRows - 1) / kDownRows * a.n_slots;
    launch("grouped down", down_kernel<KIND, LANES>, row_group_grid(groups, LANES, 1, sm_count), kRowThreads, row_kernel_smem_bytes<KIND>(), s, a);
  });
}

void launch_sum_slots(const float* y, std::int64_t n_tokens, std::int64_t top_k, std::int64_t width, float* out,
                      cudaStream_t s) {
  if (n_tokens * width <= 0) return;
  launch("sum_slots", sum_slots_kernel, grid_for(n_tokens * width), kThreads, 0, s, y, n_tokens, top_k, width, out);
}

}  // namespace glmq::cuda
