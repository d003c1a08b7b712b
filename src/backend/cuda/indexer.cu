// The DSA lightning indexer on the device: per query, I(j) = Σ_g w_g·ReLU(scale·q_g·k_j) over the visible
// positions (a score row per query, never for all queries at once), then an exact top-k by radix select,
// emitted in ascending position order with ties resolved toward earlier positions (as the CPU reference).
#include <cub/block/block_scan.cuh>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/kv_decode.cuh"
#include "backend/cuda/launch_util.cuh"
#include "backend/cuda/order_key.cuh"
#include "backend/cuda/weight_decode.cuh"

namespace glmq::cuda {

namespace {

constexpr int kScoreThreads = 128;
constexpr int kHeadGroups = 4;                                // threads per position, each a share of the heads
constexpr int kPositionsPerBlock = kScoreThreads / kHeadGroups;
constexpr int kMaxQueryFloats = 8192;  // heads × head_dim staged in shared memory
constexpr int kMaxHeads = 64;
constexpr int kKeyChunk = 8;  // float4s of a key row loaded together
constexpr int kStageVectors = 8;  // float4s of the query a thread loads together
constexpr int kSelectThreads = 1024;
constexpr int kCachedKeys = 8;  // keys per thread the top-k keeps in registers (contexts up to 8K in one read)

// grid: (position blocks, queries). kHeadGroups consecutive threads score one position, thread g taking
// heads g, g + kHeadGroups, …; query rows are staged with 4 floats of padding, so the group's threads read
// consecutive rows from distinct banks while the 8 positions of a warp share them (broadcast).
__global__ void __launch_bounds__(kScoreThreads) indexer_scores_kernel(IndexerCoreArgs a) {
  begin_dependent_kernel();
  __shared__ __align__(16) float q[kMaxQueryFloats + 4 * kMaxHeads];
  __shared__ float w[kMaxHeads];
  const std::int64_t t = blockIdx.y;
  const std::int64_t visible = static_cast<std::int64_t>(a.positions[t]) + 1;
  if (visible <= a.topk) return;  // everything visible is selected; no scores needed
  // positions_bound may exceed the visible positions by much (a captured decode step keeps one bound for
  // many positions): blocks past them have nothing to score.
  if (static_cast<std::int64_t>(blockIdx.x) * kPositionsPerBlock >= visible) return;
  const int H = static_cast<int>(a.heads), D = static_cast<int>(a.head_dim), stride = D + 4;
  const int per_group = (H + kHeadGroups - 1) / kHeadGroups;
  // The query as float4s (D is a multiple of 4), all of a thread's loads issued before any store: a plain
  // strided loop waited on one load at a time, 32 round trips per block at 32 heads × 128.
  const float4* q4 = reinterpret_cast<const float4*>(a.q + t * H * D);
  const int D4 = D / 4, n4 = H * D4;
  for (int e0 = 0; e0 < n4; e0 += kStageVectors * kScoreThreads) {
    float4 v[kStageVectors];
#pragma unroll
    for (int i = 0; i < kStageVectors; ++i) {
      const int e = e0 + i * kScoreThreads + static_cast<int>(threadIdx.x);
      if (e < n4) v[i] = q4[e];
    }
#pragma unroll
    for (int i = 0; i < kStageVectors; ++i) {
      const int e = e0 + i * kScoreThreads + static_cast<int>(threadIdx.x);
      if (e < n4) *reinterpret_cast<float4*>(q + (e / D4) * stride + 4 * (e % D4)) = v[i];
    }
  }
  for (int h = static_cast<int>(threadIdx.x); h < H; h += blockDim.x) w[h] = a.head_weights[t * H + h];
  __syncthreads();
  const int g = static_cast<int>(threadIdx.x) % kHeadGroups;
  const std::int64_t j = static_cast<std::int64_t>(blockIdx.x) * kPositionsPerBlock + threadIdx.x / kHeadGroups;
  float score = 0.0f;
  if (j < visible) {
    for (int i0 = 0; i0 < per_group; i0 += 8) {
      float acc[8] = {};
      for (int c0 = 0; c0 < D / 4; c0 += kKeyChunk) {
        // A chunk of the key row, loaded (decoded from the cache format) before any use: one round trip per
        // chunk rather than one per 4 values.
        float4 kv[kKeyChunk];
        kv_value4_run(a.keys, j, 4 * c0, D, kv);
#pragma unroll
        for (int c = 0; c < kKeyChunk; ++c) {
          if (c0 + c >= D / 4) break;
#pragma unroll
          for (int i = 0; i < 8; ++i) {
            if (i0 + i < per_group && (i0 + i) * kHeadGroups + g < H) {
              const int h = (i0 + i) * kHeadGroups + g;
              const float4 qv = *reinterpret_cast<const float4*>(q + h * stride + 4 * (c0 + c));
              acc[i] = fmaf(qv.x, kv[c].x, fmaf(qv.y, kv[c].y, fmaf(qv.z, kv[c].z, fmaf(qv.w, kv[c].w, acc[i]))));
            }
          }
        }
      }
#pragma unroll
      for (int i = 0; i < 8; ++i)
        if (i0 + i < per_group && (i0 + i) * kHeadGroups + g < H)
          score += w[(i0 + i) * kHeadGroups + g] * fmaxf(acc[i] * a.scale, 0.0f);
    }
  }
  // The group's 4 threads are consecutive lanes of one warp.
#pragma unroll
  for (int o = kHeadGroups / 2; o > 0; o >>= 1) score += __shfl_xor_sync(0xffffffffu, score, o);
  if (g == 0 && j < visible) a.scores[t * a.positions_bound + j] = score;
}

// The warp's count of each bin, added to hist once per distinct bin (lanes with bin < 0 take no part): the
// keys of a round often share a few bins (scores of one magnitude share their top byte), and 32 lanes adding
// to one shared-memory word one after another cost the select more than the rest of its round.
__device__ __forceinline__ void add_to_bins(int* hist, int bin) {
  const unsigned peers = __match_any_sync(0xffffffffu, bin);
  if (bin >= 0 && static_cast<int>(threadIdx.x & 31) == __ffs(peers) - 1) atomicAdd(&hist[bin], __popc(peers));
}

// One block per query: finds the k-th largest key by 4 rounds of 8-bit radix histograms, then writes every
// position above it and the first (in position order) of those equal to it, ascending. Positions go in tiles
// of kSelectThreads · kCachedKeys, thread i taking kCachedKeys consecutive ones of each tile; the first tile's
// keys stay in registers for all rounds (contexts up to 8K are read once), later tiles are re-read.
__global__ void __launch_bounds__(kSelectThreads) topk_kernel(IndexerCoreArgs a) {
  begin_dependent_kernel();
  using Scan = cub::BlockScan<unsigned, kSelectThreads>;
  __shared__ typename Scan::TempStorage scan_storage;
  __shared__ int hist[256];
  __shared__ std::uint32_t s_prefix;
  __shared__ int s_remaining;
  constexpr std::int64_t kTile = static_cast<std::int64_t>(kSelectThreads) * kCachedKeys;
  const std::int64_t t = blockIdx.x;
  const std::int64_t visible = static_cast<std::int64_t>(a.positions[t]) + 1;
  std::int32_t* sel = a.selection + t * a.topk;
  if (visible <= a.topk) {
    for (std::int64_t j = threadIdx.x; j < visible; j += blockDim.x) sel[j] = static_cast<std::int32_t>(j);
    if (threadIdx.x == 0) a.selection_count[t] = static_cast<std::int32_t>(visible);
    return;
  }
  const float* scores = a.scores + t * a.positions_bound;
  const std::int64_t first = static_cast<std::int64_t>(threadIdx.x) * kCachedKeys;  // in each tile
  // Keys of this thread's positions of tile `base` (0 past the visible ones, which no count includes).
  const auto tile_keys = [&](std::int64_t base, std::uint32_t (&keys)[kCachedKeys]) {
#pragma unroll
    for (int i = 0; i < kCachedKeys; ++i) {
      const std::int64_t j = base + first + i;
      keys[i] = j < visible ? order_key(scores[j]) : 0u;
    }
  };
  std::uint32_t cached[kCachedKeys];
  tile_keys(0, cached);
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
    const auto count = [&](std::int64_t base, const std::uint32_t (&keys)[kCachedKeys]) {
#pragma unroll
      for (int i = 0; i < kCachedKeys; ++i) {
        const bool in = base + first + i < visible && (keys[i] & high_mask) == prefix;
        add_to_bins(hist, in ? static_cast<int>((keys[i] >> shift) & 0xffu) : -1);
      }
    };
    count(0, cached);
    for (std::int64_t base = kTile; base < visible; base += kTile) {
      std::uint32_t keys[kCachedKeys];
      tile_keys(base, keys);
      count(base, keys);
    }
    __syncthreads();
    if (threadIdx.x < 32) {
      // The bin holding the remaining-th largest key, found by warp 0: lane l sums bins 8l..8l+7, the lanes
      // above it (a warp scan) give the count above its bins, and the one lane whose range crosses
      // `remaining` walks its 8 bins down (bin 0 if none does, as a sequential walk would).
      const int lane = static_cast<int>(threadIdx.x), remaining = s_remaining;
      int local = 0;
#pragma unroll
      for (int b = 0; b < 8; ++b) local += hist[8 * lane + b];
      int inclusive = local;  // Σ over lanes 0..lane
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const int v = __shfl_up_sync(0xffffffffu, inclusive, o);
        if (lane >= o) inclusive += v;
      }
      const int above = __shfl_sync(0xffffffffu, inclusive, 31) - inclusive;  // Σ over the lanes above
      const bool mine = above < remaining && above + local >= remaining;
      int bin = -1, left = remaining - above;
      if (mine) {
        for (int b = 8 * lane + 7; b >= 8 * lane; --b) {
          if (hist[b] >= left) {
            bin = b;
            break;
          }
          left -= hist[b];
        }
      }
      const unsigned found = __ballot_sync(0xffffffffu, mine);
      if (found == 0 && lane == 0) {
        s_prefix = prefix;  // bin 0
        s_remaining = remaining - above;
      } else if (mine) {
        s_prefix = prefix | (static_cast<std::uint32_t>(bin) << shift);
        s_remaining = left;
      }
    }
    __syncthreads();
  }
  const std::uint32_t threshold = s_prefix;
  const auto take_equal = static_cast<std::uint32_t>(s_remaining);  // how many keys equal to the threshold are selected
  // Output slot of a selected position: the positions above the threshold before it plus the selected equal
  // ones before it (the first take_equal in position order). One block scan per tile gives both counts before
  // each thread's run, packed (greater count high, equal count low: each at most kTile).
  std::uint32_t greater_base = 0, equal_base = 0;
  const auto emit = [&](std::int64_t base, const std::uint32_t (&keys)[kCachedKeys]) {
    std::uint32_t greater = 0, equal = 0;
#pragma unroll
    for (int i = 0; i < kCachedKeys; ++i) {
      if (base + first + i < visible) {
        greater += keys[i] > threshold;
        equal += keys[i] == threshold;
      }
    }
    std::uint32_t before, total;
    Scan(scan_storage).ExclusiveSum((greater << 16) | equal, before, total);
    std::uint32_t g = greater_base + (before >> 16), e = equal_base + (before & 0xffffu);
#pragma unroll
    for (int i = 0; i < kCachedKeys; ++i) {
      const std::int64_t j = base + first + i;
      if (j >= visible) break;
      if (keys[i] > threshold) {
        sel[g + min(e, take_equal)] = static_cast<std::int32_t>(j);
        ++g;
      } else if (keys[i] == threshold) {
        if (e < take_equal) sel[g + e] = static_cast<std::int32_t>(j);
        ++e;
      }
    }
    greater_base += total >> 16;
    equal_base += total & 0xffffu;
    __syncthreads();  // scan_storage is reused by the next tile
  };
  emit(0, cached);
  for (std::int64_t base = kTile; base < visible; base += kTile) {
    std::uint32_t keys[kCachedKeys];
    tile_keys(base, keys);
    emit(base, keys);
  }
  if (threadIdx.x == 0) a.selection_count[t] = static_cast<std::int32_t>(a.topk);
}

}  // namespace

void launch_indexer(const IndexerCoreArgs& a, cudaStream_t s) {
  if (a.nq <= 0) return;
  if (a.heads * a.head_dim > kMaxQueryFloats || a.head_dim % 4 != 0 || a.keys.width != a.head_dim ||
      a.heads > kMaxHeads)
    fail(ErrorKind::InvalidArgument, "indexer on CUDA needs head_dim divisible by 4, keys of head_dim values, "
                                     "heads·head_dim ≤ " + std::to_string(kMaxQueryFloats) + " and at most " +
                                     std::to_string(kMaxHeads) + " heads");
  // Keys are read four values at a time (kv_value4): quantized groups must not split a run of four.
  if (a.keys.groups > 0 && a.keys.group_shift < 2)
    fail(ErrorKind::InvalidArgument, "indexer on CUDA needs quantized key groups of at least 4 values");
  const dim3 grid(static_cast<unsigned>((a.positions_bound + kPositionsPerBlock - 1) / kPositionsPerBlock),
                  static_cast<unsigned>(a.nq));
  launch("indexer_scores", indexer_scores_kernel, grid, kScoreThreads,
         smem_spreading(indexer_scores_kernel, std::int64_t{grid.x} * grid.y), s, a);
  launch("indexer_topk", topk_kernel, static_cast<unsigned>(a.nq), kSelectThreads, 0, s, a);
}

}  // namespace glmq::cuda
