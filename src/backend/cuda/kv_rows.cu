// Writing float rows into a KV cache in its storage format, and reading cache rows back as floats.
// The quantization follows the CPU backend's store_kv_row operation for operation (kv_rows_cpu.cpp): the
// group's first minimum (std::minmax_element) rounded to float16 is the bias, max((max − bias)/levels, 1e-7)
// rounded to float16 the scale, codes clamp(rint((v − bias)/scale)) with those rounded values — all in
// IEEE float32 without contraction, so every code, scale and bias equals the CPU's.
#include <climits>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/kv_decode.cuh"
#include "backend/cuda/launch_util.cuh"

namespace glmq::cuda {

namespace {

__device__ __forceinline__ std::int64_t thread_index() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ std::int64_t thread_count() { return static_cast<std::int64_t>(gridDim.x) * blockDim.x; }

// Source row r goes to cache row rows[r] where rows is given (read on the device: a captured decode step's
// positions), else first + r.
__global__ void store_float_kernel(KvView v, std::int64_t first, const std::int32_t* rows, const float* src,
                                   std::int64_t stride, std::int64_t n) {
  begin_dependent_kernel();
  for (std::int64_t i = thread_index(); i < n * v.width; i += thread_count()) {
    const std::int64_t r = i / v.width, c = i % v.width, o = (rows ? rows[r] : first + r) * v.width + c;
    const float x = src[r * stride + c];
    if (v.format == KvFormat::F32) reinterpret_cast<float*>(v.data)[o] = x;
    else reinterpret_cast<unsigned short*>(v.data)[o] = __half_as_ushort(__float2half_rn(x));
  }
}

__device__ __forceinline__ std::uint32_t quantize_code(float x, float bias, float scale, float levels) {
  return static_cast<std::uint32_t>(fminf(fmaxf(rintf(__fdiv_rn(__fsub_rn(x, bias), scale)), 0.0f), levels));
}

// One warp per (row, group).
__global__ void store_quantized_kernel(KvView v, std::int64_t first, const std::int32_t* rows, const float* src,
                                       std::int64_t stride, std::int64_t n) {
  begin_dependent_kernel();
  const int lane = static_cast<int>(threadIdx.x & 31);
  const std::int64_t G = std::int64_t{1} << v.group_shift;
  const float levels = v.format == KvFormat::Q8 ? 255.0f : 15.0f;
  for (std::int64_t w = thread_index() >> 5; w < n * v.groups; w += thread_count() >> 5) {
    const std::int64_t r = w / v.groups, g = w % v.groups;
    const float* x = src + r * stride + g * G;
    // The minimum with the lowest index among equal values (as minmax_element: −0 and +0 give different
    // float16 biases), and the maximum (its sign of zero cannot change the scale).
    float lo = INFINITY, hi = -INFINITY;
    int lo_at = INT_MAX;
    for (std::int64_t i = lane; i < G; i += 32) {
      const float value = x[i];
      if (value < lo) {
        lo = value;
        lo_at = static_cast<int>(i);
      }
      hi = fmaxf(hi, value);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float other = __shfl_xor_sync(0xffffffffu, lo, o);
      const int other_at = __shfl_xor_sync(0xffffffffu, lo_at, o);
      if (other < lo || (other == lo && other_at < lo_at)) {
        lo = other;
        lo_at = other_at;
      }
      hi = fmaxf(hi, __shfl_xor_sync(0xffffffffu, hi, o));
    }
    const unsigned short bias_h = __half_as_ushort(__float2half_rn(lo));
    const float bias = kv_half(bias_h);
    const unsigned short scale_h =
        __half_as_ushort(__float2half_rn(fmaxf(__fdiv_rn(__fsub_rn(hi, bias), levels), 1e-7f)));
    const float scale = kv_half(scale_h);
    const std::int64_t row = rows ? rows[r] : first + r;
    if (lane == 0) {
      v.scales[row * v.groups + g] = scale_h;
      v.biases[row * v.groups + g] = bias_h;
    }
    if (v.format == KvFormat::Q8) {
      std::uint8_t* q = v.data + row * v.width + g * G;
      for (std::int64_t i = lane; i < G; i += 32) q[i] = static_cast<std::uint8_t>(quantize_code(x[i], bias, scale, levels));
    } else {
      std::uint8_t* q = v.data + (row * v.width + g * G) / 2;
      for (std::int64_t i = lane; i < G / 2; i += 32)
        q[i] = static_cast<std::uint8_t>(quantize_code(x[2 * i], bias, scale, levels) |
                                         quantize_code(x[2 * i + 1], bias, scale, levels) << 4);
    }
  }
}

__global__ void load_kernel(KvView v, std::int64_t first, std::int64_t n, float* dst) {
  begin_dependent_kernel();
  for (std::int64_t i = thread_index(); i < n * v.width; i += thread_count())
    dst[i] = kv_value(v, first + i / v.width, i % v.width);
}

bool quantized(KvFormat f) { return f == KvFormat::Q8 || f == KvFormat::Q4; }

}  // namespace

KvView kv_view(const KvRows& rows) {
  KvView v;
  v.format = rows.format;
  v.width = rows.width;
  v.data = rows.data;
  v.scales = rows.scales;
  v.biases = rows.biases;
  if (quantized(rows.format)) {
    const std::int64_t g = rows.group_size;
    if (g <= 0 || (g & (g - 1)) != 0 || rows.width % g != 0 || (rows.format == KvFormat::Q4 && g < 2))
      fail(ErrorKind::InvalidArgument, "CUDA KV rows need a power-of-two group size dividing the row, found " +
                                           std::to_string(g) + " for rows of " + std::to_string(rows.width));
    v.groups = rows.width / g;
    while ((std::int64_t{1} << v.group_shift) < g) ++v.group_shift;
  }
  return v;
}

void launch_store_kv_rows(const KvView& dst, std::int64_t first, const std::int32_t* rows, const float* src,
                          std::int64_t src_stride, std::int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  if (quantized(dst.format)) {
    launch("store_kv_rows_quantized", store_quantized_kernel, grid_for(n * dst.groups * 32), kThreads, 0, s, dst, first,
           rows, src, src_stride, n);
  } else {
    launch("store_kv_rows", store_float_kernel, grid_for(n * dst.width), kThreads, 0, s, dst, first, rows, src,
           src_stride, n);
  }
}

void launch_load_kv_rows(const KvView& src, std::int64_t first, std::int64_t n, float* dst, cudaStream_t s) {
  if (n <= 0) return;
  launch("load_kv_rows", load_kernel, grid_for(n * src.width), kThreads, 0, s, src, first, n, dst);
}

}  // namespace glmq::cuda
