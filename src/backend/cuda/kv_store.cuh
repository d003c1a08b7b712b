#pragma once
// Writing one float row into a KV cache row in its storage format: the bodies of kv_rows.cu's store kernels and
// of attention_entry.cu's fused kernel. The quantization follows the CPU backend's store_kv_row operation for
// operation (kv_rows_cpu.cpp): the group's first minimum (std::minmax_element) rounded to float16 is the bias,
// max((max − bias)/levels, 1e-7) rounded to float16 the scale, codes clamp(rint((v − bias)/scale)) with those
// rounded values — all in IEEE float32 without contraction, so every code, scale and bias equals the CPU's.
#include <cuda_fp16.h>

#include <climits>
#include <cstdint>

#include "backend/cuda/kernels.h"
#include "backend/cuda/kv_decode.cuh"

namespace glmq::cuda {

__host__ __device__ __forceinline__ bool kv_quantized(KvFormat f) { return f == KvFormat::Q8 || f == KvFormat::Q4; }

// Value c of float-format (F32 / F16) cache row `row`.
__device__ __forceinline__ void store_kv_value(const KvView& v, std::int64_t row, std::int64_t c, float x) {
  const std::int64_t o = row * v.width + c;
  if (v.format == KvFormat::F32) reinterpret_cast<float*>(v.data)[o] = x;
  else reinterpret_cast<unsigned short*>(v.data)[o] = __half_as_ushort(__float2half_rn(x));
}

__device__ __forceinline__ std::uint32_t quantize_kv_code(float x, float bias, float scale, float levels) {
  return static_cast<std::uint32_t>(fminf(fmaxf(rintf(__fdiv_rn(__fsub_rn(x, bias), scale)), 0.0f), levels));
}

// Group g of quantized cache row `row` from its values x[0, group size), by one whole warp (lane = its lane).
__device__ __forceinline__ void store_kv_group(const KvView& v, std::int64_t row, std::int64_t g, const float* x, int lane) {
  const std::int64_t G = std::int64_t{1} << v.group_shift;
  const float levels = v.format == KvFormat::Q8 ? 255.0f : 15.0f;
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
  const unsigned short scale_h = __half_as_ushort(__float2half_rn(fmaxf(__fdiv_rn(__fsub_rn(hi, bias), levels), 1e-7f)));
  const float scale = kv_half(scale_h);
  if (lane == 0) {
    v.scales[row * v.groups + g] = scale_h;
    v.biases[row * v.groups + g] = bias_h;
  }
  if (v.format == KvFormat::Q8) {
    std::uint8_t* q = v.data + row * v.width + g * G;
    for (std::int64_t i = lane; i < G; i += 32) q[i] = static_cast<std::uint8_t>(quantize_kv_code(x[i], bias, scale, levels));
  } else {
    std::uint8_t* q = v.data + (row * v.width + g * G) / 2;
    for (std::int64_t i = lane; i < G / 2; i += 32)
      q[i] = static_cast<std::uint8_t>(quantize_kv_code(x[2 * i], bias, scale, levels) |
                                       quantize_kv_code(x[2 * i + 1], bias, scale, levels) << 4);
  }
}

// Cache row `row` from x[0, width), by the whole block (every thread calls it).
__device__ __forceinline__ void store_kv_row(const KvView& v, std::int64_t row, const float* x) {
  if (kv_quantized(v.format)) {
    const int lane = static_cast<int>(threadIdx.x & 31);
    for (std::int64_t g = threadIdx.x >> 5; g < v.groups; g += blockDim.x >> 5)
      store_kv_group(v, row, g, x + (g << v.group_shift), lane);
  } else {
    for (std::int64_t c = threadIdx.x; c < v.width; c += blockDim.x) store_kv_value(v, row, c, x[c]);
  }
}

}  // namespace glmq::cuda
