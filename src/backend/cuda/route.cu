// The MoE router on the device: sigmoid scores, correction bias for the choice, group-limited top-k,
// normalised and scaled weights. One block per token; results stay on the device for moe_experts.
#include <climits>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/weight_decode.cuh"

namespace glmq::cuda {

namespace {

constexpr int kRouteThreads = 256;
constexpr int kMaxExperts = 1024;
constexpr int kMaxGroups = 64;
constexpr int kMaxTopK = 64;

// (value, index) pairs compare higher value first, then lower index: the CPU reference's order.
__device__ __forceinline__ bool better(float v, int i, float bv, int bi) { return v > bv || (v == bv && i < bi); }

__global__ void __launch_bounds__(kRouteThreads) route_kernel(RouteArgs a) {
  begin_dependent_kernel();
  __shared__ float prob[kMaxExperts], choice[kMaxExperts], group_score[kMaxGroups];
  __shared__ int chosen[kMaxTopK];
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
  // The top-k by warp 0 alone: k rounds of a lane-local scan and a shuffle argmax, no block barriers (the
  // block-wide argmax took three barriers a round). The lane holding the winner marks it, so each lane only
  // rereads the entries it wrote.
  if (threadIdx.x < 32) {
    const int lane = static_cast<int>(threadIdx.x);
    for (int k = 0; k < a.top_k; ++k) {
      float v = -INFINITY;
      int i = INT_MAX;
      for (int e = lane; e < E; e += 32)
        if (better(choice[e], e, v, i)) { v = choice[e]; i = e; }
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, v, o);
        const int oi = __shfl_xor_sync(0xffffffffu, i, o);
        if (better(ov, oi, v, i)) { v = ov; i = oi; }
      }
      if (lane == 0) chosen[k] = i;
      if (i % 32 == lane) choice[i] = NAN;  // never better than anything: not chosen twice, even among masked (-inf) experts
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float sum = 0.0f;
    for (int k = 0; k < a.top_k; ++k) sum += prob[chosen[k]];
    const float norm = a.norm_topk_prob ? 1.0f / (sum + 1e-20f) : 1.0f;
    for (int k = 0; k < a.top_k; ++k) {
      a.experts[t * a.top_k + k] = chosen[k];
      a.weights[t * a.top_k + k] = prob[chosen[k]] * norm * a.routed_scaling_factor;
    }
  }
}

}  // namespace

void launch_moe_route(const RouteArgs& a, cudaStream_t s) {
  if (a.n_tokens <= 0) return;
  if (a.n_experts > kMaxExperts || a.n_group > kMaxGroups || a.top_k > kMaxTopK || a.top_k > a.n_experts)
    fail(ErrorKind::InvalidArgument, "moe_route on CUDA supports up to " + std::to_string(kMaxExperts) + " experts, " +
                                         std::to_string(kMaxGroups) + " groups and top-" + std::to_string(kMaxTopK));
  launch("moe_route", route_kernel, static_cast<unsigned>(a.n_tokens), kRouteThreads, 0, s, a);
}

}  // namespace glmq::cuda
