// The DSA lightning indexer on the device: per query, I(j) = Σ_g w_g·ReLU(scale·q_g·k_j) over the visible
// positions (a score row per query, never for all queries at once), then an exact top-k by radix select,
// emitted in ascending position order with ties resolved toward earlier positions (as the CPU reference).
#include <cub/block/block_scan.cuh>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/kv_decode.cuh"
#include "backend/cuda/launch_util.cuh"
#include "backend/cuda/weight_decode.cuh"

namespace glmq::cuda {

namespace {

constexpr int kScoreThreads = 128;
constexpr int kHeadGroup = 16;
constexpr int kMaxQueryFloats = 8192;  // heads × head_dim staged in shared memory
constexpr int kSelectThreads = 1024;

// grid: (position blocks, queries); each thread scores positions j, j + stride, ... below the query's view.
__global__ void __launch_bounds__(kScoreThreads) indexer_scores_kernel(IndexerCoreArgs a) {
  __shared__ __align__(16) float q[kMaxQueryFloats];
  __shared__ float w[kMaxQueryFloats / 4];
  const std::int64_t t = blockIdx.y;
  const std::int64_t visible = static_cast<std::int64_t>(a.positions[t]) + 1;
  if (visible <= a.topk) return;  // everything visible is selected; no scores needed
  const std::int64_t H = a.heads, D = a.head_dim;
  for (std::int64_t i = threadIdx.x; i < H * D; i += blockDim.x) q[i] = a.q[t * H * D + i];
  for (std::int64_t i = threadIdx.x; i < H; i += blockDim.x) w[i] = a.head_weights[t * H + i];
  __syncthreads();
  float* out = a.scores + t * a.positions_bound;
  for (std::int64_t j = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < visible;
       j += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    float score = 0.0f;
    for (std::int64_t g0 = 0; g0 < H; g0 += kHeadGroup) {
      float acc[kHeadGroup] = {};
      for (std::int64_t d4 = 0; d4 < D / 4; ++d4) {
        const float4 kv = kv_value4(a.keys, j, 4 * d4);  // decoded from the cache format
#pragma unroll
        for (int g = 0; g < kHeadGroup; ++g) {
          if (g0 + g < H) {
            const float4 qv = *reinterpret_cast<const float4*>(q + (g0 + g) * D + 4 * d4);
            acc[g] = fmaf(qv.x, kv.x, fmaf(qv.y, kv.y, fmaf(qv.z, kv.z, fmaf(qv.w, kv.w, acc[g]))));
          }
        }
      }
#pragma unroll
      for (int g = 0; g < kHeadGroup; ++g)
        if (g0 + g < H) score += w[g0 + g] * fmaxf(acc[g] * a.scale, 0.0f);
    }
    out[j] = score;
  }
}

// Order-preserving map of a float onto an unsigned key (larger float → larger key).
__device__ __forceinline__ std::uint32_t order_key(float f) {
  const std::uint32_t u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// One block per query: finds the k-th largest key by 4 rounds of 8-bit radix histograms, then writes every
// position above it and the first (in position order) of those equal to it, ascending.
__global__ void __launch_bounds__(kSelectThreads) topk_kernel(IndexerCoreArgs a) {
  using Scan = cub::BlockScan<int, kSelectThreads>;
  __shared__ typename Scan::TempStorage scan_storage;
  __shared__ int hist[256];
  __shared__ std::uint32_t s_prefix;
  __shared__ int s_remaining;
  __shared__ int s_running_equal, s_running_out;
  const std::int64_t t = blockIdx.x;
  const std::int64_t visible = static_cast<std::int64_t>(a.positions[t]) + 1;
  std::int32_t* sel = a.selection + t * a.topk;
  if (visible <= a.topk) {
    for (std::int64_t j = threadIdx.x; j < visible; j += blockDim.x) sel[j] = static_cast<std::int32_t>(j);
    if (threadIdx.x == 0) a.selection_count[t] = static_cast<std::int32_t>(visible);
    return;
  }
  const float* scores = a.scores + t * a.positions_bound;
  if (threadIdx.x == 0) {
    s_prefix = 0;
    s_remaining = static_cast<int>(a.topk);
  }
  for (int round = 0; round < 4; ++round) {
    const int shift = 24 - 8 * round;
    for (int i = static_cast<int>(threadIdx.x); i < 256; i += blockDim.x) hist[i] = 0;
    __syncthreads();
    const std::uint32_t prefix = s_prefix;
    const std::uint32_t high_mask = round == 0 ? 0u : (0xffffffffu << (shift + 8));
    for (std::int64_t j = threadIdx.x; j < visible; j += blockDim.x) {
      const std::uint32_t key = order_key(scores[j]);
      if ((key & high_mask) == prefix) atomicAdd(&hist[(key >> shift) & 0xffu], 1);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      int remaining = s_remaining, bin = 255;
      for (; bin > 0; --bin) {
        if (hist[bin] >= remaining) break;
        remaining -= hist[bin];
      }
      s_prefix = prefix | (static_cast<std::uint32_t>(bin) << shift);
      s_remaining = remaining;
    }
    __syncthreads();
  }
  const std::uint32_t threshold = s_prefix;
  const int take_equal = s_remaining;  // how many keys equal to the threshold are selected
  if (threadIdx.x == 0) {
    s_running_equal = 0;
    s_running_out = 0;
  }
  __syncthreads();
  for (std::int64_t base = 0; base < visible; base += blockDim.x) {
    const std::int64_t j = base + threadIdx.x;
    const std::uint32_t key = j < visible ? order_key(scores[j]) : 0u;
    const int equal = j < visible && key == threshold;
    int equal_before;
    Scan(scan_storage).ExclusiveSum(equal, equal_before);
    __syncthreads();
    const int keep = j < visible && (key > threshold || (equal && s_running_equal + equal_before < take_equal));
    int out_before, kept_total;
    Scan(scan_storage).ExclusiveSum(keep, out_before, kept_total);
    const int running_out = s_running_out;
    if (keep) sel[running_out + out_before] = static_cast<std::int32_t>(j);
    __syncthreads();
    if (threadIdx.x == blockDim.x - 1) {
      s_running_equal += equal_before + equal;
      s_running_out += kept_total;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) a.selection_count[t] = static_cast<std::int32_t>(a.topk);
}

}  // namespace

void launch_indexer(const IndexerCoreArgs& a, int sm_count, cudaStream_t s) {
  if (a.nq <= 0) return;
  if (a.heads * a.head_dim > kMaxQueryFloats || a.head_dim % 4 != 0 || a.keys.width != a.head_dim)
    fail(ErrorKind::InvalidArgument, "indexer on CUDA needs head_dim divisible by 4, keys of head_dim values and "
                                     "heads·head_dim ≤ " + std::to_string(kMaxQueryFloats));
  // Keys are read four values at a time (kv_value4): quantized groups must not split a run of four.
  if (a.keys.groups > 0 && a.keys.group_shift < 2)
    fail(ErrorKind::InvalidArgument, "indexer on CUDA needs quantized key groups of at least 4 values");
  const std::int64_t want = std::max<std::int64_t>(1, 8 * sm_count / a.nq);
  const dim3 grid(grid_for(a.positions_bound, kScoreThreads, want), static_cast<unsigned>(a.nq));
  indexer_scores_kernel<<<grid, kScoreThreads, 0, s>>>(a);
  check_launch("indexer_scores");
  topk_kernel<<<static_cast<unsigned>(a.nq), kSelectThreads, 0, s>>>(a);
  check_launch("indexer_topk");
}

}  // namespace glmq::cuda
