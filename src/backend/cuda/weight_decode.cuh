#pragma once
// Device-side reading of weights in their stored type: one element at a time (generic, any shape), the
// affine code-word helpers of the fused row kernels (row_units.cuh), and the per-type kernel dispatch.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <string>

#include "backend/cuda/device_weight.h"
#include "backend/cuda/ggml_units.cuh"
#include "core/error.h"

namespace glmq::cuda {

// Kernels are instantiated per weight type; kGenericKind reads element by element (odd shapes).
constexpr int kGenericKind = 255;

__host__ __device__ constexpr int kind_of(WeightType t) { return static_cast<int>(t); }

__host__ __device__ constexpr int affine_bits_of(int kind) {
  switch (kind) {
    case kind_of(WeightType::Affine2): return 2;
    case kind_of(WeightType::Affine3): return 3;
    case kind_of(WeightType::Affine4): return 4;
    case kind_of(WeightType::Affine5): return 5;
    case kind_of(WeightType::Affine6): return 6;
    case kind_of(WeightType::Affine8): return 8;
    default: return 0;
  }
}

// The GGML block types with CUDA kernels, their elements and bytes per block (device_weight.h).
__host__ __device__ constexpr bool is_ggml_kind(int kind) {
  return cuda_ggml_block_bytes(static_cast<WeightType>(kind)) > 0;
}
__host__ __device__ constexpr int ggml_block_elems(int kind) {
  return cuda_ggml_block_elems(static_cast<WeightType>(kind));
}
__host__ __device__ constexpr int ggml_block_bytes(int kind) {
  return cuda_ggml_block_bytes(static_cast<WeightType>(kind));
}

__device__ __forceinline__ float bf16_bits_to_float(std::uint32_t h) { return __uint_as_float(h << 16); }
__device__ __forceinline__ float f16_bits_to_float(std::uint32_t h) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(h)));
}

__device__ __forceinline__ float aux_value(const std::uint8_t* aux, WeightType t, std::int64_t g) {
  if (t == WeightType::BF16) return bf16_bits_to_float(reinterpret_cast<const std::uint16_t*>(aux)[g]);
  if (t == WeightType::F16) return f16_bits_to_float(reinterpret_cast<const std::uint16_t*>(aux)[g]);
  return reinterpret_cast<const float*>(aux)[g];
}

// W[r, c] as float32, for any type (used by embedding, dequantization and the generic matvec path).
__device__ inline float weight_element(const DeviceWeight& w, std::int64_t r, std::int64_t c) {
  const std::uint8_t* row = w.data + r * w.row_bytes;
  switch (w.type) {
    case WeightType::F32: return reinterpret_cast<const float*>(row)[c];
    case WeightType::BF16: return bf16_bits_to_float(reinterpret_cast<const std::uint16_t*>(row)[c]);
    case WeightType::F16: return f16_bits_to_float(reinterpret_cast<const std::uint16_t*>(row)[c]);
    default: break;
  }
  if (w.type == WeightType::IQ2_S) return iq2s_element(row, w.cols, c, w.codebook);
  if (planar_on_device(w.type)) return f16_scaled_element(w.type, row, w.cols, c, w.codebook);
  if (is_ggml_kind(kind_of(w.type))) {
    const int block = ggml_block_elems(kind_of(w.type));
    return ggml_element(w.type, row + (c / block) * ggml_block_bytes(kind_of(w.type)), static_cast<int>(c % block),
                        w.codebook);
  }
  const int bits = affine_bits_of(kind_of(w.type));
  const std::int64_t bit = c * bits;
  const std::uint8_t* p = row + (bit >> 3);
  const unsigned shift = static_cast<unsigned>(bit & 7);
  std::uint32_t v = p[0];
  if (shift + static_cast<unsigned>(bits) > 8) v |= static_cast<std::uint32_t>(p[1]) << 8;
  const float q = static_cast<float>((v >> shift) & ((1u << bits) - 1u));
  const std::int64_t g = c / w.group_size;
  return aux_value(w.scales + r * w.aux_row_bytes, w.aux_type, 2 * g) * q +
         aux_value(w.biases + r * w.aux_row_bytes, w.aux_type, 2 * g);  // interleaved pairs (device_weight.h)
}

// Whether the fast row kernels apply: whole row units per lane and aligned rows (GGML rows are whole blocks).
inline bool fast_path_applies(const DeviceWeight& w) {
  if (is_ggml_kind(kind_of(w.type))) return true;
  if (affine_bits_of(kind_of(w.type)) > 0)
    return w.cols % 32 == 0 && w.group_size % 32 == 0 && (w.group_size & (w.group_size - 1)) == 0;
  return w.cols % 8 == 0;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
__device__ __forceinline__ float block_sum(float v) {
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

// Σ over 32 codes of (1 + q/2^B)·x, with the codes a b-bit LSB-first stream in `w`. Each code is turned
// into a float by placing it under the exponent of 1.0 (two integer ops, no int→float conversion);
// the caller removes the 1·x part with the chunk's Σx.
template <int B>
__device__ __forceinline__ float affine_chunk_dot(const std::uint32_t (&w)[B], const float (&x)[32]) {
  constexpr std::uint32_t kOne = 0x3F800000u;
  constexpr int kDst = 23 - B;
  constexpr std::uint32_t kMask = ((1u << B) - 1u) << kDst;
  float acc0 = 0.0f, acc1 = 0.0f;
#pragma unroll
  for (int i = 0; i < 32; ++i) {
    const int bit = i * B, word = bit >> 5, off = bit & 31;
    std::uint32_t v;
    if (off + B <= 32) {
      v = off >= kDst ? (w[word] >> (off - kDst)) : (w[word] << (kDst - off));
    } else {
      v = __funnelshift_r(w[word], w[word + 1], off - kDst);
    }
    const float f = __uint_as_float((v & kMask) | kOne);
    if (i & 1) acc1 = fmaf(f, x[i], acc1); else acc0 = fmaf(f, x[i], acc0);
  }
  return acc0 + acc1;
}

template <int B>
__device__ __forceinline__ void load_code_words(const std::uint8_t* p, std::uint32_t (&w)[B]) {
  if constexpr (B % 4 == 0) {
#pragma unroll
    for (int j = 0; j < B / 4; ++j) {
      const uint4 v = __ldg(reinterpret_cast<const uint4*>(p) + j);
      w[4 * j] = v.x; w[4 * j + 1] = v.y; w[4 * j + 2] = v.z; w[4 * j + 3] = v.w;
    }
  } else if constexpr (B % 2 == 0) {
#pragma unroll
    for (int j = 0; j < B / 2; ++j) {
      const uint2 v = __ldg(reinterpret_cast<const uint2*>(p) + j);
      w[2 * j] = v.x; w[2 * j + 1] = v.y;
    }
  } else {
#pragma unroll
    for (int j = 0; j < B; ++j) w[j] = __ldg(reinterpret_cast<const std::uint32_t*>(p) + j);
  }
}

// Calls f(std::integral_constant<int, KIND>) for the kernel instantiation that reads `w`.
template <typename F>
void dispatch_kind(const DeviceWeight& w, F&& f) {
  if (!fast_path_applies(w)) return f(std::integral_constant<int, kGenericKind>{});
  switch (w.type) {
    case WeightType::F32: return f(std::integral_constant<int, kind_of(WeightType::F32)>{});
    case WeightType::F16: return f(std::integral_constant<int, kind_of(WeightType::F16)>{});
    case WeightType::BF16: return f(std::integral_constant<int, kind_of(WeightType::BF16)>{});
    case WeightType::Affine2: return f(std::integral_constant<int, kind_of(WeightType::Affine2)>{});
    case WeightType::Affine3: return f(std::integral_constant<int, kind_of(WeightType::Affine3)>{});
    case WeightType::Affine4: return f(std::integral_constant<int, kind_of(WeightType::Affine4)>{});
    case WeightType::Affine5: return f(std::integral_constant<int, kind_of(WeightType::Affine5)>{});
    case WeightType::Affine6: return f(std::integral_constant<int, kind_of(WeightType::Affine6)>{});
    case WeightType::Affine8: return f(std::integral_constant<int, kind_of(WeightType::Affine8)>{});
    case WeightType::Q8_0: return f(std::integral_constant<int, kind_of(WeightType::Q8_0)>{});
    case WeightType::Q4_0: return f(std::integral_constant<int, kind_of(WeightType::Q4_0)>{});
    case WeightType::Q5_0: return f(std::integral_constant<int, kind_of(WeightType::Q5_0)>{});
    case WeightType::Q5_1: return f(std::integral_constant<int, kind_of(WeightType::Q5_1)>{});
    case WeightType::Q2_K: return f(std::integral_constant<int, kind_of(WeightType::Q2_K)>{});
    case WeightType::Q3_K: return f(std::integral_constant<int, kind_of(WeightType::Q3_K)>{});
    case WeightType::Q4_K: return f(std::integral_constant<int, kind_of(WeightType::Q4_K)>{});
    case WeightType::Q5_K: return f(std::integral_constant<int, kind_of(WeightType::Q5_K)>{});
    case WeightType::Q6_K: return f(std::integral_constant<int, kind_of(WeightType::Q6_K)>{});
    case WeightType::IQ4_NL: return f(std::integral_constant<int, kind_of(WeightType::IQ4_NL)>{});
    case WeightType::IQ4_XS: return f(std::integral_constant<int, kind_of(WeightType::IQ4_XS)>{});
    case WeightType::IQ2_XXS: return f(std::integral_constant<int, kind_of(WeightType::IQ2_XXS)>{});
    case WeightType::IQ2_S: return f(std::integral_constant<int, kind_of(WeightType::IQ2_S)>{});
    case WeightType::IQ3_S: return f(std::integral_constant<int, kind_of(WeightType::IQ3_S)>{});
    default: break;
  }
  fail(ErrorKind::DType, std::string("the CUDA backend has no kernel for weight type ") +
                             std::string(weight_type_name(w.type)));
}


}  // namespace glmq::cuda
