// The int8 decode path of linear layers: activations quantized once per product to int8 blocks of 32
// (quantize_q8_kernel), then a fused dequantize+dp4a matvec (q8_dot.cuh). Matrices with few rows split each
// row's columns over the warps of a block (split-K, partial sums reduced in shared memory), so that even a
// 128-row product keeps hundreds of warps streaming.
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch_util.cuh"
#include "backend/cuda/norm_rope.cuh"
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

// How a matvec_q8 launch takes its activations and gives its outputs.
enum Q8Io : int {
  kQ8IoPlain = 0,      // int8 activations from xq; float (or bf16) outputs
  // Float activations (a.x; token t segment s at t·x_token_stride + s·x_segment_stride), quantized by every
  // block into shared memory after its wait, for the segment its rows belong to: the absorption's per-head
  // input (192 values) needs no quantization launch of its own. Each block's rows stay in one segment.
  kQ8IoQuantizeX = 1,
  // Also writes y as int8 blocks into the Q8View (rows per token of w.rows codes): the next product's
  // activations, with no quantization launch between (the value expansion's output, o_proj's input). Each
  // block's rows are whole blocks of 32 of one token's y, dense (y_token_stride = w.rows).
  kQ8IoQuantizeY = 2,
};

// Rows per block and iteration with 8-lane groups (no split): the unit of kQ8IoQuantizeX / kQ8IoQuantizeY.
constexpr int kQ8RowsPerBlock8 = kQ8Threads / 8 * kQ8Rows;
// The widest activation row kQ8IoQuantizeX quantizes into shared memory.
constexpr int kQ8MaxSharedCols = 1024;

// Quantizes the float row x[0, cols) into the int8 row (q, ds) in shared memory, 4 values per thread (after
// every thread of the block is done with the row before).
__device__ __forceinline__ void quantize_row_shared(const float* x, int cols, std::int8_t* q, float2* ds) {
  __syncthreads();
  for (int base = 0; base < cols; base += 4 * kQ8Threads) {
    const int e = base + 4 * static_cast<int>(threadIdx.x);
    // Whole blocks of 32 are in or out together (cols is a multiple of 32): the 8 lanes of a block agree.
    const unsigned mask = 0xFFu << (threadIdx.x & 31 & ~7u);
    if (e < cols) {
      const float4 v = *reinterpret_cast<const float4*>(x + e);
      quantize_quad(v, mask, q + e, ds + e / 32);
    }
  }
  __syncthreads();
}

// Rotates a row group's outputs v (rows r0, r0 + 1, … of the product, token t) that are rope rows of their head.
__device__ __forceinline__ void rotate_row_group(const RopeEpilogue& e, std::int64_t t, std::int64_t r0, float (&v)[kQ8Rows]) {
  const float pos = static_cast<float>(e.positions[t]);
#pragma unroll
  for (int k = 0; k < kQ8Rows; k += 2) {
    const std::int64_t d = (r0 + k) % e.head_stride - e.offset;
    if (d >= 0 && d < 2 * e.table.half) rope_pair(v[k], v[k + 1], pos, e.table, static_cast<int>(d / 2));
  }
}

// Block: kQ8Threads / LANES lane groups; `split` consecutive groups share kQ8Rows rows and take one slice
// of their units each. Blocks `block` of `blocks` (the grid, or the part of a batched grid for this matrix);
// token blockIdx.y.
template <int KIND, int LANES, bool BF16Y, int IO>
__device__ __forceinline__ void matvec_q8_body(const MatvecArgs& a, const Q8View& xq, int split, const Q8View& yq,
                                               std::int64_t block, std::int64_t blocks, void* smem,
                                               const RopeEpilogue* rope = nullptr) {
  __shared__ float partial[kQ8Threads / LANES][kQ8Rows];
  __shared__ __align__(16) std::int8_t x_shared_q[IO == kQ8IoQuantizeX ? kQ8MaxSharedCols : 1];
  __shared__ float2 x_shared_ds[IO == kQ8IoQuantizeX ? kQ8MaxSharedCols / 32 : 1];
  __shared__ __align__(16) float y_shared[IO == kQ8IoQuantizeY ? kQ8RowsPerBlock8 : 1];
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
  for (std::int64_t g0 = block * per_block; g0 < groups; g0 += blocks * per_block) {
    const std::int64_t gi = g0 + group / split;
    const std::int64_t g = min(gi, groups - 1);
    const std::int64_t seg = g / groups_per_seg, r0 = (g % groups_per_seg) * kQ8Rows;
    typename U::Row rows[kQ8Rows];
#pragma unroll
    for (int k = 0; k < kQ8Rows; ++k) rows[k] = U::row(w, seg * rows_per_seg + min(r0 + k, rows_per_seg - 1));
    const std::int64_t xrow = t * a.segments + seg;
    float acc[kQ8Rows] = {};
    // Units per lane and step: 1 where q8_dot.cuh keeps two steps in registers, else 2.
    constexpr int kNb = q8_pipelined<KIND>() ? 1 : 2;
    if constexpr (IO == kQ8IoQuantizeX) {
      // The block's segment (all its rows are in it), quantized once its producer is done.
      const std::int64_t block_seg = g0 / groups_per_seg;
      const float* xf = a.x + t * a.x_token_stride + block_seg * a.x_segment_stride;
      const Q8Row x[1] = {{x_shared_q, x_shared_ds}};
      q8_rows_dot<KIND, LANES, kQ8Rows, kNb, true>(rows, x, begin, end, cb, acc, [&] {
        quantize_row_shared(xf, static_cast<int>(w.cols), x_shared_q, x_shared_ds);
      });
    } else {
      const Q8Row x[1] = {{xq.q + xrow * w.cols, xq.ds + xrow * (w.cols / 32)}};
      q8_rows_dot<KIND, LANES, kQ8Rows, kNb, true>(rows, x, begin, end, cb, acc);
    }
    wait_for_inputs();
#pragma unroll
    for (int k = 0; k < kQ8Rows; ++k) acc[k] = lanes_sum<LANES>(acc[k]);
    const std::int64_t y0 = t * a.y_token_stride + seg * rows_per_seg;
    const bool rotate = rope != nullptr && rope->positions != nullptr;
    if (split == 1) {
      if (leader && gi < groups) {
        if (rotate) rotate_row_group(*rope, t, r0, acc);
#pragma unroll
        for (int k = 0; k < kQ8Rows; ++k)
          if (r0 + k < rows_per_seg) store_matvec_y<BF16Y>(a.y, y0 + r0 + k, acc[k]);
      }
      if constexpr (IO == kQ8IoQuantizeY) {
        // The block's kQ8RowsPerBlock8 outputs, in order, then quantized 4 per thread (8 threads per block of 32).
        if (leader) {
#pragma unroll
          for (int k = 0; k < kQ8Rows; ++k) y_shared[group * kQ8Rows + k] = acc[k];
        }
        __syncthreads();
        if (threadIdx.x < kQ8RowsPerBlock8 / 4) {
          const std::int64_t first = t * w.rows + g0 * kQ8Rows;  // the block's first output (segments are dense)
          const int e = 4 * static_cast<int>(threadIdx.x);
          const unsigned mask = 0xFFu << (threadIdx.x & 31 & ~7u);
          quantize_quad(*reinterpret_cast<const float4*>(y_shared + e), mask, yq.q + first + e, yq.ds + (first + e) / 32);
        }
        __syncthreads();
      }
      continue;
    }
    if (leader) {
#pragma unroll
      for (int k = 0; k < kQ8Rows; ++k) partial[group][k] = acc[k];
    }
    __syncthreads();
    if (leader && slice == 0 && gi < groups) {
      float sum[kQ8Rows];
#pragma unroll
      for (int k = 0; k < kQ8Rows; ++k) {
        sum[k] = 0.0f;
        for (int i = 0; i < split; ++i) sum[k] += partial[group + i][k];
      }
      if (rotate) rotate_row_group(*rope, t, r0, sum);
#pragma unroll
      for (int k = 0; k < kQ8Rows; ++k)
        if (r0 + k < rows_per_seg) store_matvec_y<BF16Y>(a.y, y0 + r0 + k, sum[k]);
    }
    __syncthreads();
  }
}

template <int KIND, int LANES, bool BF16Y, int IO>
__global__ void __launch_bounds__(kQ8Threads) matvec_q8_kernel(MatvecArgs a, Q8View xq, int split, Q8View yq) {
  allow_dependents();  // waits in q8_rows_dot, once the first weight loads are in flight
  extern __shared__ unsigned long long smem[];
  matvec_q8_body<KIND, LANES, BF16Y, IO>(a, xq, split, yq, blockIdx.x, gridDim.x, smem);
}

// Several products of one activation row in one launch (Backend::linears): matrix i takes blocks
// [first_block[i], first_block[i + 1]) of the grid.
template <int KIND, int LANES>
__global__ void __launch_bounds__(kQ8Threads) matvec_q8_batch_kernel(const __grid_constant__ MatvecQ8Batch b,
                                                                     Q8View xq) {
  allow_dependents();
  extern __shared__ unsigned long long smem[];
  int i = 0;
  while (i + 1 < b.count && static_cast<int>(blockIdx.x) >= b.first_block[i + 1]) ++i;
  const std::int64_t first = b.first_block[i];
  matvec_q8_body<KIND, LANES, false, kQ8IoPlain>(b.m[i], xq, b.split, Q8View{}, blockIdx.x - first,
                                                 b.first_block[i + 1] - first, smem, &b.rope[i]);
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
// Blocks of a matvec kernel resident per multiprocessor (its registers decide; queried once per instantiation).
template <typename Kernel>
int matvec_q8_blocks_per_sm(Kernel kernel, std::size_t smem) {
  int n = 0;
  check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel, kQ8Threads, smem), "matvec_q8 occupancy");
  return std::max(n, 1);
}

// How many of the lane groups of a block share a row group's columns (1, 2 or 4): the split whose blocks fill
// their waves of the chip best (`resident` blocks at a time), the smaller of two within 2%. A last wave that is
// partly empty leaves multiprocessors idle while it runs: GLM-5.2's o_proj (1536 row groups) at split 2 was
// 768 blocks, 1.45 waves of 528 on an H100; split 4 gives 1536, 2.9 waves. Few row groups (q_a, kv_a) take
// split 4, so that their products still spread over the chip. 8-lane groups (short rows) do not split.
int matvec_q8_split(int lanes, std::int64_t groups, std::int64_t n_tokens, std::int64_t resident) {
  const int groups_per_block = kQ8Threads / lanes;
  if (lanes != 32) return 1;
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

// Lanes per row group: 32, or 8 for rows of fewer than 48 units (a 32-lane group would leave most lanes idle).
int matvec_q8_lanes(std::int64_t cols) { return cols / 32 >= 48 ? 32 : 8; }

std::int64_t row_groups(const MatvecArgs& a) { return (a.w.rows / a.segments + kQ8Rows - 1) / kQ8Rows * a.segments; }

template <int KIND, int LANES, bool BF16Y, int IO>
void launch_matvec_q8_instance(const MatvecArgs& a, const Q8View& xq, const Q8View& yq, int sm_count, cudaStream_t s) {
  constexpr auto kernel = matvec_q8_kernel<KIND, LANES, BF16Y, IO>;
  constexpr std::size_t smem = q8_codebook_smem_bytes<KIND>();
  static const int resident = matvec_q8_blocks_per_sm(kernel, smem);
  const std::int64_t groups = row_groups(a);
  const int split = matvec_q8_split(LANES, groups, a.n_tokens, std::int64_t{resident} * sm_count);
  const std::int64_t per_block = kQ8Threads / LANES / split;
  const dim3 grid(grid_for(groups, per_block, 1 << 16), static_cast<unsigned>(a.n_tokens));
  launch("matvec_q8", kernel, grid, kQ8Threads, smem, s, a, xq, split, yq);
}

// Whether every block iteration of a no-split (8-lane) launch covers whole runs of kQ8RowsPerBlock8 rows of
// one segment: what the kQ8IoQuantizeX / kQ8IoQuantizeY modes need.
bool blocks_own_segment_runs(const MatvecArgs& a) {
  const std::int64_t rows_per_seg = a.w.rows / a.segments;
  return matvec_q8_lanes(a.w.cols) == 8 && rows_per_seg * a.segments == a.w.rows && rows_per_seg % kQ8RowsPerBlock8 == 0;
}
}  // namespace

void launch_matvec_q8(const MatvecArgs& a, const Q8View& xq, int sm_count, cudaStream_t s, bool bf16_y) {
  if (a.n_tokens <= 0) return;
  dispatch_q8_kind(a.w, [&](auto kind) {
    constexpr int KIND = decltype(kind)::value;
    auto by_lanes = [&](auto bf16) {
      constexpr bool BF16Y = decltype(bf16)::value;
      if (matvec_q8_lanes(a.w.cols) == 32) return launch_matvec_q8_instance<KIND, 32, BF16Y, kQ8IoPlain>(a, xq, {}, sm_count, s);
      launch_matvec_q8_instance<KIND, 8, BF16Y, kQ8IoPlain>(a, xq, {}, sm_count, s);
    };
    if (bf16_y) return by_lanes(std::true_type{});
    by_lanes(std::false_type{});
  });
}

bool matvec_q8_quantizes_x(const MatvecArgs& a) {
  const auto aligned = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; };
  return blocks_own_segment_runs(a) && a.w.cols % 32 == 0 && a.w.cols <= kQ8MaxSharedCols && aligned(a.x) &&
         a.x_token_stride % 4 == 0 && a.x_segment_stride % 4 == 0;
}

void launch_matvec_q8_quantize_x(const MatvecArgs& a, cudaStream_t s, bool bf16_y) {
  if (!matvec_q8_quantizes_x(a))
    fail(ErrorKind::InvalidArgument, "matvec_q8 quantizing its float activations needs matvec_q8_quantizes_x");
  if (a.n_tokens <= 0) return;
  dispatch_q8_kind(a.w, [&](auto kind) {
    constexpr int KIND = decltype(kind)::value;
    if (bf16_y) return launch_matvec_q8_instance<KIND, 8, true, kQ8IoQuantizeX>(a, {}, {}, 0, s);
    launch_matvec_q8_instance<KIND, 8, false, kQ8IoQuantizeX>(a, {}, {}, 0, s);
  });
}

bool matvec_q8_quantizes_y(const MatvecArgs& a) {
  return blocks_own_segment_runs(a) && a.y_token_stride == a.w.rows;
}

void launch_matvec_q8_quantize_y(const MatvecArgs& a, const Q8View& xq, const Q8View& yq, cudaStream_t s) {
  if (!matvec_q8_quantizes_y(a) || yq.cols != a.w.rows)
    fail(ErrorKind::InvalidArgument, "matvec_q8 writing int8 outputs needs matvec_q8_quantizes_y and rows of w.rows codes");
  if (a.n_tokens <= 0) return;
  dispatch_q8_kind(a.w, [&](auto kind) {
    launch_matvec_q8_instance<decltype(kind)::value, 8, false, kQ8IoQuantizeY>(a, xq, yq, 0, s);
  });
}

bool matvec_q8_rotates(const RopeTable& table, std::int64_t head_stride, std::int64_t offset) {
  static_assert(kQ8Rows % 2 == 0, "a row group holds whole interleaved pairs");
  return table.interleaved && head_stride % 2 == 0 && offset % 2 == 0 && offset >= 0 &&
         offset + 2 * table.half <= head_stride;
}

bool matvec_q8_batches(const DeviceWeight* const* ws, std::size_t count) {
  if (count == 0 || count > static_cast<std::size_t>(MatvecQ8Batch::kMax)) return false;
  for (std::size_t i = 0; i < count; ++i)
    if (!q8_applies(*ws[i]) || ws[i]->type != ws[0]->type || ws[i]->cols != ws[0]->cols) return false;
  return true;
}

void launch_matvec_q8_batch(const MatvecArgs* products, std::size_t count, const Q8View& xq, int sm_count,
                            cudaStream_t s, const RopeEpilogue* ropes) {
  std::vector<const DeviceWeight*> ws;
  for (std::size_t i = 0; i < count; ++i) ws.push_back(&products[i].w);
  if (!matvec_q8_batches(ws.data(), count)) fail(ErrorKind::InvalidArgument, "matvec_q8 batch needs 1 to 4 int8 products of one type and width");
  const std::int64_t n_tokens = products[0].n_tokens;
  if (n_tokens <= 0) return;
  MatvecQ8Batch b;
  b.count = static_cast<int>(count);
  for (std::size_t i = 0; i < count; ++i)
    if (products[i].n_tokens != n_tokens || products[i].segments != 1)
      fail(ErrorKind::InvalidArgument, "matvec_q8 batch products need the same tokens and one segment each");
  for (std::size_t i = 0; ropes && i < count; ++i) {
    const RopeEpilogue& e = ropes[i];
    if (e.positions && (!matvec_q8_rotates(e.table, e.head_stride, e.offset) || products[i].w.rows % e.head_stride != 0))
      fail(ErrorKind::InvalidArgument, "matvec_q8 batch rotation needs interleaved pairs within whole heads (matvec_q8_rotates)");
    b.rope[i] = e;
  }
  dispatch_q8_kind(products[0].w, [&](auto kind) {
    constexpr int KIND = decltype(kind)::value;
    auto run = [&](auto lanes) {
      constexpr int LANES = decltype(lanes)::value;
      constexpr auto kernel = matvec_q8_batch_kernel<KIND, LANES>;
      constexpr std::size_t smem = q8_codebook_smem_bytes<KIND>();
      static const int resident = matvec_q8_blocks_per_sm(kernel, smem);
      // One split for the whole grid, the one that fills its waves best (each product's own best split was
      // slower: GLM-5.2's q_b with the indexer queries at split 4, 8.8 → 20.7 µs), but none larger than every
      // product would take alone: a lane of a larger split has fewer units in flight (IQ4_NL's q_b with the
      // indexer queries at split 2: 15.9 µs, at split 1: 11.2 µs).
      static const int resident_alone = matvec_q8_blocks_per_sm(matvec_q8_kernel<KIND, LANES, false, kQ8IoPlain>, smem);
      std::int64_t total_groups = 0;
      int alone = kQ8Threads / LANES;
      for (int i = 0; i < b.count; ++i) {
        total_groups += row_groups(products[i]);
        alone = std::min(alone, matvec_q8_split(LANES, row_groups(products[i]), n_tokens,
                                                std::int64_t{resident_alone} * sm_count));
      }
      b.split = std::min(alone, matvec_q8_split(LANES, total_groups, n_tokens, std::int64_t{resident} * sm_count));
      const std::int64_t per_block = kQ8Threads / LANES / b.split;
      std::int64_t blocks = 0;
      for (int i = 0; i < b.count; ++i) {
        b.m[i] = products[i];
        b.first_block[i] = static_cast<int>(blocks);
        blocks += (row_groups(b.m[i]) + per_block - 1) / per_block;
      }
      b.first_block[b.count] = static_cast<int>(blocks);
      if (blocks > (1 << 16)) fail(ErrorKind::InvalidArgument, "matvec_q8 batch of more than 65536 blocks");
      launch("matvec_q8_batch", kernel, dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(n_tokens)), kQ8Threads,
             smem, s, b, xq);
    };
    if (matvec_q8_lanes(products[0].w.cols) == 32) return run(std::integral_constant<int, 32>{});
    run(std::integral_constant<int, 8>{});
  });
}

}  // namespace glmq::cuda
