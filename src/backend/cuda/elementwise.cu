// Elementwise kernels, embedding, dequantization to dense tiles and row gather/scatter.
#include <cuda_bf16.h>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch_util.cuh"
#include "backend/cuda/weight_decode.cuh"

namespace glmq::cuda {

namespace {

__device__ __forceinline__ std::int64_t global_index() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ std::int64_t global_stride() { return static_cast<std::int64_t>(gridDim.x) * blockDim.x; }

__global__ void fill_kernel(float* x, float v, std::int64_t n) {
  for (std::int64_t i = global_index(); i < n; i += global_stride()) x[i] = v;
}
__global__ void add_kernel(float* x, const float* y, std::int64_t n) {
  for (std::int64_t i = global_index(); i < n; i += global_stride()) x[i] += y[i];
}
__global__ void scale_kernel(float* x, float s, std::int64_t n) {
  for (std::int64_t i = global_index(); i < n; i += global_stride()) x[i] *= s;
}
__global__ void silu_mul_kernel(const float* g, const float* u, std::int64_t n, float* out) {
  for (std::int64_t i = global_index(); i < n; i += global_stride()) out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}
__global__ void copy_rows_kernel(float* dst, std::int64_t ds, const float* src, std::int64_t ss, std::int64_t n,
                                 std::int64_t width) {
  for (std::int64_t i = global_index(); i < n * width; i += global_stride()) {
    const std::int64_t r = i / width, c = i % width;
    dst[r * ds + c] = src[r * ss + c];
  }
}
__global__ void embed_kernel(DeviceWeight table, const std::int32_t* tokens, std::int64_t n, float* out) {
  for (std::int64_t i = global_index(); i < n * table.cols; i += global_stride()) {
    const std::int64_t t = i / table.cols, c = i % table.cols;
    out[i] = weight_element(table, tokens[t], c);
  }
}
__global__ void dequantize_f32_kernel(DeviceWeight w, std::int64_t first, std::int64_t count, float* out) {
  for (std::int64_t i = global_index(); i < count * w.cols; i += global_stride())
    out[i] = weight_element(w, first + i / w.cols, i % w.cols);
}
__global__ void dequantize_bf16_kernel(DeviceWeight w, std::int64_t first, std::int64_t count, __nv_bfloat16* out) {
  for (std::int64_t i = global_index(); i < count * w.cols; i += global_stride())
    out[i] = __float2bfloat16_rn(weight_element(w, first + i / w.cols, i % w.cols));
}
__global__ void to_bf16_kernel(const float* x, std::int64_t n, __nv_bfloat16* out) {
  for (std::int64_t i = global_index(); i < n; i += global_stride()) out[i] = __float2bfloat16_rn(x[i]);
}
__global__ void gather_rows_kernel(const float* src, const std::int32_t* rows, std::int64_t n, std::int64_t width,
                                   float* dst) {
  for (std::int64_t i = global_index(); i < n * width; i += global_stride())
    dst[i] = src[static_cast<std::int64_t>(rows[i / width]) * width + i % width];
}
__global__ void scatter_add_rows_kernel(const float* src, const std::int32_t* rows, const float* weights, std::int64_t n,
                                        std::int64_t width, float* dst) {
  for (std::int64_t i = global_index(); i < n * width; i += global_stride()) {
    const std::int64_t r = i / width;
    dst[static_cast<std::int64_t>(rows[r]) * width + i % width] += weights[r] * src[i];
  }
}

}  // namespace

void launch_fill(float* x, float value, std::int64_t count, cudaStream_t s) {
  if (count <= 0) return;
  fill_kernel<<<grid_for(count), kThreads, 0, s>>>(x, value, count);
  check_launch("fill");
}
void launch_add(float* x, const float* y, std::int64_t count, cudaStream_t s) {
  if (count <= 0) return;
  add_kernel<<<grid_for(count), kThreads, 0, s>>>(x, y, count);
  check_launch("add");
}
void launch_scale(float* x, float v, std::int64_t count, cudaStream_t s) {
  if (count <= 0) return;
  scale_kernel<<<grid_for(count), kThreads, 0, s>>>(x, v, count);
  check_launch("scale");
}
void launch_silu_mul(const float* gate, const float* up, std::int64_t count, float* out, cudaStream_t s) {
  if (count <= 0) return;
  silu_mul_kernel<<<grid_for(count), kThreads, 0, s>>>(gate, up, count, out);
  check_launch("silu_mul");
}
void launch_copy_rows(float* dst, std::int64_t ds, const float* src, std::int64_t ss, std::int64_t n, std::int64_t width,
                      cudaStream_t s) {
  if (n * width <= 0) return;
  copy_rows_kernel<<<grid_for(n * width), kThreads, 0, s>>>(dst, ds, src, ss, n, width);
  check_launch("copy_rows");
}
void launch_embed(const DeviceWeight& table, const std::int32_t* tokens, std::int64_t n, float* out, cudaStream_t s) {
  if (n <= 0) return;
  embed_kernel<<<grid_for(n * table.cols), kThreads, 0, s>>>(table, tokens, n, out);
  check_launch("embed");
}
void launch_dequantize_f32(const DeviceWeight& w, std::int64_t first, std::int64_t count, float* out, cudaStream_t s) {
  dequantize_f32_kernel<<<grid_for(count * w.cols), kThreads, 0, s>>>(w, first, count, out);
  check_launch("dequantize_f32");
}
void launch_dequantize_bf16(const DeviceWeight& w, std::int64_t first, std::int64_t count, std::uint16_t* out,
                            cudaStream_t s) {
  dequantize_bf16_kernel<<<grid_for(count * w.cols), kThreads, 0, s>>>(w, first, count,
                                                                       reinterpret_cast<__nv_bfloat16*>(out));
  check_launch("dequantize_bf16");
}
void launch_to_bf16(const float* x, std::int64_t count, std::uint16_t* out, cudaStream_t s) {
  to_bf16_kernel<<<grid_for(count), kThreads, 0, s>>>(x, count, reinterpret_cast<__nv_bfloat16*>(out));
  check_launch("to_bf16");
}
void launch_gather_rows(const float* src, const std::int32_t* rows, std::int64_t n, std::int64_t width, float* dst,
                        cudaStream_t s) {
  if (n * width <= 0) return;
  gather_rows_kernel<<<grid_for(n * width), kThreads, 0, s>>>(src, rows, n, width, dst);
  check_launch("gather_rows");
}
void launch_scatter_add_rows(const float* src, const std::int32_t* rows, const float* weights, std::int64_t n,
                             std::int64_t width, float* dst, cudaStream_t s) {
  if (n * width <= 0) return;
  scatter_add_rows_kernel<<<grid_for(n * width), kThreads, 0, s>>>(src, rows, weights, n, width, dst);
  check_launch("scatter_add_rows");
}

}  // namespace glmq::cuda
