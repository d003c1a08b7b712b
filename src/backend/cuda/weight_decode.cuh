#pragma once
// Device-side reading of weights in their stored type: one element at a time (generic, any shape), and
// warp-wide fused dequantize+dot over whole rows (the decode hot path). Activations are staged in shared
// memory in a padded layout (4 floats of padding after every 32) so that each lane's 16-byte loads of its
// own chunk land in distinct banks.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <string>

#include "backend/cuda/device_weight.h"
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

// Index of activation i in the padded shared-memory layout, and the padded length of n activations.
__host__ __device__ constexpr std::int64_t padded_index(std::int64_t i) { return i + (i >> 5) * 4; }
__host__ __device__ constexpr std::int64_t padded_length(std::int64_t n) { return padded_index(n) + 4; }

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
  const int bits = affine_bits_of(kind_of(w.type));
  const std::int64_t bit = c * bits;
  const std::uint8_t* p = row + (bit >> 3);
  const unsigned shift = static_cast<unsigned>(bit & 7);
  std::uint32_t v = p[0];
  if (shift + static_cast<unsigned>(bits) > 8) v |= static_cast<std::uint32_t>(p[1]) << 8;
  const float q = static_cast<float>((v >> shift) & ((1u << bits) - 1u));
  const std::int64_t g = c / w.group_size;
  return aux_value(w.scales + r * w.aux_row_bytes, w.aux_type, g) * q +
         aux_value(w.biases + r * w.aux_row_bytes, w.aux_type, g);
}

// Whether the fast row kernels apply: whole 16-byte/32-code chunks per lane and aligned rows.
inline bool fast_path_applies(const DeviceWeight& w) {
  if (affine_bits_of(kind_of(w.type)) > 0) return w.cols % 32 == 0 && w.group_size % 32 == 0;
  return w.cols % 8 == 0;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
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

// The warp computes dot(row rows[k] of *mats[k], x) for k < ROWS; every lane gets the sums.
// xs: the activations in the padded layout; csum: Σx per 32-element chunk (affine types only).
template <int KIND, int ROWS>
__device__ __forceinline__ void warp_rows_dot(const DeviceWeight* const (&mats)[ROWS], const std::int64_t (&rows)[ROWS],
                                              const float* xs, const float* csum, float (&out)[ROWS]) {
  const int lane = static_cast<int>(threadIdx.x & 31);
  const std::int64_t cols = mats[0]->cols;
  float acc[ROWS];
#pragma unroll
  for (int k = 0; k < ROWS; ++k) acc[k] = 0.0f;
  constexpr int B = affine_bits_of(KIND);
  if constexpr (KIND == kGenericKind) {
    for (std::int64_t c = lane; c < cols; c += 32) {
      const float xv = xs[padded_index(c)];
#pragma unroll
      for (int k = 0; k < ROWS; ++k) acc[k] = fmaf(weight_element(*mats[k], rows[k], c), xv, acc[k]);
    }
  } else if constexpr (B > 0) {
    const std::int64_t chunks = cols >> 5;
    for (std::int64_t c = lane; c < chunks; c += 32) {
      std::uint32_t words[ROWS][B];
      float s[ROWS], b[ROWS];
#pragma unroll
      for (int k = 0; k < ROWS; ++k) {
        const DeviceWeight& w = *mats[k];
        load_code_words<B>(w.data + rows[k] * w.row_bytes + c * 4 * B, words[k]);
        const std::int64_t g = (c << 5) / w.group_size;
        s[k] = aux_value(w.scales + rows[k] * w.aux_row_bytes, w.aux_type, g);
        b[k] = aux_value(w.biases + rows[k] * w.aux_row_bytes, w.aux_type, g);
      }
      float x[32];
      const float4* xp = reinterpret_cast<const float4*>(xs + 36 * c);
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const float4 v = xp[j];
        x[4 * j] = v.x; x[4 * j + 1] = v.y; x[4 * j + 2] = v.z; x[4 * j + 3] = v.w;
      }
      const float xsum = csum[c];
#pragma unroll
      for (int k = 0; k < ROWS; ++k) {
        // Σ (1 + q/2^B)·x − Σx = Σ q·x / 2^B.
        const float qx = (affine_chunk_dot<B>(words[k], x) - xsum) * static_cast<float>(1 << B);
        acc[k] = fmaf(s[k], qx, fmaf(b[k], xsum, acc[k]));
      }
    }
  } else {
    const std::int64_t chunks = cols >> 3;
    for (std::int64_t c = lane; c < chunks; c += 32) {
      const float4* xp = reinterpret_cast<const float4*>(xs + 8 * c + (c >> 2) * 4);
      const float4 x0 = xp[0], x1 = xp[1];
      const float x[8] = {x0.x, x0.y, x0.z, x0.w, x1.x, x1.y, x1.z, x1.w};
      float v[ROWS][8];
#pragma unroll
      for (int k = 0; k < ROWS; ++k) {
        const std::uint8_t* p = mats[k]->data + rows[k] * mats[k]->row_bytes;
        if constexpr (KIND == kind_of(WeightType::F32)) {
          const float4 a = __ldg(reinterpret_cast<const float4*>(p) + 2 * c);
          const float4 d = __ldg(reinterpret_cast<const float4*>(p) + 2 * c + 1);
          v[k][0] = a.x; v[k][1] = a.y; v[k][2] = a.z; v[k][3] = a.w;
          v[k][4] = d.x; v[k][5] = d.y; v[k][6] = d.z; v[k][7] = d.w;
        } else {
          const uint4 a = __ldg(reinterpret_cast<const uint4*>(p) + c);
          const std::uint32_t u[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
          for (int j = 0; j < 4; ++j) {
            if constexpr (KIND == kind_of(WeightType::BF16)) {
              v[k][2 * j] = __uint_as_float(u[j] << 16);
              v[k][2 * j + 1] = __uint_as_float(u[j] & 0xffff0000u);
            } else {
              v[k][2 * j] = f16_bits_to_float(u[j] & 0xffffu);
              v[k][2 * j + 1] = f16_bits_to_float(u[j] >> 16);
            }
          }
        }
      }
#pragma unroll
      for (int k = 0; k < ROWS; ++k)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[k] = fmaf(v[k][j], x[j], acc[k]);
    }
  }
#pragma unroll
  for (int k = 0; k < ROWS; ++k) out[k] = warp_sum(acc[k]);
}

// Stages n activations in the padded layout and, for affine kinds, Σx per 32-element chunk.
// Must be called by the whole block; ends with a barrier.
template <int KIND>
__device__ __forceinline__ void stage_activations(const float* x, std::int64_t n, float* xs, float* csum) {
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) xs[padded_index(i)] = x[i];
  if constexpr (affine_bits_of(KIND) > 0) {
    __syncthreads();
    const int lane = static_cast<int>(threadIdx.x & 31), warp = static_cast<int>(threadIdx.x >> 5);
    const int warps = static_cast<int>(blockDim.x >> 5);
    for (std::int64_t c = warp; c < (n >> 5); c += warps) {
      const float s = warp_sum(xs[36 * c + lane]);
      if (lane == 0) csum[c] = s;
    }
  }
  __syncthreads();
}

// Shared-memory bytes stage_activations needs for n activations.
inline std::size_t staged_bytes(std::int64_t n) {
  return static_cast<std::size_t>(padded_length(n) + n / 32 + 1) * sizeof(float);
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
    default: break;
  }
  fail(ErrorKind::DType, std::string("the CUDA backend has no kernel for weight type ") +
                             std::string(weight_type_name(w.type)));
}


}  // namespace glmq::cuda
