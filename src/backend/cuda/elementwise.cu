// Elementwise kernels, embedding, dequantization to dense tiles and row gather/scatter.
#include <cuda_bf16.h>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
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
  begin_dependent_kernel();
  for (std::int64_t i = global_index(); i < n; i += global_stride()) x[i] = v;
}
__global__ void add_kernel(float* x, const float* y, std::int64_t n) {
  begin_dependent_kernel();
  for (std::int64_t i = global_index(); i < n; i += global_stride()) x[i] += y[i];
}
__global__ void scale_kernel(float* x, float s, std::int64_t n) {
  begin_dependent_kernel();
  for (std::int64_t i = global_index(); i < n; i += global_stride()) x[i] *= s;
}
__global__ void silu_mul_kernel(const float* g, const float* u, std::int64_t n, float* out) {
  begin_dependent_kernel();
  for (std::int64_t i = global_index(); i < n; i += global_stride()) out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}
__global__ void copy_rows_kernel(float* dst, std::int64_t ds, const float* src, std::int64_t ss, std::int64_t n,
                                 std::int64_t width) {
  begin_dependent_kernel();
  for (std::int64_t i = global_index(); i < n * width; i += global_stride()) {
    const std::int64_t r = i / width, c = i % width;
    dst[r * ds + c] = src[r * ss + c];
  }
}
__global__ void embed_kernel(DeviceWeight table, const std::int32_t* tokens, std::int64_t n, float* out) {
  begin_dependent_kernel();
  for (std::int64_t i = global_index(); i < n * table.cols; i += global_stride()) {
    const std::int64_t t = i / table.cols, c = i % table.cols;
    out[i] = weight_element(table, tokens[t], c);
  }
}
__global__ void dequantize_f32_kernel(DeviceWeight w, std::int64_t first, std::int64_t count, float* out) {
  begin_dependent_kernel();
  for (std::int64_t i = global_index(); i < count * w.cols; i += global_stride())
    out[i] = weight_element(w, first + i / w.cols, i % w.cols);
}
__global__ void dequantize_bf16_kernel(DeviceWeight w, std::int64_t first, std::int64_t count, __nv_bfloat16* out) {
  begin_dependent_kernel();
  for (std::int64_t i = global_index(); i < count * w.cols; i += global_stride())
    out[i] = __float2bfloat16_rn(weight_element(w, first + i / w.cols, i % w.cols));
}
__global__ void to_bf16_kernel(const float* x, std::int64_t n, __nv_bfloat16* out) {
  begin_dependent_kernel();
  for (std::int64_t i = global_index(); i < n; i += global_stride()) out[i] = __float2bfloat16_rn(x[i]);
}
__global__ void gather_rows_kernel(const float* src, const std::int32_t* rows, std::int64_t n, std::int64_t width,
                                   float* dst) {
  begin_dependent_kernel();
  for (std::int64_t i = global_index(); i < n * width; i += global_stride())
    dst[i] = src[static_cast<std::int64_t>(rows[i / width]) * width + i % width];
}
__global__ void scatter_add_rows_kernel(const float* src, const std::int32_t* rows, const float* weights, std::int64_t n,
                                        std::int64_t width, float* dst) {
  begin_dependent_kernel();
  for (std::int64_t i = global_index(); i < n * width; i += global_stride()) {
    const std::int64_t r = i / width;
    dst[static_cast<std::int64_t>(rows[r]) * width + i % width] += weights[r] * src[i];
  }
}

}  // namespace

void launch_fill(float* x, float value, std::int64_t count, cudaStream_t s) {
  if (count <= 0) return;
  launch("fill", fill_kernel, grid_for(count), kThreads, 0, s, x, value, count);
}
void launch_add(float* x, const float* y, std::int64_t count, cudaStream_t s) {
  if (count <= 0) return;
  launch("add", add_kernel, grid_for(count), kThreads, 0, s, x, y, count);
}
void launch_scale(float* x, float v, std::int64_t count, cudaStream_t s) {
  if (count <= 0) return;
  launch("scale", scale_kernel, grid_for(count), kThreads, 0, s, x, v, count);
}
void launch_silu_mul(const float* gate, const float* up, std::int64_t count, float* out, cudaStream_t s) {
  if (count <= 0) return;
  launch("silu_mul", silu_mul_kernel, grid_for(count), kThreads, 0, s, gate, up, count, out);
}
void launch_copy_rows(float* dst, std::int64_t ds, const float* src, std::int64_t ss, std::int64_t n, std::int64_t width,
                      cudaStream_t s) {
  if (n * width <= 0) return;
  launch("copy_rows", copy_rows_kernel, grid_for(n * width), kThreads, 0, s, dst, ds, src, ss, n, width);
}
void launch_embed(const DeviceWeight& table, const std::int32_t* tokens, std::int64_t n, float* out, cudaStream_t s) {
  if (n <= 0) return;
  launch("embed", embed_kernel, grid_for(n * table.cols), kThreads, 0, s, table, tokens, n, out);
}
void launch_dequantize_f32(const DeviceWeight& w, std::int64_t first, std::int64_t count, float* out, cudaStream_t s) {
  launch("dequantize_f32", dequantize_f32_kernel, grid_for(count * w.cols), kThreads, 0, s, w, first, count, out);
}
void launch_dequantize_bf16(const DeviceWeight& w, std::int64_t first, std::int64_t count, std::uint16_t* out,
                            cudaStream_t s) {
  launch("dequantize_bf16", dequantize_bf16_kernel, grid_for(count * w.cols), kThreads, 0, s, w, first, count, reinterpret_cast<__nv_bfloat16*>(out));
}
void launch_to_bf16(const float* x, std::int64_t count, std::uint16_t* out, cudaStream_t s) {
  launch("to_bf16", to_bf16_kernel, grid_for(count), kThreads, 0, s, x, count, reinterpret_cast<__nv_bfloat16*>(out));
}
void launch_gather_rows(const float* src, const std::int32_t* rows, std::int64_t n, std::int64_t width, float* dst,
                        cudaStream_t s) {
  if (n * width <= 0) return;
  launch("gather_rows", gather_rows_kernel, grid_for(n * width), kThreads, 0, s, src, rows, n, width, dst);
}
void launch_scatter_add_rows(const float* src, const std::int32_t* rows, const float* weights, std::int64_t n,
                             std::int64_t width, float* dst, cudaStream_t s) {
  if (n * width <= 0) return;
  launch("scatter_add_rows", scatter_add_rows_kernel, grid_for(n * width), kThreads, 0, s, src, rows, weights, n, width, dst);
}

}  // namespace glmq::cuda
