// The int8 decode path of SwiGLU blocks over routed experts (and of a shared expert: one slot per token).
// gate_up: a block computes 32 consecutive rows of silu(gate·x) ⊙ up·x for one slot and quantizes them
// itself into the int8 block the down projection reads (no separate quantization launch). down: a block
// computes a few output rows for all of a token's slots (one warp per slot) and adds Σ_k weight_k·down_k·h_k
// into the output in slot order (no per-slot buffer, no separate sum launch, one writer per element).
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch_util.cuh"
#include "backend/cuda/q8_dot.cuh"

namespace glmq::cuda {

namespace {

constexpr int kTileRows = 32;                 // rows of h per gate_up block: one int8 block
constexpr int kGateUpThreads = 512;           // 16 warps, 2 rows (4 dot products) each
// A down block's warp (one slot) multiplies 4 rows per group of LANES lanes: 4 rows with 32 lanes, or 8 in
// two groups of 16. With 16, each lane takes 4 units of every row instead of 2 (GLM-5.2's 2048 columns are 64
// units), so its two register sets of loads are refilled twice before the rows end (H100, per layer:
// mixed-3.5 −1.1 to −1.4 µs, IQ2_S/IQ4_NL −1.7 to −2.5 µs, its routed down 30.8 → 27.2 µs; groups of 8 lanes,
// 16 rows per block, read rows in 96-byte pieces: +6 to +11 µs). Small models keep 32 lanes: half the blocks
// would leave multiprocessors idle (launch_grouped_down_q8).
template <int LANES>
constexpr int down_rows() {
  return 4 * (32 / LANES);
}
// A down block has one warp per slot of its token: at most 8 (GLM-5.2's top-8; more slots take the float path),
// 256 threads, so that a block's register budget can allow 3 blocks (24 warps) per multiprocessor where
// down_blocks_per_sm sets that.
constexpr int kMaxDownSlots = 8;

// Blocks per multiprocessor each kernel's register budget is set for, by unit type and shape, where measured
// (H100, in the decode graph): the down kernel in 32-lane groups keeps 3 (≤ 85 registers; at 96 it ran 2) for
// affine3 and IQ2_S, whose units spill a few bytes there (routed down 26-28 -> 24 us mixed-3.5, 34-35 -> 30-31
// us IQ2_S); in 16-lane groups (GLM-5.2's shapes) 2 for every type (128 registers, no spills: mixed-3.5 layer
// 150.7 / 150.5 -> 148.9 / 149.3 us against 3 for affine3, IQ2_S unchanged); the gate+up
// kernel keeps 2 (64 registers) for IQ2_S (57 -> 54-56 us), but 1 for affine3, which at 64 registers spilled
// in its loop (40 -> 44 us); nor did 24 warps help it (256-thread blocks of 16-lane row pairs, 3 per
// multiprocessor at 80 registers without spills: layer +5.5 us). The other types keep the budget of 128
// registers (units up to 60 bytes spill below).
template <int KIND, int LANES>
constexpr int down_blocks_per_sm() {
  return LANES == 32 && (KIND == kind_of(WeightType::Affine3) || KIND == kind_of(WeightType::IQ2_S)) ? 3 : 2;
}
template <int KIND>
constexpr int gate_up_blocks_per_sm() {
  return KIND == kind_of(WeightType::IQ2_S) ? 2 : 1;
}

// Units per lane and step (4 rows each): as many as fit the 128 registers of a 512-thread block without
// spilling: 1 where q8_dot.cuh keeps two steps in registers (units of at most 24 bytes), else 2 for units
// below 36 bytes and 1 for the larger ones (affine8, Q8_0, the K-quants).
template <int KIND>
constexpr int q8_batch() {
  constexpr std::size_t raw = sizeof(typename Q8Unit<KIND>::Raw);
  return q8_pipelined<KIND>() || raw >= 36 ? 1 : 2;
}

__device__ __forceinline__ std::int32_t slot_expert(const GroupedSwigluQ8Args& a, std::int64_t slot) {
  return a.expert_ids ? a.expert_ids[slot] : 0;
}

// grid: n_slots × (inter / 32) blocks of kGateUpThreads; warp w takes rows 2w, 2w + 1 of the block's tile.
template <int KIND>
__global__ void __launch_bounds__(kGateUpThreads, gate_up_blocks_per_sm<KIND>()) gate_up_q8_kernel(GroupedSwigluQ8Args a) {
  allow_dependents();
  extern __shared__ unsigned long long smem[];
  __shared__ float tile[kTileRows];
  using U = Q8Unit<KIND>;
  const Q8Codebook cb = stage_q8_codebook<KIND>(a.probe.gate, smem);
  // A shared expert's weights are known before the previous kernel ends (q8_rows_dot waits after its first
  // loads); routed slots read their expert ids first.
  if (a.expert_ids) wait_for_inputs();
  const std::int64_t inter = a.probe.gate.rows, hidden = a.probe.gate.cols;
  const std::int64_t tiles = inter / kTileRows;
  const std::int64_t slot = blockIdx.x / tiles, tile0 = (blockIdx.x % tiles) * kTileRows;
  const DeviceSwiglu& e = a.table[slot_expert(a, slot)];
  const std::int64_t xrow = slot / a.top_k;
  const Q8Row x[1] = {{a.x.q + xrow * hidden, a.x.ds + xrow * (hidden / 32)}};
  const int warp = static_cast<int>(threadIdx.x >> 5), lane = static_cast<int>(threadIdx.x & 31);
  const std::int64_t r = tile0 + 2 * warp;
  const typename U::Row rows[4] = {U::row(e.gate, r), U::row(e.up, r), U::row(e.gate, r + 1), U::row(e.up, r + 1)};
  float acc[4] = {};
  q8_rows_dot<KIND, 32, 4, q8_batch<KIND>(), true>(rows, x, 0, static_cast<int>(hidden / 32), cb, acc);
  wait_for_inputs();
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const float g = lanes_sum<32>(acc[2 * i]), u = lanes_sum<32>(acc[2 * i + 1]);
    if (lane == 0) tile[2 * warp + i] = g / (1.0f + expf(-g)) * u;
  }
  __syncthreads();
  if (warp == 0) {
    const std::int64_t block = slot * (inter / 32) + tile0 / 32;
    quantize_block_warp(tile[lane], a.h.q + block * 32, a.h.ds + block);
  }
}

// grid: n_tokens × ⌈hidden / down_rows⌉ blocks of 32·top_k threads. Warp k multiplies the block's rows of
// slot k's expert with that slot's h (shared by the rows, each group of LANES lanes taking 4 of them); the
// slots' sums are added in slot order.
template <int KIND, int LANES>
__global__ void __launch_bounds__(32 * kMaxDownSlots, down_blocks_per_sm<KIND, LANES>()) down_q8_kernel(GroupedSwigluQ8Args a) {
  allow_dependents();
  constexpr int kDownRows = down_rows<LANES>();
  extern __shared__ unsigned long long smem[];
  __shared__ float partial[kMaxDownSlots][kDownRows];
  using U = Q8Unit<KIND>;
  const Q8Codebook cb = stage_q8_codebook<KIND>(a.probe.down, smem);
  if (a.expert_ids) wait_for_inputs();
  const std::int64_t hidden = a.probe.down.rows, inter = a.probe.down.cols;
  const std::int64_t blocks_per_token = (hidden + kDownRows - 1) / kDownRows;
  const std::int64_t t = blockIdx.x / blocks_per_token, r0 = (blockIdx.x % blocks_per_token) * kDownRows;
  const int k = static_cast<int>(threadIdx.x >> 5), lane = static_cast<int>(threadIdx.x & 31);
  const int first = 4 * (lane / LANES);  // the lane group's first row in the block
  const std::int64_t slot = t * a.top_k + k;
  const DeviceWeight& down = a.table[slot_expert(a, slot)].down;
  typename U::Row rows[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) rows[i] = U::row(down, min(r0 + first + i, hidden - 1));
  const Q8Row x[1] = {{a.h.q + slot * inter, a.h.ds + slot * (inter / 32)}};
  float acc[4] = {};
  q8_rows_dot<KIND, LANES, 4, q8_batch<KIND>(), true>(rows, x, 0, static_cast<int>(inter / 32), cb, acc);
  wait_for_inputs();
  const float weight = a.slot_weights ? a.slot_weights[slot] : 1.0f;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float v = lanes_sum<LANES>(acc[i]);
    if ((lane & (LANES - 1)) == 0) partial[k][first + i] = weight * v;
  }
  __syncthreads();
  if (threadIdx.x < kDownRows && r0 + threadIdx.x < hidden) {
    float total = 0.0f;
    for (int j = 0; j < a.top_k; ++j) total += partial[j][threadIdx.x];
    float* y = a.out + t * hidden + r0 + threadIdx.x;
    *y = a.accumulate ? *y + total : total;
  }
}

}  // namespace

bool swiglu_q8_applies(const DeviceSwiglu& probe, std::int64_t top_k) {
  return q8_applies(probe.gate) && q8_applies(probe.up) && q8_applies(probe.down) && probe.gate.type == probe.up.type &&
         probe.gate.rows % kTileRows == 0 && top_k <= kMaxDownSlots;
}

void launch_grouped_gate_up_q8(const GroupedSwigluQ8Args& a, cudaStream_t s) {
  if (a.n_slots <= 0) return;
  const DeviceWeight& gate = a.probe.gate;
  dispatch_q8_kind(gate, [&](auto kind) {
    constexpr int KIND = decltype(kind)::value;
    const auto blocks = static_cast<unsigned>(a.n_slots * (gate.rows / kTileRows));
    // Routed slots launch only once the routing has completed: they cannot load a weight before they know
    // their experts, and resident early their blocks (one per multiprocessor) would keep a shared expert
    // running beside the routing (CudaBackend::moe) off the machine until they end.
    launch_ordered(a.expert_ids == nullptr, a.expert_ids == nullptr ? "shared_gate_up_q8" : "gate_up_q8",
                   gate_up_q8_kernel<KIND>, blocks, kGateUpThreads,
                   q8_codebook_smem_bytes<KIND>(), s, a);
  });
}

void launch_grouped_down_q8(const GroupedSwigluQ8Args& a, int sm_count, cudaStream_t s) {
  if (a.n_slots <= 0) return;
  const DeviceWeight& down = a.probe.down;
  dispatch_q8_kind(down, [&](auto kind) {
    constexpr int KIND = decltype(kind)::value;
    const auto blocks = [&](auto lanes) {
      constexpr int kRows = down_rows<decltype(lanes)::value>();
      return a.n_tokens * ((down.rows + kRows - 1) / kRows);
    };
    const auto run = [&](auto lanes) {
      // Named apart from the routed ones (kernel timeline, GLMQ_CUDA_ORDERED): a dense or shared expert's.
      launch(a.expert_ids == nullptr ? "shared_down_q8" : "down_q8", down_q8_kernel<KIND, decltype(lanes)::value>,
             static_cast<unsigned>(blocks(lanes)),
             static_cast<unsigned>(32 * a.top_k), q8_codebook_smem_bytes<KIND>(), s, a);
    };
    // Groups of 16 lanes where their blocks (8 rows each) still fill every multiprocessor's budget.
    constexpr std::integral_constant<int, 16> kWide{};
    if (blocks(kWide) >= std::int64_t{sm_count} * down_blocks_per_sm<KIND, 16>())
      run(kWide);
    else
      run(std::integral_constant<int, 32>{});
  });
}

}  // namespace glmq::cuda
