#pragma once
// Device-side decoding of cached KV rows (KvView, see kernels.h): one value or four consecutive values of a
// row, as float32. Quantized values are scale·q + bias rounded twice (multiply, then add, never fused), as
// the CPU's kv_row computes them, so a decoded row equals the CPU's bit for bit.
#include <cuda_fp16.h>

#include "backend/cuda/kernels.h"

namespace glmq::cuda {

__device__ __forceinline__ float kv_half(std::uint32_t bits) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(bits)));
}

__device__ __forceinline__ float kv_affine(float scale, float bias, std::uint32_t code) {
  return __fadd_rn(__fmul_rn(scale, static_cast<float>(code)), bias);
}

// Value c of cache row r.
__device__ __forceinline__ float kv_value(const KvView& v, std::int64_t r, std::int64_t c) {
  const std::int64_t i = r * v.width + c;
  switch (v.format) {
    case KvFormat::F32: return __ldg(reinterpret_cast<const float*>(v.data) + i);
    case KvFormat::F16: return kv_half(__ldg(reinterpret_cast<const unsigned short*>(v.data) + i));
    default: break;
  }
  const std::int64_t g = r * v.groups + (c >> v.group_shift);
  std::uint32_t code;
  if (v.format == KvFormat::Q8) {
    code = __ldg(v.data + i);
  } else {  // Q4: two codes per byte, low nibble first (rows hold an even number of values)
    const std::uint32_t byte = __ldg(v.data + (i >> 1));
    code = (c & 1) ? byte >> 4 : byte & 0xfu;
  }
  return kv_affine(kv_half(__ldg(v.scales + g)), kv_half(__ldg(v.biases + g)), code);
}

// Values c..c+3 of cache row r, for c a multiple of 4 (width a multiple of 4, quantized groups of ≥ 4 values,
// so the four share one group and every load below is aligned).
__device__ __forceinline__ float4 kv_value4(const KvView& v, std::int64_t r, std::int64_t c) {
  const std::int64_t i = r * v.width + c;
  switch (v.format) {
    case KvFormat::F32: return __ldg(reinterpret_cast<const float4*>(v.data + 4 * i));
    case KvFormat::F16: {
      const uint2 h = __ldg(reinterpret_cast<const uint2*>(v.data + 2 * i));
      return make_float4(kv_half(h.x & 0xffffu), kv_half(h.x >> 16), kv_half(h.y & 0xffffu), kv_half(h.y >> 16));
    }
    default: break;
  }
  const std::int64_t g = r * v.groups + (c >> v.group_shift);
  const float s = kv_half(__ldg(v.scales + g)), b = kv_half(__ldg(v.biases + g));
  std::uint32_t q;  // four codes, one per byte
  if (v.format == KvFormat::Q8) {
    q = __ldg(reinterpret_cast<const unsigned int*>(v.data + i));
  } else {
    const std::uint32_t p = __ldg(reinterpret_cast<const unsigned short*>(v.data + (i >> 1)));
    q = (p & 0xfu) | ((p >> 4 & 0xfu) << 8) | ((p >> 8 & 0xfu) << 16) | ((p >> 12) << 24);
  }
  return make_float4(kv_affine(s, b, q & 0xffu), kv_affine(s, b, q >> 8 & 0xffu), kv_affine(s, b, q >> 16 & 0xffu),
                     kv_affine(s, b, q >> 24));
}

}  // namespace glmq::cuda
