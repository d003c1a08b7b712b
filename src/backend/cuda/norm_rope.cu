// RMSNorm, LayerNorm (one block per row) and rotary embeddings.
#include <algorithm>
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch_util.cuh"
#include "backend/cuda/q8_dot.cuh"
#include "backend/cuda/weight_decode.cuh"

namespace glmq::cuda {

namespace {

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
__device__ float block_sum(float v) {
  __shared__ float partial[32];
  const int lane = static_cast<int>(threadIdx.x & 31), warp = static_cast<int>(threadIdx.x >> 5);
  v = warp_sum(v);
  __syncthreads();  // partial[] may still be read from a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  const int warps = static_cast<int>(blockDim.x >> 5);
  float total = lane < warps ? partial[lane] : 0.0f;
  return warp_sum(total);
}

__global__ void rms_norm_kernel(const float* x, std::int64_t x_stride, const float* w, std::int64_t dim, float eps,
                                float* y) {
  begin_dependent_kernel();
  const float* xr = x + blockIdx.x * x_stride;
  float* yr = y + blockIdx.x * dim;
  float ss = 0.0f;
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
  ss = block_sum(ss);
  const float inv = rsqrtf(ss / static_cast<float>(dim) + eps);
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = w[i] * (xr[i] * inv);
}

// RMSNorm that also writes its output as int8 blocks (the decode path's next products read those). One block
// of kNormQ8Threads per row; thread i holds 4-value quads i, i + kNormQ8Threads, … in registers, so x is read
// once with 16-byte loads, and each int8 block of 32 is 8 consecutive lanes' quads (quantize_quad). The norm
// runs on one multiprocessor, so its instruction count is its time: one warp-wide quantization per block of 32
// (1024 threads, 6 blocks per warp) kept its 1024 threads issuing for ~3 µs after the sum. With `residual`,
// x += residual first (the row written back), so the residual add before a norm takes no launch of its own.
constexpr int kNormQ8Threads = 512, kNormQ8MaxQuads = 4;
__global__ void __launch_bounds__(kNormQ8Threads) rms_norm_q8_kernel(float* x, std::int64_t x_stride, const float* residual,
                                                                     const float* w, std::int64_t dim, float eps, float* y,
                                                                     Q8View out) {
  allow_dependents();
  float* xr = x + blockIdx.x * x_stride;
  const float* rr = residual ? residual + blockIdx.x * dim : nullptr;
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * dim;
  const int quads = static_cast<int>(dim / 4), tid = static_cast<int>(threadIdx.x);
  // The norm's weights are loaded while the previous kernel finishes (they never change).
  float4 wv[kNormQ8MaxQuads];
#pragma unroll
  for (int i = 0; i < kNormQ8MaxQuads; ++i) {
    const int q = tid + i * kNormQ8Threads;
    wv[i] = q < quads ? __ldg(reinterpret_cast<const float4*>(w) + q) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  }
  wait_for_inputs();
  // Every load is issued before the first store: a store to x between them could alias the next loads, and
  // the compiler then waits for each round trip to L2 in turn.
  float4 v[kNormQ8MaxQuads];
#pragma unroll
  for (int i = 0; i < kNormQ8MaxQuads; ++i) {
    const int q = tid + i * kNormQ8Threads;
    v[i] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (q < quads) {
      v[i] = reinterpret_cast<const float4*>(xr)[q];
      if (rr) {
        const float4 r = reinterpret_cast<const float4*>(rr)[q];
        v[i] = make_float4(v[i].x + r.x, v[i].y + r.y, v[i].z + r.z, v[i].w + r.w);
      }
    }
  }
  float ss = 0.0f;
#pragma unroll
  for (int i = 0; i < kNormQ8MaxQuads; ++i) {
    const int q = tid + i * kNormQ8Threads;
    if (rr && q < quads) reinterpret_cast<float4*>(xr)[q] = v[i];
    ss += v[i].x * v[i].x + v[i].y * v[i].y + v[i].z * v[i].z + v[i].w * v[i].w;
  }
  ss = block_sum(ss);
  const float inv = rsqrtf(ss / static_cast<float>(dim) + eps);
  const unsigned lane = threadIdx.x & 31;
#pragma unroll
  for (int i = 0; i < kNormQ8MaxQuads; ++i) {
    const int q = tid + i * kNormQ8Threads;
    if (q < quads) {  // whole blocks of 32 (8 lanes) are in or out: quads is a multiple of 8
      const float4 f = make_float4(wv[i].x * (v[i].x * inv), wv[i].y * (v[i].y * inv), wv[i].z * (v[i].z * inv),
                                   wv[i].w * (v[i].w * inv));
      reinterpret_cast<float4*>(y + row)[q] = f;
      quantize_quad(f, 0xFFu << (lane & ~7u), out.q + row + 4 * q, out.ds + (row + 4 * q) / 32);
    }
  }
}

__global__ void layer_norm_kernel(const float* x, const float* w, const float* b, std::int64_t dim, float eps, float* y) {
  begin_dependent_kernel();
  const float* xr = x + blockIdx.x * dim;
  float* yr = y + blockIdx.x * dim;
  float sum = 0.0f;
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) sum += xr[i];
  const float mean = block_sum(sum) / static_cast<float>(dim);
  float var = 0.0f;
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) var += (xr[i] - mean) * (xr[i] - mean);
  const float inv = rsqrtf(block_sum(var) / static_cast<float>(dim) + eps);
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = (xr[i] - mean) * inv * w[i] + b[i];
}

// One block per (row, head); thread k rotates pair k. The angle is rounded to float32 before cos/sin (in
// double), exactly as the CPU reference and HF do: DSA top-k near-ties flip on tiny q/k drift.
__global__ void rope_kernel(float* x, std::int64_t row_stride, std::int64_t head_stride, std::int64_t offset,
                            const std::int32_t* positions, RopeTable t) {
  begin_dependent_kernel();
  const std::int64_t row = blockIdx.x, head = blockIdx.y;
  float* v = x + row * row_stride + head * head_stride + offset;
  const float pos = static_cast<float>(positions[row]);
  for (int k = static_cast<int>(threadIdx.x); k < t.half; k += static_cast<int>(blockDim.x)) {
    const float angle = pos * t.inv_freq[k];
    double s, c;
    sincos(static_cast<double>(angle), &s, &c);
    const float cf = static_cast<float>(c) * t.attention_factor, sf = static_cast<float>(s) * t.attention_factor;
    const int i0 = t.interleaved ? 2 * k : k;
    const int i1 = t.interleaved ? 2 * k + 1 : k + t.half;
    const float a = v[i0], b = v[i1];
    v[i0] = a * cf - b * sf;
    v[i1] = b * cf + a * sf;
  }
}

unsigned norm_threads(std::int64_t dim) { return dim >= 1024 ? 1024u : dim >= 256 ? 256u : 64u; }

}  // namespace

void launch_rms_norm(const float* x, std::int64_t x_stride, const float* w, std::int64_t n, std::int64_t dim, float eps,
                     float* y, cudaStream_t s) {
  if (n <= 0) return;
  launch("rms_norm", rms_norm_kernel, static_cast<unsigned>(n), norm_threads(dim), 0, s, x, x_stride, w, dim, eps, y);
}

bool rms_norm_q8_applies(std::int64_t dim, std::int64_t x_stride, std::initializer_list<const float*> rows) {
  const bool aligned = std::all_of(rows.begin(), rows.end(),
                                   [](const float* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; });
  return dim % 32 == 0 && dim <= 4 * kNormQ8Threads * kNormQ8MaxQuads && x_stride % 4 == 0 && aligned;
}

void launch_rms_norm_q8(const float* x, std::int64_t x_stride, const float* w, std::int64_t n, std::int64_t dim, float eps,
                        float* y, const Q8View& out, cudaStream_t s) {
  if (n <= 0) return;
  if (!rms_norm_q8_applies(dim, x_stride, {x, y, w}))
    fail(ErrorKind::InvalidArgument, "rms_norm_q8: dim " + std::to_string(dim) + " or row alignment unsupported");
  // Read-only here: the kernel writes x only when given a residual.
  launch("rms_norm_q8", rms_norm_q8_kernel, static_cast<unsigned>(n), kNormQ8Threads, 0, s, const_cast<float*>(x), x_stride,
         static_cast<const float*>(nullptr), w, dim, eps, y, out);
}

void launch_add_rms_norm_q8(float* x, const float* y, const float* w, std::int64_t n, std::int64_t dim, float eps, float* out,
                            const Q8View& out_q8, cudaStream_t s) {
  if (n <= 0) return;
  if (!rms_norm_q8_applies(dim, dim, {x, y, out, w}))
    fail(ErrorKind::InvalidArgument, "add_rms_norm_q8: dim " + std::to_string(dim) + " or row alignment unsupported");
  launch("add_rms_norm_q8", rms_norm_q8_kernel, static_cast<unsigned>(n), kNormQ8Threads, 0, s, x, dim, y, w, dim, eps, out,
         out_q8);
}

void launch_layer_norm(const float* x, const float* w, const float* b, std::int64_t n, std::int64_t dim, float eps, float* y,
                       cudaStream_t s) {
  if (n <= 0) return;
  launch("layer_norm", layer_norm_kernel, static_cast<unsigned>(n), norm_threads(dim), 0, s, x, w, b, dim, eps, y);
}

void launch_rope(float* x, std::int64_t n, std::int64_t row_stride, std::int64_t heads, std::int64_t head_stride,
                 std::int64_t offset, const std::int32_t* positions, const RopeTable& table, cudaStream_t s) {
  if (n <= 0 || heads <= 0) return;
  const dim3 grid(static_cast<unsigned>(n), static_cast<unsigned>(heads));
  launch("rope", rope_kernel, grid, 64, 0, s, x, row_stride, head_stride, offset, positions, table);
}

}  // namespace glmq::cuda
