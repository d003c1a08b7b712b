#pragma once
// Device decoding of the GGML block types (Q8_0, Q4_0, Q5_0, Q5_1, Q2_K … Q6_K, IQ4_NL, IQ4_XS, IQ2_XXS, IQ2_S,
// IQ3_S), following the per-block layouts of quant/ggml_block_decode.h (IQ2_S, Q8_0, Q4_0 and IQ4_NL in the planar
// device layout of device_weight.h): one element at a time (dequantization, embedding, prefill tiles) and the
// float row units of the fused matvec (see row_units.cuh for the unit contract). Blocks whose size is not a
// multiple of 4 bytes are only 2-byte aligned, so their 32-bit words are read as aligned pairs joined by a funnel
// shift.
#include <cuda_fp16.h>

#include <cstdint>

#include "backend/cuda/device_weight.h"

namespace glmq::cuda {

__device__ __forceinline__ float half_bits_to_float(std::uint32_t h) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(h)));
}
__device__ __forceinline__ std::uint32_t ldg_u16(const std::uint8_t* p) {
  return __ldg(reinterpret_cast<const unsigned short*>(p));
}

// Weight bytes are read once: loads marked first to evict from L1, which keeps the activations there.
// (L1::no_allocate instead was slower on H100 with the same L2->L1 traffic: the routed affine3 gate_up, whose
// 3 word loads per lane span the same sectors of a warp, took 48.0 vs 44.6 us in ncu.)
__device__ __forceinline__ uint4 ld_stream16(const void* p) {
  uint4 v;
  asm("ld.global.nc.L1::evict_first.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}
__device__ __forceinline__ uint2 ld_stream8(const void* p) {
  uint2 v;
  asm("ld.global.nc.L1::evict_first.v2.u32 {%0, %1}, [%2];" : "=r"(v.x), "=r"(v.y) : "l"(p));
  return v;
}
__device__ __forceinline__ std::uint32_t ld_stream4(const void* p) {
  std::uint32_t v;
  asm("ld.global.nc.L1::evict_first.u32 %0, [%1];" : "=r"(v) : "l"(p));
  return v;
}

// N little-endian 32-bit words starting at byte p (2-byte aligned): aligned loads, then a funnel shift.
template <int N>
__device__ __forceinline__ void load_words_unaligned(const std::uint8_t* p, std::uint32_t (&out)[N]) {
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  const auto* base = reinterpret_cast<const std::uint32_t*>(addr & ~std::uintptr_t{3});
  const unsigned shift = static_cast<unsigned>(addr & 3) * 8;
  std::uint32_t w[N + 1];
#pragma unroll
  for (int i = 0; i < N; ++i) w[i] = __ldg(base + i);
  // The word past the end is read only when the run is misaligned (it then holds wanted bytes).
  w[N] = shift ? __ldg(base + N) : 0u;
#pragma unroll
  for (int i = 0; i < N; ++i) out[i] = __funnelshift_r(w[i], w[i + 1], shift);
}

__device__ __forceinline__ std::uint32_t byte_of(std::uint32_t w, int k) { return (w >> (8 * k)) & 0xFFu; }

// Copies `count` words of type T at `source` (a weight's codebook in global memory) to `dest` in shared memory
// with every thread of the block, then synchronises the block: how the kernels stage their i-quant codebooks.
template <typename T>
__device__ __forceinline__ const T* stage_words(T* dest, const void* source, unsigned count) {
  const auto* words = static_cast<const T*>(source);
  for (unsigned i = threadIdx.x; i < count; i += blockDim.x) dest[i] = __ldg(words + i);
  __syncthreads();
  return dest;
}

// The 6-bit scale and min of sub-block j of a Q4_K block, from its 12 scale bytes held in 3 words.
__device__ __forceinline__ void q4k_scale_min(int j, const std::uint32_t (&s)[3], int& sc, int& m) {
  auto b = [&](int k) { return static_cast<int>(byte_of(k < 4 ? s[0] : k < 8 ? s[1] : s[2], k & 3)); };
  if (j < 4) {
    sc = b(j) & 63;
    m = b(j + 4) & 63;
  } else {
    sc = (b(j + 4) & 0xF) | ((b(j - 4) >> 6) << 4);
    m = (b(j + 4) >> 4) | ((b(j) >> 6) << 4);
  }
}

// Codebooks of the i-quants, staged in shared memory by the kernels that read them.
struct Codebook {
  const float* levels = nullptr;        // IQ4_NL, IQ4_XS: 16 levels
  const std::uint64_t* grid = nullptr;  // IQ2_S: 1024 entries of 8 magnitudes; IQ2_XXS: 256 of them
  const std::uint32_t* grid4 = nullptr; // IQ3_S: 512 entries of 4 magnitudes
};

// The IQ2_XXS sign byte of a 7-bit sign index: the stored bits and a parity bit that makes the number of
// negatives even (the table ksigns_iq2xs, computed instead of read).
__host__ __device__ __forceinline__ std::uint32_t iq2xxs_signs(std::uint32_t s7) {
#ifdef __CUDA_ARCH__
  return s7 | ((static_cast<std::uint32_t>(__popc(s7)) & 1u) << 7);
#else
  return s7 | ((static_cast<std::uint32_t>(__builtin_popcount(s7)) & 1u) << 7);
#endif
}

// The 6-bit scale of sub-block i (0..15) of a Q3_K block, from its 12 scale bytes held in 3 words (offset 32
// not removed).
__device__ __forceinline__ int q3k_scale(int i, const std::uint32_t (&s)[3]) {
  auto b = [&](int k) { return static_cast<int>(byte_of(k < 4 ? s[0] : k < 8 ? s[1] : s[2], k & 3)); };
  const int lo = (i < 8 ? b(i) : b(i - 8) >> 4) & 0xF;
  const int hi = (b(8 + (i & 3)) >> (2 * (i / 4))) & 3;
  return lo | (hi << 4);
}

// The 6-bit scale of sub-block ib (0..7) of an IQ4_XS block (offset 32 not removed).
__device__ __forceinline__ int iq4xs_scale(int ib, std::uint32_t scales_h, std::uint32_t scales_l_byte) {
  return static_cast<int>(((scales_l_byte >> (4 * (ib & 1))) & 0xF) | (((scales_h >> (2 * ib)) & 3) << 4));
}

// 4 × the grid index of grid point l (< 4) of an IQ2_S unit: the byte offset of its level word (q8_units.cuh).
__host__ __device__ __forceinline__ std::uint32_t iq2s_index_x4(std::uint32_t index, std::uint32_t hd, int l) {
  if (l == 3) return ((index >> 28) | (hd << 4)) & 0xFFCu;
  return (l == 0 ? index << 2 : index >> (10 * l - 2)) & 0xFFCu;
}
// The sign byte of grid point l of an IQ2_S unit in GGML's order (bit j: element 8·l + j), from its sign word.
__device__ __forceinline__ std::uint32_t iq2s_point_signs(std::uint32_t signs, int l) {
  std::uint32_t s = 0;
#pragma unroll
  for (int j = 0; j < 8; ++j) s |= ((signs >> iq2s_sign_bit(8 * l + j)) & 1u) << j;
  return s;
}

// Element c of an IQ2_S row (planar device layout, device_weight.h) of `cols` elements, as float32.
__device__ inline float iq2s_element(const std::uint8_t* row, std::int64_t cols, std::int64_t c,
                                     const std::uint8_t* codebook) {
  const std::int64_t units = cols / 32, u = c / 32;
  const int e = static_cast<int>(c & 31), l = e / 8, j = e & 7;
  const std::uint32_t index = __ldg(reinterpret_cast<const std::uint32_t*>(row + 8 * u));
  const std::uint32_t signs = __ldg(reinterpret_cast<const std::uint32_t*>(row + 8 * u + 4));
  const std::uint32_t high = ldg_u16(row + iq2s_qh_plane(units) + 2 * u);  // index 3's top bits, scale byte
  const std::uint32_t sc = ((high >> 8) >> (l < 2 ? 0 : 4)) & 0xFu;
  const float db = half_bits_to_float(ldg_u16(row + iq2s_d_plane(units) + 2 * (u / 8))) *
                   (0.5f + static_cast<float>(sc)) * 0.25f;
  const std::uint64_t g = reinterpret_cast<const std::uint64_t*>(codebook)[iq2s_index_x4(index, high, l) / 4];
  const float v = db * static_cast<float>((g >> (8 * j)) & 0xFF);
  return (signs >> iq2s_sign_bit(e)) & 1u ? -v : v;
}

// Element c of a Q8_0 / Q4_0 / IQ4_NL row (planar device layout, device_weight.h) of `cols` elements.
__device__ inline float f16_scaled_element(WeightType type, const std::uint8_t* row, std::int64_t cols, std::int64_t c,
                                           const std::uint8_t* codebook) {
  const std::int64_t b = c / 32, code = planar_code_bytes(type);
  const int e = static_cast<int>(c & 31);
  const float d = half_bits_to_float(ldg_u16(row + f16_scaled_d_plane(cols / 32, code) + 2 * b));
  const std::uint8_t* q = row + b * code;
  if (type == WeightType::Q8_0) return static_cast<float>(static_cast<std::int8_t>(q[e])) * d;
  const int nib = e < 16 ? (q[e & 15] & 0xF) : (q[e & 15] >> 4);
  if (type == WeightType::Q4_0) return d * static_cast<float>(nib - 8);
  return d * static_cast<float>(reinterpret_cast<const std::int8_t*>(codebook)[nib]);  // IQ4_NL
}

// Element e of the GGML block at p (as float32), for the generic element-wise paths (the planar types have
// iq2s_element and f16_scaled_element).
__device__ inline float ggml_element(WeightType type, const std::uint8_t* p, int e, const std::uint8_t* codebook) {
  switch (type) {
    case WeightType::Q4_K: {
      const int pair = e / 64, hi = (e / 32) & 1, l = e & 31;
      const std::uint32_t s[3] = {__ldg(reinterpret_cast<const std::uint32_t*>(p + 4)),
                                  __ldg(reinterpret_cast<const std::uint32_t*>(p + 8)),
                                  __ldg(reinterpret_cast<const std::uint32_t*>(p + 12))};
      int sc, m;
      q4k_scale_min(2 * pair + hi, s, sc, m);
      const int byte = p[16 + 32 * pair + l];
      const int q = hi ? byte >> 4 : byte & 0xF;
      const float d = half_bits_to_float(ldg_u16(p)), dmin = half_bits_to_float(ldg_u16(p + 2));
      return d * static_cast<float>(sc) * static_cast<float>(q) - dmin * static_cast<float>(m);
    }
    case WeightType::Q6_K: {
      const int h = e / 128, r = e & 127, l = r & 31, quarter = r / 32;
      const std::uint8_t* ql = p + 64 * h;
      const std::uint8_t* qh = p + 128 + 32 * h;
      const int low = quarter & 1 ? ql[l + 32] : ql[l];
      const int q = ((quarter < 2 ? low & 0xF : low >> 4) | (((qh[l] >> (2 * quarter)) & 3) << 4)) - 32;
      const auto sc = static_cast<std::int8_t>(p[192 + 8 * h + l / 16 + 2 * quarter]);
      return half_bits_to_float(ldg_u16(p + 208)) * static_cast<float>(sc) * static_cast<float>(q);
    }
    case WeightType::Q5_0:
    case WeightType::Q5_1: {
      // Q5_0: d, qh u32 @2, qs @6; Q5_1: d, m, qh u32 @4, qs @8. qh is read as two 16-bit halves (Q5_0 blocks
      // are 2-byte aligned).
      const int at = type == WeightType::Q5_0 ? 2 : 4;
      const std::uint32_t qh = ldg_u16(p + at) | (ldg_u16(p + at + 2) << 16);
      const int j = e & 15;
      const int nib = e < 16 ? (p[at + 4 + j] & 0xF) : (p[at + 4 + j] >> 4);
      const int q = nib | static_cast<int>(((qh >> e) & 1u) << 4);
      const float d = half_bits_to_float(ldg_u16(p));
      if (type == WeightType::Q5_0) return static_cast<float>(q - 16) * d;
      return __fadd_rn(__fmul_rn(static_cast<float>(q), d), half_bits_to_float(ldg_u16(p + 2)));
    }
    case WeightType::Q2_K: {
      const int c = e / 128, sh = 2 * ((e / 32) & 3), l = e & 31;
      const int sc = p[e / 16];
      const float d = half_bits_to_float(ldg_u16(p + 80)), dmin = half_bits_to_float(ldg_u16(p + 82));
      const int q = (p[16 + 32 * c + l] >> sh) & 3;
      return __fsub_rn(__fmul_rn(__fmul_rn(d, static_cast<float>(sc & 0xF)), static_cast<float>(q)),
                       __fmul_rn(dmin, static_cast<float>(sc >> 4)));
    }
    case WeightType::Q3_K: {
      const int c = e / 128, sh = 2 * ((e / 32) & 3), l = e & 31;
      std::uint32_t s[3];
      load_words_unaligned<3>(p + 96, s);
      const float dl = __fmul_rn(half_bits_to_float(ldg_u16(p + 108)), static_cast<float>(q3k_scale(e / 16, s) - 32));
      const int low = (p[32 + 32 * c + l] >> sh) & 3;
      const int high = (p[l] >> (e / 32)) & 1;
      return dl * static_cast<float>(low - (high ? 0 : 4));
    }
    case WeightType::Q5_K: {
      const int j = e / 32, pair = j / 2, l = e & 31;
      const std::uint32_t s[3] = {__ldg(reinterpret_cast<const std::uint32_t*>(p + 4)),
                                  __ldg(reinterpret_cast<const std::uint32_t*>(p + 8)),
                                  __ldg(reinterpret_cast<const std::uint32_t*>(p + 12))};
      int sc, m;
      q4k_scale_min(j, s, sc, m);
      const int byte = p[48 + 32 * pair + l];
      const int q = ((j & 1) ? byte >> 4 : byte & 0xF) | (((p[16 + l] >> j) & 1) << 4);
      const float d = half_bits_to_float(ldg_u16(p)), dmin = half_bits_to_float(ldg_u16(p + 2));
      return __fsub_rn(__fmul_rn(__fmul_rn(d, static_cast<float>(sc)), static_cast<float>(q)),
                       __fmul_rn(dmin, static_cast<float>(m)));
    }
    case WeightType::IQ4_XS: {
      const int ib = e / 32, k = e & 31;
      const int ls = iq4xs_scale(ib, ldg_u16(p + 2), p[4 + ib / 2]);
      const float dl = __fmul_rn(half_bits_to_float(ldg_u16(p)), static_cast<float>(ls - 32));
      const int byte = p[8 + 16 * ib + (k & 15)];
      const int nib = k < 16 ? byte & 0xF : byte >> 4;
      return dl * static_cast<float>(reinterpret_cast<const std::int8_t*>(codebook)[nib]);
    }
    case WeightType::IQ2_XXS: {
      const int ib = e / 32, l = (e & 31) / 8, j = e & 7;
      std::uint32_t a[2];
      load_words_unaligned<2>(p + 2 + 8 * ib, a);
      const float db = half_bits_to_float(ldg_u16(p)) * (0.5f + static_cast<float>(a[1] >> 28)) * 0.25f;
      const std::uint64_t g = reinterpret_cast<const std::uint64_t*>(codebook)[(a[0] >> (8 * l)) & 0xFF];
      const float v = db * static_cast<float>((g >> (8 * j)) & 0xFF);
      return (iq2xxs_signs((a[1] >> (7 * l)) & 127) >> j) & 1 ? -v : v;
    }
    case WeightType::IQ3_S: {
      const int ib = e / 32, k = e & 31;
      const float db = half_bits_to_float(ldg_u16(p)) *
                       static_cast<float>(1 + 2 * ((p[106 + ib / 2] >> (4 * (ib & 1))) & 0xF));
      const int idx = p[2 + 8 * ib + k / 4] | (((p[66 + ib] >> (k / 4)) & 1) << 8);
      const std::uint32_t g = reinterpret_cast<const std::uint32_t*>(codebook)[idx];
      const float v = db * static_cast<float>((g >> (8 * (k & 3))) & 0xFF);
      return (p[74 + 4 * ib + k / 8] >> (k & 7)) & 1 ? -v : v;
    }
    default: return 0.0f;
  }
}

// 1 + q/2^B for the B-bit field at bit `off` of w: the field placed under the exponent of 1.0.
template <int B>
__device__ __forceinline__ float field_as_unit_float(std::uint32_t w, int off) {
  constexpr int kDst = 23 - B;
  const std::uint32_t v = off >= kDst ? (w >> (off - kDst)) : (w << (kDst - off));
  return __uint_as_float((v & (((1u << B) - 1u) << kDst)) | 0x3F800000u);
}

// Activations are staged per warp in shared memory with 4 floats of padding after every 32, so that lanes
// reading their own unit's 16-byte pieces hit distinct banks; element e of a staged range sits at
// staged_at(base, e). Units index their activations relative to the range the warp staged.
__device__ __forceinline__ const float* staged_at(const float* base, int e) { return base + e + (e >> 5) * 4; }

// N consecutive staged activations (16-byte aligned, in shared memory) into registers.
template <int N>
__device__ __forceinline__ void load_x_run(const float* p, float* v) {
#pragma unroll
  for (int j = 0; j < N / 4; ++j) {
    const float4 f = reinterpret_cast<const float4*>(p)[j];
    v[4 * j] = f.x; v[4 * j + 1] = f.y; v[4 * j + 2] = f.z; v[4 * j + 3] = f.w;
  }
}
template <int N>
__device__ __forceinline__ float run_sum(const float* v) {
  float a = 0.0f, b = 0.0f;
#pragma unroll
  for (int i = 0; i < N; i += 2) { a += v[i]; b += v[i + 1]; }
  return a + b;
}

// What every GGML unit shares: rows of packed blocks, row r at data + r·row_bytes.
struct PackedRows {
  struct Row { const std::uint8_t* p; };
  __device__ static Row row(const DeviceWeight& w, std::int64_t r) { return {w.data + r * w.row_bytes}; }
};
// Rows in a planar device layout (device_weight.h): the row and its count of 32-element units, which places
// its planes.
struct PlanarRows {
  struct Row { const std::uint8_t* p; int units; };
  __device__ static Row row(const DeviceWeight& w, std::int64_t r) {
    return {w.data + r * w.row_bytes, static_cast<int>(w.cols / 32)};
  }
};
// Units of 32 elements read their activations from the staged copy of x (a mixin beside the unit's row layout).
struct Activations32 {
  struct X { float v[32]; };
  __device__ static void load_x(const float* x, int u, X& o) {
    load_x_run<32>(staged_at(x, 32 * static_cast<int>(u)), o.v);
  }
};
// ... and their sum, for codes stored with an offset (q − 8, q − 16, sign-flipped bytes) that the dot removes.
struct Activations32WithSum {
  struct X { float v[32]; float sum; };
  __device__ static void load_x(const float* x, int u, X& o) {
    load_x_run<32>(staged_at(x, 32 * static_cast<int>(u)), o.v);
    o.sum = run_sum<32>(o.v);
  }
};
// Units of 64 elements (K-quant sub-block pairs) with the sum of each half, for their per-sub-block minima.
struct Activations64WithHalfSums {
  struct X { float v[64]; float sum_lo, sum_hi; };
  __device__ static void load_x(const float* x, int u, X& o) {
    load_x_run<32>(staged_at(x, 64 * static_cast<int>(u)), o.v);
    load_x_run<32>(staged_at(x, 64 * static_cast<int>(u) + 32), o.v + 32);
    o.sum_lo = run_sum<32>(o.v);
    o.sum_hi = run_sum<32>(o.v + 32);
  }
};

// The raw layouts the float units here and the int8 units (q8_units.cuh) both read.
// Blocks of an f16 scale d and kWords 32-bit words of codes, one block per unit, in the planar device layout
// (device_weight.h): the codes of every block (16-byte aligned), then the d of every block.
template <int kWords>
struct F16ScaledBlocks : PlanarRows {
  struct Raw { std::uint32_t q[kWords]; std::uint32_t d; };
  __device__ static void load(const Row& w, int u, Raw& r) {
    const std::uint8_t* q = w.p + u * 4 * kWords;
#pragma unroll
    for (int i = 0; i < kWords / 4; ++i) {
      const uint4 v = ld_stream16(q + 16 * i);
      r.q[4 * i] = v.x;
      r.q[4 * i + 1] = v.y;
      r.q[4 * i + 2] = v.z;
      r.q[4 * i + 3] = v.w;
    }
    r.d = ldg_u16(w.p + f16_scaled_d_plane(w.units, 4 * kWords) + 2 * u);
  }
};
// Q8_0 blocks (f16 d, 32 int8 codes).
using Q8_0Blocks = F16ScaledBlocks<8>;
// Blocks of f16 d and 16 bytes of 4-bit codes (Q4_0 and IQ4_NL).
using F16Nibble18Blocks = F16ScaledBlocks<4>;

// IQ2_S rows in the device's planar layout (device_weight.h), a unit per 32-element sub-block: its index and
// sign words in one aligned 8-byte load, its 2-byte field (top bits of the last index, scale byte) and its
// super-block's f16 d in 2-byte loads, held together in hd.
struct Iq2SBlocks : PlanarRows {
  struct Raw { std::uint32_t index, signs, hd; };  // hd: index 3's top 8 bits, the scale byte, then d's f16 bits
  __device__ static void load(const Row& w, int u, Raw& r) {
    const uint2 a = ld_stream8(w.p + 8 * u);
    const std::uint32_t h = ldg_u16(w.p + iq2s_qh_plane(w.units) + 2 * u);
    r.index = a.x;
    r.signs = a.y;
    r.hd = h | (ldg_u16(w.p + iq2s_d_plane(w.units) + 2 * (u / 8)) << 16);
  }
};
// IQ2_XXS super-blocks (66 bytes), a unit per 32-element sub-block ib.
struct Iq2XxsBlocks : PackedRows {
  struct Raw { std::uint32_t a[2]; std::uint32_t d; };
  __device__ static void load(const Row& w, int u, Raw& r) {
    const std::uint8_t* p = w.p + (u / 8) * 66;
    r.d = ldg_u16(p);
    load_words_unaligned<2>(p + 2 + 8 * (u & 7), r.a);
  }
};

// IQ3_S super-blocks (110 bytes), a unit per 32-element sub-block ib.
struct Iq3SBlocks : PackedRows {
  struct Raw { std::uint32_t qs[2], signs[1]; std::uint32_t d; };  // d: f16 bits, qh byte, scale nibble
  __device__ static void load(const Row& w, int u, Raw& r) {
    const std::uint8_t* p = w.p + (u / 8) * 110;
    const int ib = static_cast<int>(u & 7);
    load_words_unaligned<2>(p + 2 + 8 * ib, r.qs);
    load_words_unaligned<1>(p + 74 + 4 * ib, r.signs);
    const std::uint32_t sc = (__ldg(p + 106 + ib / 2) >> (4 * (ib & 1))) & 0xFu;
    r.d = ldg_u16(p) | (static_cast<std::uint32_t>(__ldg(p + 66 + ib)) << 16) | (sc << 24);
  }
};

// Q8_0: 32 elements per unit (one 34-byte block: f16 d, 32 int8).
struct Q8_0Unit : Q8_0Blocks, Activations32WithSum {
  static constexpr int kElems = 32, kBatch = 2;
  static constexpr bool kStaged = true;
  __device__ static float dot(const Raw& r, const X& x, const Codebook&) {
    // Flipping each byte's sign bit gives u = q + 128 ∈ [0, 255]: Σ (1 + u/256)·x = 1.5·Σx + Σ q·x / 256.
    float acc0 = 0.0f, acc1 = 0.0f;
#pragma unroll
    for (int j = 0; j < 32; j += 2) {
      acc0 = fmaf(field_as_unit_float<8>(r.q[j / 4] ^ 0x80808080u, 8 * (j & 3)), x.v[j], acc0);
      acc1 = fmaf(field_as_unit_float<8>(r.q[j / 4] ^ 0x80808080u, 8 * ((j + 1) & 3)), x.v[j + 1], acc1);
    }
    return half_bits_to_float(r.d) * ((acc0 + acc1 - x.sum) * 256.0f - 128.0f * x.sum);
  }
};

// IQ4_NL: 32 elements per unit (one 18-byte block: f16 d, 16 bytes of level indices).
struct Iq4NlUnit : F16Nibble18Blocks, Activations32 {
  static constexpr int kElems = 32, kBatch = 2;
  static constexpr bool kStaged = true;
  __device__ static float dot(const Raw& r, const X& x, const Codebook& cb) {
    float lo = 0.0f, hi = 0.0f;
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      const std::uint32_t b = byte_of(r.q[j / 4], j & 3);
      lo = fmaf(cb.levels[b & 0xF], x.v[j], lo);
      hi = fmaf(cb.levels[b >> 4], x.v[j + 16], hi);
    }
    return half_bits_to_float(r.d) * (lo + hi);
  }
};

// The first 16 bytes of a Q4_K / Q5_K super-block: its f16 d and dmin (one word), then 12 bytes of 6-bit scales
// and minima.
__device__ __forceinline__ void load_k_header(const std::uint8_t* p, std::uint32_t& dm, std::uint32_t (&s)[3]) {
  const auto* words = reinterpret_cast<const std::uint32_t*>(p);
  dm = __ldg(words);
  s[0] = __ldg(words + 1);
  s[1] = __ldg(words + 2);
  s[2] = __ldg(words + 3);
}

// Q4_K: 64 elements per unit (sub-block pair p of a 144-byte super-block: low nibbles are sub-block 2p,
// high nibbles 2p+1). Super-blocks are 16-byte aligned, so every load is aligned.
struct Q4KUnit : PackedRows, Activations64WithHalfSums {
  static constexpr int kElems = 64, kBatch = 1;
  static constexpr bool kStaged = true;
  struct Raw { std::uint32_t q[8]; std::uint32_t dm; std::uint32_t s[3]; int pair; };
  __device__ static void load(const Row& w, int u, Raw& r) {
    const std::uint8_t* p = w.p + (u / 4) * 144;
    r.pair = static_cast<int>(u & 3);
    load_k_header(p, r.dm, r.s);
    const uint4 a = __ldg(reinterpret_cast<const uint4*>(p + 16 + 32 * r.pair));
    const uint4 b = __ldg(reinterpret_cast<const uint4*>(p + 16 + 32 * r.pair) + 1);
    r.q[0] = a.x; r.q[1] = a.y; r.q[2] = a.z; r.q[3] = a.w;
    r.q[4] = b.x; r.q[5] = b.y; r.q[6] = b.z; r.q[7] = b.w;
  }
  __device__ static float dot(const Raw& r, const X& x, const Codebook&) {
    float lo = 0.0f, hi = 0.0f;
#pragma unroll
    for (int l = 0; l < 32; ++l) {
      lo = fmaf(field_as_unit_float<4>(r.q[l / 4], 8 * (l & 3)), x.v[l], lo);
      hi = fmaf(field_as_unit_float<4>(r.q[l / 4], 8 * (l & 3) + 4), x.v[l + 32], hi);
    }
    int sc1, m1, sc2, m2;
    q4k_scale_min(2 * r.pair, r.s, sc1, m1);
    q4k_scale_min(2 * r.pair + 1, r.s, sc2, m2);
    const float d = half_bits_to_float(r.dm & 0xFFFFu), dmin = half_bits_to_float(r.dm >> 16);
    // Σ (1 + q/16)·x − Σx = Σ q·x / 16.
    const float qx_lo = (lo - x.sum_lo) * 16.0f, qx_hi = (hi - x.sum_hi) * 16.0f;
    return d * (static_cast<float>(sc1) * qx_lo + static_cast<float>(sc2) * qx_hi) -
           dmin * (static_cast<float>(m1) * x.sum_lo + static_cast<float>(m2) * x.sum_hi);
  }
};

// Q6_K: 64 elements per unit: half h of a 210-byte super-block, element l ∈ [16·k, 16·k + 16) of that half in
// its four quarters (elements l, l + 32, l + 64, l + 96 of the half, which share a scale per quarter).
struct Q6KUnit : PackedRows {
  static constexpr int kElems = 64, kBatch = 1;
  static constexpr bool kStaged = true;
  struct Raw { std::uint32_t a[4], b[4], h[4], s[2]; std::uint32_t d; };
  struct X { float v[4][16]; float sum[4]; };  // v[quarter][i]
  __device__ static void load(const Row& w, int u, Raw& r) {
    const std::uint8_t* p = w.p + (u / 4) * 210;
    const int h = static_cast<int>((u >> 1) & 1), k = static_cast<int>(u & 1);
    load_words_unaligned<4>(p + 64 * h + 16 * k, r.a);
    load_words_unaligned<4>(p + 64 * h + 32 + 16 * k, r.b);
    load_words_unaligned<4>(p + 128 + 32 * h + 16 * k, r.h);
    load_words_unaligned<2>(p + 192 + 8 * h, r.s);
    r.d = ldg_u16(p + 208) | (static_cast<std::uint32_t>(k) << 16);  // k rides in the high half
  }
  __device__ static void load_x(const float* x, int u, X& o) {
    const int base = static_cast<int>((u / 4) * 256 + 128 * ((u >> 1) & 1) + 16 * (u & 1));
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      load_x_run<16>(staged_at(x, base + 32 * j), o.v[j]);
      o.sum[j] = run_sum<16>(o.v[j]);
    }
  }
  __device__ static float dot(const Raw& r, const X& x, const Codebook&) {
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const std::uint32_t a = byte_of(r.a[i / 4], i & 3), b = byte_of(r.b[i / 4], i & 3);
      const std::uint32_t hb = byte_of(r.h[i / 4], i & 3);
      const std::uint32_t q[4] = {(a & 0xF) | ((hb & 3) << 4), (b & 0xF) | (((hb >> 2) & 3) << 4),
                                  (a >> 4) | (((hb >> 4) & 3) << 4), (b >> 4) | (((hb >> 6) & 3) << 4)};
#pragma unroll
      for (int j = 0; j < 4; ++j) acc[j] = fmaf(__uint_as_float((q[j] << 17) | 0x3F800000u), x.v[j][i], acc[j]);
    }
    const int k = static_cast<int>(r.d >> 16);
    float total = 0.0f;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      // Scale byte k + 2j of the half's 8; Σ (1 + u/64)·x → Σ (u − 32)·x = 64·(acc − Σx) − 32·Σx.
      const int byte = k + 2 * j;
      const auto sc = static_cast<std::int8_t>(byte_of(r.s[byte / 4], byte & 3));
      total = fmaf(static_cast<float>(sc), (acc[j] - x.sum[j]) * 64.0f - 32.0f * x.sum[j], total);
    }
    return half_bits_to_float(r.d & 0xFFFFu) * total;
  }
};

// Σ over 8 elements of ±m·x for the 8 magnitude bytes of an IQ2 grid entry and its sign byte s.
__device__ __forceinline__ float iq2_grid_dot(std::uint64_t g, std::uint32_t s, const float* x) {
  const std::uint32_t g_lo = static_cast<std::uint32_t>(g), g_hi = static_cast<std::uint32_t>(g >> 32);
  float acc = 0.0f;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    // Magnitude byte → float via the 2^23 exponent; the sign bit goes onto x.
    const float m = __uint_as_float(__byte_perm(j < 4 ? g_lo : g_hi, 0x4B000000u, 0x7650u | (j & 3))) - 8388608.0f;
    const float xs = __uint_as_float(__float_as_uint(x[j]) ^ ((s << (31 - j)) & 0x80000000u));
    acc = fmaf(m, xs, acc);
  }
  return acc;
}

// IQ2_S: 32 elements per unit (sub-block ib of an 82-byte super-block: four grid points of 8 magnitudes,
// each with 8 sign bits and a 4-bit scale per pair of grid points).
struct Iq2SUnit : Iq2SBlocks, Activations32 {
  static constexpr int kElems = 32, kBatch = 2;
  static constexpr bool kStaged = true;
  __device__ static float dot(const Raw& r, const X& x, const Codebook& cb) {
    float pair[2] = {0.0f, 0.0f};
#pragma unroll
    for (int l = 0; l < 4; ++l)
      pair[l / 2] += iq2_grid_dot(cb.grid[iq2s_index_x4(r.index, r.hd, l) / 4], iq2s_point_signs(r.signs, l), x.v + 8 * l);
    const float d = half_bits_to_float(r.hd >> 16) * 0.25f;
    return d * ((0.5f + static_cast<float>((r.hd >> 8) & 0xF)) * pair[0] +
                (0.5f + static_cast<float>((r.hd >> 12) & 0xF)) * pair[1]);
  }
};

// Q4_0: 32 elements per unit (one 18-byte block: f16 d, 16 bytes; low nibbles are elements 0..15, high 16..31).
struct Q4_0Unit : F16Nibble18Blocks, Activations32WithSum {
  static constexpr int kElems = 32, kBatch = 2;
  static constexpr bool kStaged = true;
  __device__ static float dot(const Raw& r, const X& x, const Codebook&) {
    float lo = 0.0f, hi = 0.0f;
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      lo = fmaf(field_as_unit_float<4>(r.q[j / 4], 8 * (j & 3)), x.v[j], lo);
      hi = fmaf(field_as_unit_float<4>(r.q[j / 4], 8 * (j & 3) + 4), x.v[j + 16], hi);
    }
    // Σ (1 + q/16)·x − Σx = Σ q·x / 16; the codes are q − 8.
    return half_bits_to_float(r.d) * ((lo + hi - x.sum) * 16.0f - 8.0f * x.sum);
  }
};

// Q5_0 / Q5_1: 32 elements per unit (one block: f16 d, [f16 m,] the 32 fifth bits as a u32, 16 nibble bytes as
// Q4_0). Q5_0 codes are q − 16 (22-byte blocks, 2-byte aligned); Q5_1 weights are d·q + m (24-byte blocks).
template <bool kMin>
struct Q5Unit : PackedRows, Activations32WithSum {
  static constexpr int kElems = 32, kBatch = 2;
  static constexpr int kBytes = kMin ? 24 : 22, kQh = kMin ? 4 : 2;
  static constexpr bool kStaged = true;
  struct Raw { std::uint32_t q[4]; std::uint32_t qh, dm; };
  __device__ static void load(const Row& w, int u, Raw& r) {
    const std::uint8_t* p = w.p + u * kBytes;
    std::uint32_t words[5];
    load_words_unaligned<5>(p + kQh, words);
    r.qh = words[0];
#pragma unroll
    for (int i = 0; i < 4; ++i) r.q[i] = words[1 + i];
    r.dm = kMin ? __ldg(reinterpret_cast<const std::uint32_t*>(p)) : ldg_u16(p);
  }
  __device__ static float dot(const Raw& r, const X& x, const Codebook&) {
    float lo = 0.0f, hi = 0.0f;
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      const std::uint32_t b = byte_of(r.q[j / 4], j & 3);
      // The 5-bit code under the exponent of 1.0: 1 + q/32.
      const std::uint32_t q_lo = (b & 0xFu) | (((r.qh >> j) & 1u) << 4);
      const std::uint32_t q_hi = (b >> 4) | (((r.qh >> (j + 16)) & 1u) << 4);
      lo = fmaf(__uint_as_float((q_lo << 18) | 0x3F800000u), x.v[j], lo);
      hi = fmaf(__uint_as_float((q_hi << 18) | 0x3F800000u), x.v[j + 16], hi);
    }
    const float qx = (lo + hi - x.sum) * 32.0f;  // Σ q·x
    const float d = half_bits_to_float(r.dm & 0xFFFFu);
    if constexpr (kMin) return fmaf(d, qx, half_bits_to_float(r.dm >> 16) * x.sum);
    return d * (qx - 16.0f * x.sum);
  }
};
using Q5_0Unit = Q5Unit<false>;
using Q5_1Unit = Q5Unit<true>;

// Q5_K: 64 elements per unit (sub-block pair p of a 176-byte super-block): Q4_K's nibbles and scales, with the
// fifth bit of sub-block j's element l in bit j of qh[l] (qh is shared by all pairs). 16-byte aligned.
struct Q5KUnit : PackedRows, Activations64WithHalfSums {
  static constexpr int kElems = 64, kBatch = 1;
  static constexpr bool kStaged = true;
  struct Raw { std::uint32_t q[8], h[8]; std::uint32_t dm; std::uint32_t s[3]; int pair; };
  __device__ static void load(const Row& w, int u, Raw& r) {
    const std::uint8_t* p = w.p + (u / 4) * 176;
    r.pair = static_cast<int>(u & 3);
    load_k_header(p, r.dm, r.s);
    const auto* qh = reinterpret_cast<const uint4*>(p + 16);
    const auto* qs = reinterpret_cast<const uint4*>(p + 48 + 32 * r.pair);
    const uint4 h0 = __ldg(qh), h1 = __ldg(qh + 1), a = __ldg(qs), b = __ldg(qs + 1);
    r.h[0] = h0.x; r.h[1] = h0.y; r.h[2] = h0.z; r.h[3] = h0.w;
    r.h[4] = h1.x; r.h[5] = h1.y; r.h[6] = h1.z; r.h[7] = h1.w;
    r.q[0] = a.x; r.q[1] = a.y; r.q[2] = a.z; r.q[3] = a.w;
    r.q[4] = b.x; r.q[5] = b.y; r.q[6] = b.z; r.q[7] = b.w;
  }
  __device__ static float dot(const Raw& r, const X& x, const Codebook&) {
    float lo = 0.0f, hi = 0.0f;
    const int j_lo = 2 * r.pair;
#pragma unroll
    for (int l = 0; l < 32; ++l) {
      const std::uint32_t b = byte_of(r.q[l / 4], l & 3), h = byte_of(r.h[l / 4], l & 3) >> j_lo;
      const std::uint32_t q_lo = (b & 0xFu) | ((h & 1u) << 4), q_hi = (b >> 4) | ((h & 2u) << 3);
      lo = fmaf(__uint_as_float((q_lo << 18) | 0x3F800000u), x.v[l], lo);
      hi = fmaf(__uint_as_float((q_hi << 18) | 0x3F800000u), x.v[l + 32], hi);
    }
    int sc1, m1, sc2, m2;
    q4k_scale_min(j_lo, r.s, sc1, m1);
    q4k_scale_min(j_lo + 1, r.s, sc2, m2);
    const float d = half_bits_to_float(r.dm & 0xFFFFu), dmin = half_bits_to_float(r.dm >> 16);
    // Σ (1 + q/32)·x − Σx = Σ q·x / 32.
    const float qx_lo = (lo - x.sum_lo) * 32.0f, qx_hi = (hi - x.sum_hi) * 32.0f;
    return d * (static_cast<float>(sc1) * qx_lo + static_cast<float>(sc2) * qx_hi) -
           dmin * (static_cast<float>(m1) * x.sum_lo + static_cast<float>(m2) * x.sum_hi);
  }
};

// Q2_K and Q3_K: 32 elements per unit, elements 128·c + 32·s + l (l < 32) of an 84- / 110-byte super-block:
// bits 2s..2s+1 of the 32 code bytes qs[32c..32c+31] (shared by the four values of s), two sub-blocks of 16
// with their own scales. Q2_K: w = d·sc·q − dmin·m (4-bit scale and min per sub-block); Q3_K: a third bit
// in hmask[l] bit 4c + s (clear: subtract 4), w = d·(sc − 32)·q with 6-bit scales.
template <bool kThreeBit>
struct QLowKUnit : PackedRows {
  static constexpr int kElems = 32, kBatch = 1;
  static constexpr int kBytes = kThreeBit ? 110 : 84;
  static constexpr bool kStaged = true;
  struct Raw { std::uint32_t q[8], h[kThreeBit ? 8 : 1]; std::uint32_t sc, d; int sub; };
  struct X { float v[32]; float sum_lo, sum_hi; };
  __device__ static void load(const Row& w, int u, Raw& r) {
    const std::uint8_t* p = w.p + (u / 8) * kBytes;
    const int sub = static_cast<int>(u & 7), c = sub / 4;  // sub = 4c + s
    r.sub = sub;
    if constexpr (kThreeBit) {
      load_words_unaligned<8>(p + 32 + 32 * c, r.q);
      load_words_unaligned<8>(p, r.h);
      std::uint32_t s[3];
      load_words_unaligned<3>(p + 96, s);
      // The two 6-bit scales of sub-blocks 2·sub and 2·sub + 1, one per half-word.
      r.sc = static_cast<std::uint32_t>(q3k_scale(2 * sub, s)) | (static_cast<std::uint32_t>(q3k_scale(2 * sub + 1, s)) << 16);
      r.d = ldg_u16(p + 108);
    } else {
      // 84-byte blocks are only 4-byte aligned: word loads.
      const auto* qs = reinterpret_cast<const std::uint32_t*>(p + 16 + 32 * c);
#pragma unroll
      for (int i = 0; i < 8; ++i) r.q[i] = __ldg(qs + i);
      r.sc = ldg_u16(p + 2 * sub);
      r.d = __ldg(reinterpret_cast<const std::uint32_t*>(p + 80));
    }
  }
  __device__ static void load_x(const float* x, int u, X& o) {
    load_x_run<32>(staged_at(x, 32 * static_cast<int>(u)), o.v);
    o.sum_lo = run_sum<16>(o.v);
    o.sum_hi = run_sum<16>(o.v + 16);
  }
  __device__ static float dot(const Raw& r, const X& x, const Codebook&) {
    const int shift = 2 * (r.sub & 3);
    float acc[2] = {0.0f, 0.0f};
#pragma unroll
    for (int l = 0; l < 32; ++l) {
      std::uint32_t q = (byte_of(r.q[l / 4], l & 3) >> shift) & 3u;
      if constexpr (kThreeBit) q |= ((byte_of(r.h[l / 4], l & 3) >> r.sub) & 1u) << 2;
      // 1 + q/8 (Q3_K, q = the 3-bit code with the high bit) or 1 + q/4 (Q2_K).
      acc[l / 16] = fmaf(__uint_as_float((q << (kThreeBit ? 20 : 21)) | 0x3F800000u), x.v[l], acc[l / 16]);
    }
    const float sums[2] = {x.sum_lo, x.sum_hi};
    float total = 0.0f;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      if constexpr (kThreeBit) {
        // Σ (q − 4)·x = 8·(acc − Σx) − 4·Σx.
        const int sc = static_cast<int>((r.sc >> (16 * h)) & 0xFFFFu) - 32;
        total = fmaf(static_cast<float>(sc), (acc[h] - sums[h]) * 8.0f - 4.0f * sums[h], total);
      } else {
        const std::uint32_t b = (r.sc >> (8 * h)) & 0xFFu;
        const float d = half_bits_to_float(r.d & 0xFFFFu), dmin = half_bits_to_float(r.d >> 16);
        total += d * static_cast<float>(b & 0xF) * (acc[h] - sums[h]) * 4.0f - dmin * static_cast<float>(b >> 4) * sums[h];
      }
    }
    if constexpr (kThreeBit) return half_bits_to_float(r.d) * total;
    return total;
  }
};
using Q2KUnit = QLowKUnit<false>;
using Q3KUnit = QLowKUnit<true>;

// IQ4_XS: 32 elements per unit (sub-block ib of a 136-byte super-block: 16 bytes of IQ4_NL level indices with a
// 6-bit scale d·(ls − 32)). Super-blocks are 8-byte aligned.
struct Iq4XsUnit : PackedRows, Activations32 {
  static constexpr int kElems = 32, kBatch = 2;
  static constexpr bool kStaged = true;
  struct Raw { std::uint32_t q[4]; std::uint32_t d; };  // d: f16 bits, ls in bits 16..21
  __device__ static void load(const Row& w, int u, Raw& r) {
    const std::uint8_t* p = w.p + (u / 8) * 136;
    const int ib = static_cast<int>(u & 7);
    const std::uint32_t head = __ldg(reinterpret_cast<const std::uint32_t*>(p));  // d, scales_h
    const std::uint32_t scales_l = __ldg(reinterpret_cast<const std::uint32_t*>(p + 4));
    r.d = (head & 0xFFFFu) | (static_cast<std::uint32_t>(iq4xs_scale(ib, head >> 16, byte_of(scales_l, ib / 2))) << 16);
    const auto* qs = reinterpret_cast<const uint2*>(p + 8 + 16 * ib);
    const uint2 a = __ldg(qs), b = __ldg(qs + 1);
    r.q[0] = a.x; r.q[1] = a.y; r.q[2] = b.x; r.q[3] = b.y;
  }
  __device__ static float dot(const Raw& r, const X& x, const Codebook& cb) {
    float lo = 0.0f, hi = 0.0f;
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      const std::uint32_t b = byte_of(r.q[j / 4], j & 3);
      lo = fmaf(cb.levels[b & 0xF], x.v[j], lo);
      hi = fmaf(cb.levels[b >> 4], x.v[j + 16], hi);
    }
    return half_bits_to_float(r.d & 0xFFFFu) * static_cast<float>(static_cast<int>(r.d >> 16) - 32) * (lo + hi);
  }
};

// IQ2_XXS: 32 elements per unit (sub-block ib of a 66-byte super-block: two words, four grid indices, then four
// 7-bit sign indices and a 4-bit scale).
struct Iq2XxsUnit : Iq2XxsBlocks, Activations32 {
  static constexpr int kElems = 32, kBatch = 2;
  static constexpr bool kStaged = true;
  __device__ static float dot(const Raw& r, const X& x, const Codebook& cb) {
    float acc = 0.0f;
#pragma unroll
    for (int l = 0; l < 4; ++l)
      acc += iq2_grid_dot(cb.grid[byte_of(r.a[0], l)], iq2xxs_signs((r.a[1] >> (7 * l)) & 127u), x.v + 8 * l);
    return half_bits_to_float(r.d) * (0.5f + static_cast<float>(r.a[1] >> 28)) * 0.25f * acc;
  }
};

// IQ3_S: 32 elements per unit (sub-block ib of a 110-byte super-block: eight 9-bit indices of grid points of 4
// magnitudes, a sign byte per 8 elements, a 4-bit scale d·(1 + 2s)).
struct Iq3SUnit : Iq3SBlocks, Activations32 {
  static constexpr int kElems = 32, kBatch = 2;
  static constexpr bool kStaged = true;
  __device__ static float dot(const Raw& r, const X& x, const Codebook& cb) {
    float acc = 0.0f;
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      const std::uint32_t idx = byte_of(r.qs[k / 4], k & 3) | (((r.d >> (16 + k)) & 1u) << 8);
      const std::uint32_t g = cb.grid4[idx];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int e = 4 * k + j;
        const float m = __uint_as_float(__byte_perm(g, 0x4B000000u, 0x7650u | j)) - 8388608.0f;
        const float xs = __uint_as_float(__float_as_uint(x.v[e]) ^ ((r.signs[0] << (31 - e)) & 0x80000000u));
        acc = fmaf(m, xs, acc);
      }
    }
    return half_bits_to_float(r.d & 0xFFFFu) * static_cast<float>(1 + 2 * static_cast<int>(r.d >> 24)) * acc;
  }
};

}  // namespace glmq::cuda
