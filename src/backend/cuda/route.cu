// The MoE router on the device: sigmoid scores, correction bias for the choice, group-limited top-k,
// normalised and scaled weights. One block per token; results stay on the device for moe_experts.
#include <climits>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/order_key.cuh"
#include "backend/cuda/weight_decode.cuh"

namespace glmq::cuda {

namespace {

constexpr int kRouteThreads = 256, kRouteWarps = kRouteThreads / 32;
constexpr int kMaxExperts = 1024;
constexpr int kMaxGroups = 64;
constexpr int kMaxTopK = 64;

// The best k (key, index) pairs of a warp, N per lane, in order (higher key first, then lower index: the CPU
// reference's order), to out_key/out_idx (lane 0 writes). A round is two warp reductions — the best key, then
// the lowest index holding it — after which the winning lane drops that entry and finds its next best among
// its N registers. Entries with index INT_MAX are padding (key 0, last in the order).
template <int N>
__device__ __forceinline__ void warp_top_k(unsigned (&key)[N], int (&idx)[N], int k, unsigned* out_key, int* out_idx) {
  const int lane = static_cast<int>(threadIdx.x & 31);
  unsigned bk = 0;
  int bi = INT_MAX, bj = 0;
  const auto local_best = [&] {
    bk = key[0];
    bi = idx[0];
    bj = 0;
#pragma unroll
    for (int j = 1; j < N; ++j)
      if (key[j] > bk || (key[j] == bk && idx[j] < bi)) {
        bk = key[j];
        bi = idx[j];
        bj = j;
      }
  };
  local_best();
  for (int r = 0; r < k; ++r) {
    const unsigned top = __reduce_max_sync(0xffffffffu, bk);
    const int i = static_cast<int>(__reduce_min_sync(0xffffffffu, bk == top ? static_cast<unsigned>(bi) : 0xffffffffu));
    if (lane == 0) {
      out_key[r] = top;
      out_idx[r] = i;
    }
    if (bk == top && bi == i) {
#pragma unroll
      for (int j = 0; j < N; ++j)
        if (j == bj) {
          key[j] = 0u;
          idx[j] = INT_MAX;
        }
      local_best();
    }
  }
}

template <int N1, int N2>
__global__ void __launch_bounds__(kRouteThreads) route_kernel(RouteArgs a) {
  begin_dependent_kernel();
  __shared__ float prob[kMaxExperts], choice[kMaxExperts], group_score[kMaxGroups];
  __shared__ unsigned cand_key[kRouteWarps * kMaxTopK];
  __shared__ int cand[kRouteWarps * kMaxTopK], chosen[kMaxTopK];
  const std::int64_t t = blockIdx.x;
  const int E = static_cast<int>(a.n_experts);
  for (int e = static_cast<int>(threadIdx.x); e < E; e += kRouteThreads) {
    const float p = 1.0f / (1.0f + expf(-a.logits[t * E + e]));
    prob[e] = p;
    choice[e] = p + a.correction_bias[e];
  }
  __syncthreads();
  if (a.n_group > 1) {
    const int G = static_cast<int>(a.n_group), per = E / G;
    for (int g = static_cast<int>(threadIdx.x); g < G; g += kRouteThreads) {
      float best = -INFINITY, second = -INFINITY;
      for (int e = g * per; e < (g + 1) * per; ++e) {
        const float c = choice[e];
        if (c > best) { second = best; best = c; } else if (c > second) { second = c; }
      }
      group_score[g] = best + second;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      // Keep the topk_group best groups (ties: the lower group, as a stable sort does); mask the rest.
      bool keep[kMaxGroups];
      for (int g = 0; g < G; ++g) keep[g] = false;
      for (int r = 0; r < a.topk_group; ++r) {
        int bi = -1;
        for (int g = 0; g < G; ++g)
          if (!keep[g] && (bi < 0 || group_score[g] > group_score[bi])) bi = g;
        keep[bi] = true;
      }
      for (int g = 0; g < G; ++g)
        if (!keep[g])
          for (int e = g * per; e < (g + 1) * per; ++e) choice[e] = -INFINITY;
    }
    __syncthreads();
  }
  // Top-k in two rounds of warp_top_k: each warp picks the best k of its entries (e ≡ thread mod 256), then
  // warp 0 picks the best k of those 8·k candidates.
  const int lane = static_cast<int>(threadIdx.x & 31), warp = static_cast<int>(threadIdx.x >> 5);
  const int k = static_cast<int>(a.top_k), k1 = min(k, 32 * N1);
  {
    unsigned key[N1];
    int idx[N1];
#pragma unroll
    for (int j = 0; j < N1; ++j) {
      const int e = static_cast<int>(threadIdx.x) + kRouteThreads * j;
      key[j] = e < E ? order_key(choice[e]) : 0u;
      idx[j] = e < E ? e : INT_MAX;
    }
    warp_top_k<N1>(key, idx, k1, cand_key + warp * k1, cand + warp * k1);
  }
  __syncthreads();
  if (warp == 0) {
    unsigned key[N2];
    int idx[N2];
#pragma unroll
    for (int j = 0; j < N2; ++j) {
      const int c = lane + 32 * j;
      key[j] = c < kRouteWarps * k1 ? cand_key[c] : 0u;
      idx[j] = c < kRouteWarps * k1 ? cand[c] : INT_MAX;
    }
    warp_top_k<N2>(key, idx, k, cand_key, chosen);
    __syncwarp();
    float sum = 0.0f;
    for (int r = lane; r < k; r += 32) sum += prob[chosen[r]];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    const float norm = a.norm_topk_prob ? 1.0f / (sum + 1e-20f) : 1.0f;
    for (int r = lane; r < k; r += 32) {
      a.experts[t * k + r] = chosen[r];
      a.weights[t * k + r] = prob[chosen[r]] * norm * a.routed_scaling_factor;
    }
  }
}

}  // namespace

void launch_moe_route(const RouteArgs& a, cudaStream_t s) {
  if (a.n_tokens <= 0) return;
  if (a.n_experts > kMaxExperts || a.n_group > kMaxGroups || a.top_k > kMaxTopK || a.top_k > a.n_experts)
    fail(ErrorKind::InvalidArgument, "moe_route on CUDA supports up to " + std::to_string(kMaxExperts) + " experts, " +
                                         std::to_string(kMaxGroups) + " groups and top-" + std::to_string(kMaxTopK));
  // Registers per lane: one entry each where the experts fit one per thread and the candidates two per lane
  // (GLM-5.2: 256 experts, top-8), else the most launch_moe_route allows.
  const bool small = a.n_experts <= kRouteThreads && kRouteWarps * a.top_k <= 64;
  launch("moe_route", small ? route_kernel<1, 2> : route_kernel<kMaxExperts / kRouteThreads, kRouteWarps * kMaxTopK / 32>,
         static_cast<unsigned>(a.n_tokens), kRouteThreads, 0, s, a);
}

}  // namespace glmq::cuda
