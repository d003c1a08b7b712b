// Sparse absorbed MLA, the part between the two per-head projections: scores of every head against the
// selected cached latents (+ shared rope key), softmax, and the probability-weighted sum of latents.
// All heads of a query share its selection, so tiles of 32 heads reuse each gathered latent row. Cached rows
// are decoded from their storage format (kv_decode.cuh) as the tiles are loaded.
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/kv_decode.cuh"
#include "backend/cuda/launch_util.cuh"
#include "backend/cuda/weight_decode.cuh"

namespace glmq::cuda {

namespace {

// 128-deep k steps: each step's loads (32 per thread) are issued together, and a 576-wide score product takes
// 5 barrier-separated steps rather than 9 at 64 deep (at decode the kernels are bound by these steps' latency,
// not by their arithmetic).
constexpr int kTileH = 32, kTileN = 32, kTileK = 128;
constexpr int kSoftmaxThreads = 256;

constexpr int kTileLoads = kTileK * kTileH / kThreads;  // elements of A (and of B) each thread loads per step
constexpr int kTileRowStep = kThreads / kTileK;            // thread t loads rows t / kTileK + kTileRowStep·i

// acc[i][j] += Σ_k A(2·hh + i, k)·B(k, 2·jj + j) over k in [k_begin, k_end), for the block's 32×32 tile;
// thread (hh, jj) = (tid / 16, tid % 16). Per step thread t loads column k = k0 + t % kTileK of A and row k
// of B for the tile rows m = t / kTileK + kTileRowStep·i (i < kTileLoads), all with one call each:
// load_a(m0, k, in, a) and load_b(k, m0, in, b) fill a[i], b[i] for m = m0 + kTileRowStep·i (0 where !in).
// Batched loads let a loader issue all its independent loads (cache rows are gathered through the selection)
// before waiting on any: element-wise loaders behind the cache format's branches ran one round trip at a time.
template <class LoadA, class LoadB>
__device__ __forceinline__ void tile_product(std::int64_t k_begin, std::int64_t k_end, LoadA load_a, LoadB load_b,
                                             float (&acc)[2][2]) {
  __shared__ __align__(16) float as[kTileK][kTileH + 2];
  __shared__ __align__(16) float bs[kTileK][kTileN + 2];
  const int tid = static_cast<int>(threadIdx.x), hh = tid / 16, jj = tid % 16;
  const int kk = tid % kTileK, m0 = tid / kTileK;
  for (std::int64_t k0 = k_begin; k0 < k_end; k0 += kTileK) {
    const std::int64_t k = k0 + kk;
    const bool in = k < k_end;
    float a[kTileLoads], b[kTileLoads];
    load_a(m0, k, in, a);
    load_b(k, m0, in, b);
#pragma unroll
    for (int i = 0; i < kTileLoads; ++i) {
      as[kk][m0 + kTileRowStep * i] = a[i];
      bs[kk][m0 + kTileRowStep * i] = b[i];
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kTileK; ++k) {
      const float2 a = *reinterpret_cast<const float2*>(&as[k][2 * hh]);
      const float2 b = *reinterpret_cast<const float2*>(&bs[k][2 * jj]);
      acc[0][0] = fmaf(a.x, b.x, acc[0][0]);
      acc[0][1] = fmaf(a.x, b.y, acc[0][1]);
      acc[1][0] = fmaf(a.y, b.x, acc[1][0]);
      acc[1][1] = fmaf(a.y, b.y, acc[1][1]);
    }
    __syncthreads();
  }
}

// grid: (selection tiles, head tiles, queries). scores[t, h, j] = scale·(q̃_h·c_sel[j] + q_pe_h·k_pe_sel[j]).
__global__ void __launch_bounds__(kThreads) mla_scores_kernel(MlaCoreArgs a) {
  begin_dependent_kernel();
  __shared__ std::int64_t tile_pos[kTileN];
  const std::int64_t t = blockIdx.z, h0 = blockIdx.y * kTileH, j0 = blockIdx.x * kTileN;
  const std::int64_t count = a.selection_count[t];
  if (j0 >= count) return;
  const std::int32_t* sel = a.selection + t * a.selection_stride;
  // The tile's cache positions, read once (−1 past the selection).
  if (threadIdx.x < kTileN) tile_pos[threadIdx.x] = j0 + threadIdx.x < count ? sel[j0 + threadIdx.x] : -1;
  __syncthreads();
  const std::int64_t R = a.latent_dim, heads = a.heads;
  const float* ql = a.q_latent + t * heads * R;
  const float* qr = a.q_rope + t * a.q_rope_token_stride;
  auto load_a = [&](int m0, std::int64_t k, bool in, float (&v)[kTileLoads]) {
#pragma unroll
    for (int i = 0; i < kTileLoads; ++i) {
      const std::int64_t h = h0 + m0 + kTileRowStep * i;
      v[i] = !in || h >= heads ? 0.0f : k < R ? ql[h * R + k] : qr[h * a.q_rope_head_stride + (k - R)];
    }
  };
  auto load_b = [&](std::int64_t k, int m0, bool in, float (&v)[kTileLoads]) {
    std::int64_t pos[kTileLoads];
#pragma unroll
    for (int i = 0; i < kTileLoads; ++i) pos[i] = in ? tile_pos[m0 + kTileRowStep * i] : -1;
    if (k < R) {
      kv_values(a.latent, pos, k, v);
    } else {
      kv_values(a.k_rope, pos, in ? k - R : 0, v);
    }
  };
  float acc[2][2] = {};
  tile_product(0, R + a.rope_dim, load_a, load_b, acc);
  const int hh = static_cast<int>(threadIdx.x) / 16, jj = static_cast<int>(threadIdx.x) % 16;
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const std::int64_t h = h0 + 2 * hh + i, n = j0 + 2 * jj + j;
      if (h < heads && n < count) a.scores[(t * heads + h) * a.selection_stride + n] = a.scale * acc[i][j];
    }
}

// Reduction over a block of kSoftmaxThreads threads (max or sum); every thread gets the result.
template <bool MAX>
__device__ float softmax_block_reduce(float v, float* scratch) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float w = __shfl_xor_sync(0xffffffffu, v, o);
    v = MAX ? fmaxf(v, w) : v + w;
  }
  const int lane = static_cast<int>(threadIdx.x & 31), warp = static_cast<int>(threadIdx.x >> 5);
  __syncthreads();  // scratch may still be read from a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < kSoftmaxThreads / 32 ? scratch[lane] : (MAX ? -INFINITY : 0.0f);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float w = __shfl_xor_sync(0xffffffffu, v, o);
    v = MAX ? fmaxf(v, w) : v + w;
  }
  return v;
}

// One block per (query, head): scores → probabilities in place over the query's selection (a block rather
// than a warp per row: each pass then has few dependent loads per thread).
__global__ void __launch_bounds__(kSoftmaxThreads) softmax_kernel(MlaCoreArgs a) {
  begin_dependent_kernel();
  __shared__ float scratch[kSoftmaxThreads / 32];
  const std::int64_t row = blockIdx.x;
  const std::int64_t count = a.selection_count[row / a.heads];
  float* s = a.scores + row * a.selection_stride;
  float m = -INFINITY;
  for (std::int64_t j = threadIdx.x; j < count; j += kSoftmaxThreads) m = fmaxf(m, s[j]);
  m = softmax_block_reduce<true>(m, scratch);
  float sum = 0.0f;
  for (std::int64_t j = threadIdx.x; j < count; j += kSoftmaxThreads) {
    const float e = expf(s[j] - m);
    s[j] = e;
    sum += e;
  }
  sum = softmax_block_reduce<false>(sum, scratch);
  const float inv = 1.0f / sum;
  for (std::int64_t j = threadIdx.x; j < count; j += kSoftmaxThreads) s[j] *= inv;
}

// grid: (latent tiles, head tiles, queries × splits). o[t, h, :] (+)= Σ_j p[t, h, j]·c_sel[j] over the split.
__global__ void __launch_bounds__(kThreads) mla_values_kernel(MlaCoreArgs a, int splits) {
  begin_dependent_kernel();
  const std::int64_t t = blockIdx.z / splits, split = blockIdx.z % splits;
  const std::int64_t h0 = blockIdx.y * kTileH, c0 = blockIdx.x * kTileN;
  const std::int64_t count = a.selection_count[t];
  const std::int64_t per_split = (a.selection_stride + splits - 1) / splits;
  const std::int64_t k_begin = split * per_split, k_end = min(count, k_begin + per_split);
  if (k_begin >= k_end) return;
  const std::int32_t* sel = a.selection + t * a.selection_stride;
  const std::int64_t R = a.latent_dim, heads = a.heads;
  const float* p = a.scores + t * heads * a.selection_stride;
  auto load_a = [&](int m0, std::int64_t k, bool in, float (&v)[kTileLoads]) {
#pragma unroll
    for (int i = 0; i < kTileLoads; ++i) {
      const std::int64_t h = h0 + m0 + kTileRowStep * i;
      v[i] = in && h < heads ? p[h * a.selection_stride + k] : 0.0f;
    }
  };
  auto load_b = [&](std::int64_t k, int m0, bool in, float (&v)[kTileLoads]) {
    const std::int64_t row = in ? sel[k] : -1;
    std::int64_t pos[kTileLoads];
#pragma unroll
    for (int i = 0; i < kTileLoads; ++i) pos[i] = c0 + m0 + kTileRowStep * i < R ? row : -1;
    kv_values(a.latent, pos, c0 + m0, v, kTileRowStep);
  };
  float acc[2][2] = {};
  tile_product(k_begin, k_end, load_a, load_b, acc);
  const int hh = static_cast<int>(threadIdx.x) / 16, jj = static_cast<int>(threadIdx.x) % 16;
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const std::int64_t h = h0 + 2 * hh + i, c = c0 + 2 * jj + j;
      if (h >= heads || c >= R) continue;
      float* o = a.o_latent + (t * heads + h) * R + c;
      if (splits == 1) *o = acc[i][j]; else atomicAdd(o, acc[i][j]);
    }
}

unsigned tiles(std::int64_t n, int tile) { return static_cast<unsigned>((n + tile - 1) / tile); }

}  // namespace

void launch_mla_core(const MlaCoreArgs& a, int sm_count, cudaStream_t s) {
  if (a.nq <= 0) return;
  const dim3 score_grid(tiles(a.selection_stride, kTileN), tiles(a.heads, kTileH), static_cast<unsigned>(a.nq));
  launch("mla_scores", mla_scores_kernel, score_grid, kThreads, 0, s, a);
  launch("mla_softmax", softmax_kernel, static_cast<unsigned>(a.nq * a.heads), kSoftmaxThreads, 0, s, a);
  // Split each query's selection so that even one query fills the chip; splits add into a zeroed output.
  const std::int64_t base = static_cast<std::int64_t>(tiles(a.latent_dim, kTileN)) * tiles(a.heads, kTileH) * a.nq;
  const int splits = static_cast<int>(std::clamp<std::int64_t>(2 * sm_count / base, 1, std::max<std::int64_t>(1, a.selection_stride / 64)));
  if (splits > 1) launch_fill(a.o_latent, 0.0f, a.nq * a.heads * a.latent_dim, s);
  const dim3 value_grid(tiles(a.latent_dim, kTileN), tiles(a.heads, kTileH), static_cast<unsigned>(a.nq * splits));
  launch("mla_values", mla_values_kernel, value_grid, kThreads, 0, s, a, splits);
}

}  // namespace glmq::cuda
