// The int8 decode path of linear layers: activations quantized once per product to int8 blocks of 32
// (quantize_q8_kernel), then a fused dequantize+dp4a matvec (q8_dot.cuh). Matrices with few rows split each
// row's columns over the warps of a block (split-K, partial sums reduced in shared memory), so that even a
// 128-row product keeps hundreds of warps streaming.
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch_util.cuh"
#include "backend/cuda/q8_dot.cuh"

namespace glmq::cuda {

namespace {

constexpr int kQ8Rows = 4;  // rows per lane group

// One thread per 4 values, 8 threads per block of 32; rows (t, s) at x + t·tok_stride + s·seg_stride.
__global__ void quantize_q8_kernel(const float* x, std::int64_t segments, std::int64_t tok_stride,
                                   std::int64_t seg_stride, std::int64_t cols, std::int64_t total4, Q8View out) {
  begin_dependent_kernel();
  const unsigned lane = threadIdx.x & 31;
  const unsigned mask = 0xFFu << (lane & ~7u);  // the 8 lanes of this block of 32 (all in or all out of range)
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total4;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t e = 4 * i, v = e / cols, c = e % cols;
    const float* src = x + (v / segments) * tok_stride + (v % segments) * seg_stride + c;
    quantize_quad(make_float4(src[0], src[1], src[2], src[3]), mask, out.q + e, out.ds + e / 32);
  }
}

// Block: kQ8Threads / LANES lane groups; `split` consecutive groups share kQ8Rows rows and take one slice
// of their units each. grid: (row-group blocks, tokens).
template <int KIND, int LANES, bool BF16Y>
__global__ void __launch_bounds__(kQ8Threads) matvec_q8_kernel(MatvecArgs a, Q8View xq, int split) {
  allow_dependents();  // waits in q8_rows_dot, once the first weight loads are in flight
  extern __shared__ unsigned long long smem[];
  __shared__ float partial[kQ8Threads / LANES][kQ8Rows];
  using U = Q8Unit<KIND>;
  const DeviceWeight& w = a.w;
  const Q8Codebook cb = stage_q8_codebook<KIND>(w, smem);
  constexpr int kGroups = kQ8Threads / LANES;
  const int group = static_cast<int>(threadIdx.x) / LANES, slice = group % split;
  const int per_block = kGroups / split;
  const std::int64_t t = blockIdx.y;
  const std::int64_t rows_per_seg = w.rows / a.segments;
  const std::int64_t groups_per_seg = (rows_per_seg + kQ8Rows - 1) / kQ8Rows;
  const std::int64_t groups = groups_per_seg * a.segments;
  const int units = static_cast<int>(w.cols / 32);
  const int per_slice = (units + split - 1) / split;
  const int begin = slice * per_slice, end = min(units, begin + per_slice);
  const bool leader = (threadIdx.x & (LANES - 1)) == 0;
  // Every thread of the block runs the same iterations (the loop bound depends on the block only).
  for (std::int64_t g0 = static_cast<std::int64_t>(blockIdx.x) * per_block; g0 < groups;
       g0 += static_cast<std::int64_t>(gridDim.x) * per_block) {
    const std::int64_t gi = g0 + group / split;
    const std::int64_t g = min(gi, groups - 1);
    const std::int64_t seg = g / groups_per_seg, r0 = (g % groups_per_seg) * kQ8Rows;
    typename U::Row rows[kQ8Rows];
#pragma unroll
    for (int k = 0; k < kQ8Rows; ++k) rows[k] = U::row(w, seg * rows_per_seg + min(r0 + k, rows_per_seg - 1));
    const std::int64_t xrow = t * a.segments + seg;
    const Q8Row x[1] = {{xq.q + xrow * w.cols, xq.ds + xrow * (w.cols / 32)}};
    float acc[kQ8Rows] = {};
    // Units per lane and step: 1 where q8_dot.cuh keeps two steps in registers, else 2.
    q8_rows_dot<KIND, LANES, kQ8Rows, q8_pipelined<KIND>() ? 1 : 2, true>(rows, x, begin, end, cb, acc);
    wait_for_inputs();
#pragma unroll
    for (int k = 0; k < kQ8Rows; ++k) acc[k] = lanes_sum<LANES>(acc[k]);
    const std::int64_t y0 = t * a.y_token_stride + seg * rows_per_seg;
    if (split == 1) {
      if (leader && gi < groups) {
#pragma unroll
        for (int k = 0; k < kQ8Rows; ++k)
          if (r0 + k < rows_per_seg) store_matvec_y<BF16Y>(a.y, y0 + r0 + k, acc[k]);
      }
      continue;
    }
    if (leader) {
#pragma unroll
      for (int k = 0; k < kQ8Rows; ++k) partial[group][k] = acc[k];
    }
    __syncthreads();
    if (leader && slice == 0 && gi < groups) {
#pragma unroll
      for (int k = 0; k < kQ8Rows; ++k) {
        float s = 0.0f;
        for (int i = 0; i < split; ++i) s += partial[group + i][k];
        if (r0 + k < rows_per_seg) store_matvec_y<BF16Y>(a.y, y0 + r0 + k, s);
      }
    }
    __syncthreads();
  }
}

}  // namespace

bool q8_applies(const DeviceWeight& w) {
  // Affine scales and biases are read as 16-bit values (bf16 or f16; float32 ones take the float kernels).
  const bool aux16 = !is_affine(w.type) || w.aux_type == WeightType::BF16 || w.aux_type == WeightType::F16;
  return has_q8_unit(kind_of(w.type)) && fast_path_applies(w) && w.cols % 32 == 0 && aux16;
}

std::size_t q8_bytes(std::int64_t rows, std::int64_t cols) {
  const auto codes = static_cast<std::size_t>(rows * cols);
  return (codes + 15) / 16 * 16 + static_cast<std::size_t>(rows * (cols / 32)) * sizeof(float2);
}

Q8View q8_view(void* buffer, std::int64_t rows, std::int64_t cols) {
  Q8View v;
  v.q = static_cast<std::int8_t*>(buffer);
  v.ds = reinterpret_cast<float2*>(static_cast<char*>(buffer) + (static_cast<std::size_t>(rows * cols) + 15) / 16 * 16);
  v.cols = cols;
  return v;
}

void launch_quantize_q8(const float* x, std::int64_t n_tok, std::int64_t segments, std::int64_t tok_stride,
                        std::int64_t seg_stride, std::int64_t cols, const Q8View& out, cudaStream_t s) {
  if (cols % 32 != 0) fail(ErrorKind::InvalidArgument, "int8 activations need rows of a multiple of 32 values");
  const std::int64_t total4 = n_tok * segments * cols / 4;
  if (total4 <= 0) return;
  launch("quantize_q8", quantize_q8_kernel, grid_for(total4, kThreads, 4096), kThreads, 0, s, x, segments, tok_stride, seg_stride, cols, total4, out);
}

namespace {
// Blocks of the matvec resident per multiprocessor (its registers decide; queried once per instantiation).
template <int KIND, int LANES, bool BF16Y>
int matvec_q8_blocks_per_sm() {
  static const int blocks = [] {
    int n = 0;
    check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, matvec_q8_kernel<KIND, LANES, BF16Y>, kQ8Threads,
                                                        q8_codebook_smem_bytes<KIND>()),
          "matvec_q8 occupancy");
    return std::max(n, 1);
  }();
  return blocks;
}

// How many of the lane groups of a block share a row group's columns (1, 2 or 4): the split whose blocks fill
// their waves of the chip best (`resident` blocks at a time), the smaller of two within 2%. A last wave that is
// partly empty leaves multiprocessors idle while it runs: GLM-5.2's o_proj (1536 row groups) at split 2 was
// 768 blocks, 1.45 waves of 528 on an H100; split 4 gives 1536, 2.9 waves. Few row groups (q_a, kv_a) take
// split 4, so that their products still spread over the chip.
int matvec_q8_split(std::int64_t groups, std::int64_t n_tokens, int groups_per_block, std::int64_t resident) {
  int best = 1;
  double best_fill = -1.0;
  for (int split = 1; split <= groups_per_block; split *= 2) {
    const std::int64_t blocks = (groups + groups_per_block / split - 1) / (groups_per_block / split) * n_tokens;
    const std::int64_t waves = (blocks + resident - 1) / resident;
    const double fill = static_cast<double>(blocks) / static_cast<double>(waves * resident);
    if (fill > best_fill + 0.02) {
      best = split;
      best_fill = fill;
    }
  }
  return best;
}
}  // namespace

void launch_matvec_q8(const MatvecArgs& a, const Q8View& xq, int sm_count, cudaStream_t s, bool bf16_y) {
  if (a.n_tokens <= 0) return;
  const std::int64_t rows_per_seg = a.w.rows / a.segments;
  const std::int64_t groups = (rows_per_seg + kQ8Rows - 1) / kQ8Rows * a.segments;
  dispatch_q8_kind(a.w, [&](auto kind) {
    constexpr int KIND = decltype(kind)::value;
    auto run = [&](auto lanes, auto bf16) {
      constexpr int LANES = decltype(lanes)::value;
      constexpr bool BF16Y = decltype(bf16)::value;
      constexpr int kGroups = kQ8Threads / LANES;
      // 8-lane groups (short rows) do not split.
      const int split =
          LANES == 32 ? matvec_q8_split(groups, a.n_tokens, kGroups,
                                        std::int64_t{matvec_q8_blocks_per_sm<KIND, LANES, BF16Y>()} * sm_count)
                      : 1;
      const std::int64_t per_block = kGroups / split;
      const dim3 grid(grid_for(groups, per_block, 1 << 16), static_cast<unsigned>(a.n_tokens));
      launch("matvec_q8", matvec_q8_kernel<KIND, LANES, BF16Y>, grid, kQ8Threads, q8_codebook_smem_bytes<KIND>(), s, a,
             xq, split);
    };
    auto by_lanes = [&](auto bf16) {
      if (a.w.cols / 32 >= 48) return run(std::integral_constant<int, 32>{}, bf16);
      run(std::integral_constant<int, 8>{}, bf16);
    };
    if (bf16_y) return by_lanes(std::true_type{});
    by_lanes(std::false_type{});
  });
}

}  // namespace glmq::cuda
