#pragma once
// Device decoding of the GGML block types the CUDA backend runs (Q8_0, Q4_K, Q6_K, IQ4_NL, IQ2_S), following
// the per-block layouts of quant/ggml_block_decode.h: one element at a time (dequantization, embedding) and
// the row units of the fused matvec (see row_units.cuh for the unit contract). Blocks of 18, 34, 82 and 210
// bytes are only 2-byte aligned, so their 32-bit words are read as aligned pairs joined by a funnel shift.
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
  const float* levels = nullptr;       // IQ4_NL: 16 levels
  const std::uint64_t* grid = nullptr; // IQ2_S: 1024 entries of 8 magnitudes
};

// Element e of the GGML block at p (as float32), for the generic element-wise paths.
__device__ inline float ggml_element(WeightType type, const std::uint8_t* p, int e, const std::uint8_t* codebook) {
  switch (type) {
    case WeightType::Q8_0:
      return static_cast<float>(static_cast<std::int8_t>(p[2 + e])) * half_bits_to_float(ldg_u16(p));
    case WeightType::IQ4_NL: {
      const int j = e & 15;
      const int nib = e < 16 ? (p[2 + j] & 0xF) : (p[2 + j] >> 4);
      return half_bits_to_float(ldg_u16(p)) * static_cast<float>(reinterpret_cast<const std::int8_t*>(codebook)[nib]);
    }
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
    case WeightType::IQ2_S: {
      const int ib = e / 32, l = (e & 31) / 8, j = e & 7;
      const int sc = l < 2 ? p[74 + ib] & 0xF : p[74 + ib] >> 4;
      const float db = half_bits_to_float(ldg_u16(p)) * (0.5f + static_cast<float>(sc)) * 0.25f;
      const int idx = p[2 + 4 * ib + l] | (((p[66 + ib] >> (2 * l)) & 3) << 8);
      const std::uint64_t g = reinterpret_cast<const std::uint64_t*>(codebook)[idx];
      const float v = db * static_cast<float>((g >> (8 * j)) & 0xFF);
      return (p[34 + 4 * ib + l] >> j) & 1 ? -v : v;
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

// Q8_0: 32 elements per unit (one 34-byte block: f16 d, 32 int8).
struct Q8_0Unit {
  static constexpr int kElems = 32, kBatch = 2;
  static constexpr bool kStaged = true;
  struct Raw { std::uint32_t q[8]; std::uint32_t d; };
  struct X { float v[32]; float sum; };
  struct Row { const std::uint8_t* p; };
  __device__ static Row row(const DeviceWeight& w, std::int64_t r) { return {w.data + r * w.row_bytes}; }
  __device__ static void load(const Row& w, int u, Raw& r) {
    const std::uint8_t* p = w.p + u * 34;
    r.d = ldg_u16(p);
    load_words_unaligned<8>(p + 2, r.q);
  }
  __device__ static void load_x(const float* x, int u, X& o) {
    load_x_run<32>(staged_at(x, 32 * static_cast<int>(u)), o.v);
    o.sum = run_sum<32>(o.v);
  }
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
struct Iq4NlUnit {
  static constexpr int kElems = 32, kBatch = 2;
  static constexpr bool kStaged = true;
  struct Raw { std::uint32_t q[4]; std::uint32_t d; };
  struct X { float v[32]; };
  struct Row { const std::uint8_t* p; };
  __device__ static Row row(const DeviceWeight& w, std::int64_t r) { return {w.data + r * w.row_bytes}; }
  __device__ static void load(const Row& w, int u, Raw& r) {
    const std::uint8_t* p = w.p + u * 18;
    r.d = ldg_u16(p);
    load_words_unaligned<4>(p + 2, r.q);
  }
  __device__ static void load_x(const float* x, int u, X& o) {
    load_x_run<32>(staged_at(x, 32 * static_cast<int>(u)), o.v);
  }
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

// Q4_K: 64 elements per unit (sub-block pair p of a 144-byte super-block: low nibbles are sub-block 2p,
// high nibbles 2p+1). Super-blocks are 16-byte aligned, so every load is aligned.
struct Q4KUnit {
  static constexpr int kElems = 64, kBatch = 1;
  static constexpr bool kStaged = true;
  struct Raw { std::uint32_t q[8]; std::uint32_t dm; std::uint32_t s[3]; int pair; };
  struct X { float v[64]; float sum_lo, sum_hi; };
  struct Row { const std::uint8_t* p; };
  __device__ static Row row(const DeviceWeight& w, std::int64_t r) { return {w.data + r * w.row_bytes}; }
  __device__ static void load(const Row& w, int u, Raw& r) {
    const std::uint8_t* p = w.p + (u / 4) * 144;
    r.pair = static_cast<int>(u & 3);
    const auto* words = reinterpret_cast<const std::uint32_t*>(p);
    r.dm = __ldg(words);
    r.s[0] = __ldg(words + 1);
    r.s[1] = __ldg(words + 2);
    r.s[2] = __ldg(words + 3);
    const uint4 a = __ldg(reinterpret_cast<const uint4*>(p + 16 + 32 * r.pair));
    const uint4 b = __ldg(reinterpret_cast<const uint4*>(p + 16 + 32 * r.pair) + 1);
    r.q[0] = a.x; r.q[1] = a.y; r.q[2] = a.z; r.q[3] = a.w;
    r.q[4] = b.x; r.q[5] = b.y; r.q[6] = b.z; r.q[7] = b.w;
  }
  __device__ static void load_x(const float* x, int u, X& o) {
    load_x_run<32>(staged_at(x, 64 * static_cast<int>(u)), o.v);
    load_x_run<32>(staged_at(x, 64 * static_cast<int>(u) + 32), o.v + 32);
    o.sum_lo = run_sum<32>(o.v);
    o.sum_hi = run_sum<32>(o.v + 32);
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
struct Q6KUnit {
  static constexpr int kElems = 64, kBatch = 1;
  static constexpr bool kStaged = true;
  struct Raw { std::uint32_t a[4], b[4], h[4], s[2]; std::uint32_t d; };
  struct X { float v[4][16]; float sum[4]; };  // v[quarter][i]
  struct Row { const std::uint8_t* p; };
  __device__ static Row row(const DeviceWeight& w, std::int64_t r) { return {w.data + r * w.row_bytes}; }
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

// IQ2_S: 32 elements per unit (sub-block ib of an 82-byte super-block: four grid points of 8 magnitudes,
// each with 8 sign bits and a 4-bit scale per pair of grid points).
struct Iq2SUnit {
  static constexpr int kElems = 32, kBatch = 2;
  static constexpr bool kStaged = true;
  struct Raw { std::uint32_t qs[1], signs[1]; std::uint32_t d, qh, sc; };
  struct X { float v[32]; };
  struct Row { const std::uint8_t* p; };
  __device__ static Row row(const DeviceWeight& w, std::int64_t r) { return {w.data + r * w.row_bytes}; }
  __device__ static void load(const Row& w, int u, Raw& r) {
    const std::uint8_t* p = w.p + (u / 8) * 82;
    const int ib = static_cast<int>(u & 7);
    r.d = ldg_u16(p);
    load_words_unaligned<1>(p + 2 + 4 * ib, r.qs);
    load_words_unaligned<1>(p + 34 + 4 * ib, r.signs);
    r.qh = __ldg(p + 66 + ib);
    r.sc = __ldg(p + 74 + ib);
  }
  __device__ static void load_x(const float* x, int u, X& o) {
    load_x_run<32>(staged_at(x, 32 * static_cast<int>(u)), o.v);
  }
  __device__ static float dot(const Raw& r, const X& x, const Codebook& cb) {
    float pair[2] = {0.0f, 0.0f};
#pragma unroll
    for (int l = 0; l < 4; ++l) {
      const std::uint32_t idx = byte_of(r.qs[0], l) | (((r.qh >> (2 * l)) & 3u) << 8);
      const std::uint64_t g = cb.grid[idx];
      const std::uint32_t g_lo = static_cast<std::uint32_t>(g), g_hi = static_cast<std::uint32_t>(g >> 32);
      const std::uint32_t s = byte_of(r.signs[0], l);
      float acc = 0.0f;
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        // Magnitude byte → float via the 2^23 exponent; the sign bit goes onto x.
        const float m = __uint_as_float(__byte_perm(j < 4 ? g_lo : g_hi, 0x4B000000u, 0x7650u | (j & 3))) - 8388608.0f;
        const float xs = __uint_as_float(__float_as_uint(x.v[8 * l + j]) ^ ((s << (31 - j)) & 0x80000000u));
        acc = fmaf(m, xs, acc);
      }
      pair[l / 2] += acc;
    }
    const float d = half_bits_to_float(r.d) * 0.25f;
    return d * ((0.5f + static_cast<float>(r.sc & 0xF)) * pair[0] + (0.5f + static_cast<float>(r.sc >> 4)) * pair[1]);
  }
};

}  // namespace glmq::cuda
