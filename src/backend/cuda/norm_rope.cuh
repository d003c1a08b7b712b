#pragma once
// RMSNorm, LayerNorm and rotary embedding of one row by one block: the bodies of norm_rope.cu's kernels, and of
// attention_entry.cu's fused kernel (the short ops between q_a/kv_a and q_b as one launch).
#include <cstdint>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/q8_dot.cuh"
#include "backend/cuda/weight_decode.cuh"

namespace glmq::cuda {

// y = w ⊙ x / rms(x) over dim values (y may be x).
__device__ __forceinline__ void rms_norm_row(const float* x, const float* w, std::int64_t dim, float eps, float* y) {
  float ss = 0.0f;
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) ss += x[i] * x[i];
  ss = block_sum(ss);
  const float inv = rsqrtf(ss / static_cast<float>(dim) + eps);
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) y[i] = w[i] * (x[i] * inv);
}

// y = (x − mean) / std · w + b over dim values (y may be x: each thread rewrites only the values it read last).
__device__ __forceinline__ void layer_norm_row(const float* x, const float* w, const float* b, std::int64_t dim, float eps,
                                               float* y) {
  float sum = 0.0f;
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) sum += x[i];
  const float mean = block_sum(sum) / static_cast<float>(dim);
  float var = 0.0f;
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) var += (x[i] - mean) * (x[i] - mean);
  const float inv = rsqrtf(block_sum(var) / static_cast<float>(dim) + eps);
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) y[i] = (x[i] - mean) * inv * w[i] + b[i];
}

// Pair k of a row for position pos: (a, b) → (a·cos − b·sin, b·cos + a·sin), both × the attention factor. The
// angle is rounded to float32 before cos/sin (in double), exactly as the CPU reference and HF do: DSA top-k
// near-ties flip on tiny q/k drift.
__device__ __forceinline__ void rope_pair(float& a, float& b, float pos, const RopeTable& t, int k) {
  const float angle = pos * t.inv_freq[k];
  double s, c;
  sincos(static_cast<double>(angle), &s, &c);
  const float cf = static_cast<float>(c) * t.attention_factor, sf = static_cast<float>(s) * t.attention_factor;
  const float a0 = a, b0 = b;
  a = a0 * cf - b0 * sf;
  b = b0 * cf + a0 * sf;
}

// Rotates the pairs of v (t.half of them) for position pos; thread k of the block rotates pairs k, k + blockDim.x, ….
__device__ __forceinline__ void rope_row(float* v, float pos, const RopeTable& t) {
  for (int k = static_cast<int>(threadIdx.x); k < t.half; k += static_cast<int>(blockDim.x))
    rope_pair(v[t.interleaved ? 2 * k : k], v[t.interleaved ? 2 * k + 1 : k + t.half], pos, t, k);
}

// RMSNorm that also writes its output as int8 blocks (the decode path's next products read those), by a block
// of kNormQ8Threads: thread i holds 4-value quads i, i + kNormQ8Threads, … in registers, so x is read once with
// 16-byte loads, and each int8 block of 32 is 8 consecutive lanes' quads (quantize_quad). The norm runs on one
// multiprocessor, so its instruction count is its time: one warp-wide quantization per block of 32 (1024
// threads, 6 blocks per warp) kept its 1024 threads issuing for ~3 µs after the sum. With `residual`, x +=
// residual first (the row written back), so the residual add before a norm takes no launch of its own. The
// norm's weights are loaded before wait_for_inputs (they never change), the rows after it.
constexpr int kNormQ8Threads = 512, kNormQ8MaxQuads = 4;
__device__ __forceinline__ void rms_norm_q8_row(float* x, const float* residual, const float* w, std::int64_t dim,
                                                float eps, float* y, std::int8_t* q, float2* ds) {
  const int quads = static_cast<int>(dim / 4), tid = static_cast<int>(threadIdx.x);
  float4 wv[kNormQ8MaxQuads];
#pragma unroll
  for (int i = 0; i < kNormQ8MaxQuads; ++i) {
    const int k = tid + i * kNormQ8Threads;
    wv[i] = k < quads ? __ldg(reinterpret_cast<const float4*>(w) + k) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  }
  wait_for_inputs();
  // Every load is issued before the first store: a store to x between them could alias the next loads, and
  // the compiler then waits for each round trip to L2 in turn.
  float4 v[kNormQ8MaxQuads];
#pragma unroll
  for (int i = 0; i < kNormQ8MaxQuads; ++i) {
    const int k = tid + i * kNormQ8Threads;
    v[i] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (k < quads) {
      v[i] = reinterpret_cast<const float4*>(x)[k];
      if (residual) {
        const float4 r = reinterpret_cast<const float4*>(residual)[k];
        v[i] = make_float4(v[i].x + r.x, v[i].y + r.y, v[i].z + r.z, v[i].w + r.w);
      }
    }
  }
  float ss = 0.0f;
#pragma unroll
  for (int i = 0; i < kNormQ8MaxQuads; ++i) {
    const int k = tid + i * kNormQ8Threads;
    if (residual && k < quads) reinterpret_cast<float4*>(x)[k] = v[i];
    ss += v[i].x * v[i].x + v[i].y * v[i].y + v[i].z * v[i].z + v[i].w * v[i].w;
  }
  ss = block_sum(ss);
  const float inv = rsqrtf(ss / static_cast<float>(dim) + eps);
  const unsigned lane = threadIdx.x & 31;
#pragma unroll
  for (int i = 0; i < kNormQ8MaxQuads; ++i) {
    const int k = tid + i * kNormQ8Threads;
    if (k < quads) {  // whole blocks of 32 (8 lanes) are in or out: quads is a multiple of 8
      const float4 f = make_float4(wv[i].x * (v[i].x * inv), wv[i].y * (v[i].y * inv), wv[i].z * (v[i].z * inv),
                                   wv[i].w * (v[i].w * inv));
      reinterpret_cast<float4*>(y)[k] = f;
      quantize_quad(f, 0xFFu << (lane & ~7u), q + 4 * k, ds + k / 8);
    }
  }
}

}  // namespace glmq::cuda
