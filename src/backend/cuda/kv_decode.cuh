#pragma once
// Device-side decoding of cached KV rows (KvView, see kernels.h): one value or four consecutive values of a
// row, as float32. Quantized values are scale·q + bias rounded twice (multiply, then add, never fused), as
// the CPU's kv_row computes them, so a decoded row equals the CPU's bit for bit. Rows are read with plain
// loads, not the read-only path (__ldg): the kernels that write them may still be running when a reader starts
// (dependent_launch.cuh).
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
    case KvFormat::F32: return *(reinterpret_cast<const float*>(v.data) + i);
    case KvFormat::F16: return kv_half(*(reinterpret_cast<const unsigned short*>(v.data) + i));
    default: break;
  }
  const std::int64_t g = r * v.groups + (c >> v.group_shift);
  std::uint32_t code;
  if (v.format == KvFormat::Q8) {
    code = *(v.data + i);
  } else {  // Q4: two codes per byte, low nibble first (rows hold an even number of values)
    const std::uint32_t byte = *(v.data + (i >> 1));
    code = (c & 1) ? byte >> 4 : byte & 0xfu;
  }
  return kv_affine(kv_half(*(v.scales + g)), kv_half(*(v.biases + g)), code);
}

// Values c..c+3 of cache row r of a view in format F, for c a multiple of 4 (width a multiple of 4, quantized
// groups of ≥ 4 values, so the four share one group and every load below is aligned). Kernels that decode many
// rows of one view pick F once (a switch outside their load loop), so the loads of a batch are independent.
template <KvFormat F>
__device__ __forceinline__ float4 kv_value4_as(const KvView& v, std::int64_t r, std::int64_t c) {
  const std::int64_t i = r * v.width + c;
  if constexpr (F == KvFormat::F32) {
    return *(reinterpret_cast<const float4*>(v.data + 4 * i));
  } else if constexpr (F == KvFormat::F16) {
    const uint2 h = *(reinterpret_cast<const uint2*>(v.data + 2 * i));
    return make_float4(kv_half(h.x & 0xffffu), kv_half(h.x >> 16), kv_half(h.y & 0xffffu), kv_half(h.y >> 16));
  } else {
    const std::int64_t g = r * v.groups + (c >> v.group_shift);
    const float s = kv_half(*(v.scales + g)), b = kv_half(*(v.biases + g));
    std::uint32_t q;  // four codes, one per byte
    if constexpr (F == KvFormat::Q8) {
      q = *(reinterpret_cast<const unsigned int*>(v.data + i));
    } else {
      const std::uint32_t p = *(reinterpret_cast<const unsigned short*>(v.data + (i >> 1)));
      q = (p & 0xfu) | ((p >> 4 & 0xfu) << 8) | ((p >> 8 & 0xfu) << 16) | ((p >> 12) << 24);
    }
    return make_float4(kv_affine(s, b, q & 0xffu), kv_affine(s, b, q >> 8 & 0xffu), kv_affine(s, b, q >> 16 & 0xffu),
                       kv_affine(s, b, q >> 24));
  }
}

// As kv_value4_as, the format read from the view.
__device__ __forceinline__ float4 kv_value4(const KvView& v, std::int64_t r, std::int64_t c) {
  switch (v.format) {
    case KvFormat::F32: return kv_value4_as<KvFormat::F32>(v, r, c);
    case KvFormat::F16: return kv_value4_as<KvFormat::F16>(v, r, c);
    case KvFormat::Q8: return kv_value4_as<KvFormat::Q8>(v, r, c);
    default: return kv_value4_as<KvFormat::Q4>(v, r, c);
  }
}

// out[i] = values c + 4i .. c + 4i + 3 of cache row r for i < N with c + 4i < limit (else zeros); the format
// is decided once, so the N loads are independent and issued together.
template <int N>
__device__ __forceinline__ void kv_value4_run(const KvView& v, std::int64_t r, std::int64_t c, std::int64_t limit,
                                              float4 (&out)[N]) {
  switch (v.format) {
    case KvFormat::F32:
#pragma unroll
      for (int i = 0; i < N; ++i)
        out[i] = c + 4 * i < limit ? *(reinterpret_cast<const float4*>(v.data + 4 * (r * v.width + c + 4 * i)))
                                   : float4{0.0f, 0.0f, 0.0f, 0.0f};
      return;
    default:
#pragma unroll
      for (int i = 0; i < N; ++i) out[i] = c + 4 * i < limit ? kv_value4(v, r, c + 4 * i) : float4{0.0f, 0.0f, 0.0f, 0.0f};
      return;
  }
}

// v[i] = value c + i·c_step of cache row pos[i] for i < N (0 where pos[i] < 0). The format is decided once
// for the batch, so all N loads are independent and issued together.
template <int N>
__device__ __forceinline__ void kv_values(const KvView& v, const std::int64_t (&pos)[N], std::int64_t c, float (&out)[N],
                                          std::int64_t c_step = 0) {
  switch (v.format) {
    case KvFormat::F32:
#pragma unroll
      for (int i = 0; i < N; ++i)
        out[i] = pos[i] < 0 ? 0.0f : *(reinterpret_cast<const float*>(v.data) + pos[i] * v.width + c + i * c_step);
      return;
    case KvFormat::F16:
#pragma unroll
      for (int i = 0; i < N; ++i)
        out[i] = pos[i] < 0 ? 0.0f
                            : kv_half(*(reinterpret_cast<const unsigned short*>(v.data) + pos[i] * v.width + c + i * c_step));
      return;
    default:
#pragma unroll
      for (int i = 0; i < N; ++i) out[i] = pos[i] < 0 ? 0.0f : kv_value(v, pos[i], c + i * c_step);
      return;
  }
}

}  // namespace glmq::cuda
