#pragma once
// Shared pieces of the integer kernels (q8_kernels_*.cpp); included only where GLMQ_CPU_INT8_KERNELS is set.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "backend/cpu/q8_kernels.h"
#include "quant/ggml_iq_tables.h"

namespace glmq::cpu::q8 {

inline float f16(const std::uint8_t* p) {
  std::uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

inline __m512i load512(const void* p) { return _mm512_loadu_si512(p); }
inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

inline float hsum8(__m256 v) {
  const __m128 v4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 v2 = _mm_add_ps(v4, _mm_movehl_ps(v4, v4));
  return _mm_cvtss_f32(_mm_add_ss(v2, _mm_movehdup_ps(v2)));
}

// Which sub-block's scale each int16 lane of a maddubs result takes: `first` for the first `per` lanes, then
// first + step, … (an index vector for vpermw).
struct alignas(64) LanePattern {
  std::int16_t lane[32];
};
constexpr LanePattern lane_pattern(int per, int first, int step) {
  LanePattern p{};
  for (int i = 0; i < 32; ++i) p.lane[i] = static_cast<std::int16_t>(first + step * (i / per));
  return p;
}
inline __m512i load_pattern(const LanePattern& p) { return _mm512_load_si512(p.lane); }

// Sub-block scales for two vpdpbusd results at once. Each int32 lane of a vpdpbusd result sums 4 products of one
// sub-block; packed to int16 (every lane here is below 32768 in magnitude: 4·63·127 at most) the two results are
// scaled and summed by one vpdpwssd. Element e of the packed vector (128-bit lane L = e/8) comes from int32 lane
// 4L + e%4 of the first result (e%8 < 4) or of the second; sub(v, l) names the sub-block that lane l of result v
// covers, and the pattern gives each element's scale index (for vpermw).
template <class Sub>
constexpr LanePattern packed_pattern(Sub sub) {
  LanePattern p{};
  for (int e = 0; e < 32; ++e) p.lane[e] = static_cast<std::int16_t>(sub(e % 8 / 4, 4 * (e / 8) + e % 4));
  return p;
}

// Natural-order super-blocks as four 64-element chunks, whose vpdpbusd results are packed in pairs (0, 1) and (2, 3):
// the scale index of each packed element where scales are per 16 elements (Q2_K, Q3_K, Q6_K, IQ2_S: 4 int32 lanes
// of a chunk's result each) or per 32 (IQ3_S, IQ2_XXS: 8 lanes each).
inline constexpr LanePattern kSixteenPairs[2] = {packed_pattern([](int v, int l) { return 4 * v + l / 4; }),
                                                 packed_pattern([](int v, int l) { return 8 + 4 * v + l / 4; })};
inline constexpr LanePattern kThirtyTwoPairs[2] = {packed_pattern([](int v, int l) { return 2 * v + l / 8; }),
                                                   packed_pattern([](int v, int l) { return 4 + 2 * v + l / 8; })};

// acc + Σ (p0, p1 packed to int16) · scale16, pairwise into int32 lanes.
inline __m512i add_scaled(__m512i acc, __m512i p0, __m512i p1, __m512i scale16) {
  return _mm512_dpwssd_epi32(acc, _mm512_packs_epi32(p0, p1), scale16);
}

// The tokens a row kernel sees: NT consecutive rows of the rounded activations.
template <int NT>
struct Tokens {
  const std::int8_t* q[NT];
  const float* d[NT];
  const std::int16_t* sum16[NT];
  const std::int32_t* sum32[NT];
  Tokens(const Q8Rows& a, std::int64_t t) {
    for (int i = 0; i < NT; ++i) {
      q[i] = a.row_q(t + i);
      d[i] = a.row_d(t + i);
      sum16[i] = a.row_sum16(t + i);
      sum32[i] = a.row_sum32(t + i);
    }
  }
};

// The fp16 fields at `b + offset` of four consecutive blocks `stride` bytes apart, as floats in lanes 0..3.
inline __m128 four_f16(const std::uint8_t* b, std::size_t stride, std::size_t offset = 0) {
  std::uint16_t h[4];
  for (int k = 0; k < 4; ++k) std::memcpy(&h[k], b + stride * static_cast<std::size_t>(k) + offset, 2);
  return _mm_cvtph_ps(_mm_set_epi16(0, 0, 0, 0, static_cast<short>(h[3]), static_cast<short>(h[2]),
                                    static_cast<short>(h[1]), static_cast<short>(h[0])));
}

inline int hsum4(__m128i v) {
  return _mm_extract_epi32(v, 0) + _mm_extract_epi32(v, 1) + _mm_extract_epi32(v, 2) + _mm_extract_epi32(v, 3);
}

// Each float lane k (0..3) of a 128-bit vector spread over the four int32 lanes of 128-bit lane k (the lanes a
// vpdpbusd result gives block k in the NibbleGroups order).
inline __m512 per_block_lanes(__m128 v) {
  const __m512i spread = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  return _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(v));
}

// IQ4_NL's 16 levels shifted by +128 so they are unsigned (vpdpbusd multiplies unsigned by signed bytes), in every
// 128-bit lane for vpshufb; the shift adds 128·Σ qₓ per block, which the kernels subtract in int32.
inline __m512i shifted_iq4_levels() {
  alignas(16) std::uint8_t t[16];
  for (int i = 0; i < 16; ++i) t[i] = static_cast<std::uint8_t>(ggml::kValuesIq4nl[i] + 128);
  return _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(t)));
}

// 2^Shift·(Σ qₓ) of four 32-element blocks, in int32 lane 0 of each 128-bit lane (the block's lanes in the
// NibbleGroups order): the offset of codes stored as q + 2^Shift.
template <int Shift>
inline __m512i block_offsets(const std::int32_t* sum32) {
  const __m512i spread = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  return _mm512_slli_epi32(_mm512_maskz_permutexvar_epi32(0x1111, spread, _mm512_castsi128_si512(load128(sum32))), Shift);
}

// Runs the 32-element block types, whose activations have one scale per block: groups of four blocks (128
// elements, one activation vector pair) through Unit::Four, the blocks after the last whole group one at a time
// through Unit::One. Each unit decodes its blocks once and is then applied to every token:
//   Unit::kBytes                                  bytes per block
//   Unit::Four(block0)                            decode blocks 0..3 from the first one's address
//   four.accumulate(acc, q, sum32, dx) → acc      acc + Σ over the 4 blocks of w·x, 128 activations at q, their
//                                                 4 block sums at sum32 and 4 scales dx (lanes 0..3)
//   Unit::One(block), one.dot(q, sum32, dx)       Σ w·x over one block, activations in natural order
template <class Unit>
struct Blocks32 {
  template <int NT>
  static void dot(const std::uint8_t* row, std::int64_t cols, const Tokens<NT>& tk, float* out) {
    const std::int64_t blocks = cols / 32, full = blocks / 4 * 4;
    __m512 acc[NT];
    float tail[NT];
    for (int i = 0; i < NT; ++i) {
      acc[i] = _mm512_setzero_ps();
      tail[i] = 0.0f;
    }
    for (std::int64_t g = 0; g < full; g += 4) {
      const typename Unit::Four w(row + static_cast<std::size_t>(g) * Unit::kBytes);
      for (int i = 0; i < NT; ++i) acc[i] = w.accumulate(acc[i], tk.q[i] + g * 32, tk.sum32[i] + g, _mm_loadu_ps(tk.d[i] + g));
    }
    for (std::int64_t g = full; g < blocks; ++g) {  // rows whose length is not a multiple of 128
      const typename Unit::One w(row + static_cast<std::size_t>(g) * Unit::kBytes);
      for (int i = 0; i < NT; ++i) tail[i] += w.dot(tk.q[i] + g * 32, tk.sum32[i][g], tk.d[i][g]);
    }
    for (int i = 0; i < NT; ++i) out[i] = _mm512_reduce_add_ps(acc[i]) + tail[i];
  }
};

// Runs the 256-element super-block types, whose activations have one scale per 256: each super-block is decoded
// once through Unit::Super and then applied to every token:
//   Unit::kBytes                                          bytes per super-block
//   Unit::Super(block)                                    decode one super-block
//   super.accumulate(acc, q, sum16, sum32, dx) → acc      acc + Σ w·x over its 256 elements: activations at q, their
//                                                         16- and 32-element sums at sum16 / sum32, their scale dx
template <class Unit>
struct Blocks256 {
  template <int NT>
  static void dot(const std::uint8_t* row, std::int64_t cols, const Tokens<NT>& tk, float* out) {
    __m512 acc[NT];
    for (int i = 0; i < NT; ++i) acc[i] = _mm512_setzero_ps();
    for (std::int64_t sb = 0; sb < cols / 256; ++sb) {
      const typename Unit::Super w(row + static_cast<std::size_t>(sb) * Unit::kBytes);
      for (int i = 0; i < NT; ++i)
        acc[i] = w.accumulate(acc[i], tk.q[i] + sb * 256, tk.sum16[i] + sb * 16, tk.sum32[i] + sb * 8, tk.d[i][sb]);
    }
    for (int i = 0; i < NT; ++i) out[i] = _mm512_reduce_add_ps(acc[i]);
  }
};

// Runs K::dot<NT>(row, cols, tokens, out[NT]) over rows [r0, r1) × tokens [t0, t1), tokens in groups of 4 so each
// weight block is decoded once per group. A row stays in L1 while its token groups sweep it.
template <class K>
void for_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
              float* y, std::int64_t y_stride) {
  const std::size_t row_bytes = w.row_bytes();
  for (std::int64_t r = r0; r < r1; ++r) {
    const std::uint8_t* row = w.data + static_cast<std::size_t>(r) * row_bytes;
    float out[4];
    std::int64_t t = t0;
    for (; t + 4 <= t1; t += 4) {
      K::template dot<4>(row, w.cols, Tokens<4>(a, t), out);
      for (int i = 0; i < 4; ++i) y[(t + i) * y_stride + r] = out[i];
    }
    switch (t1 - t) {
      case 3: K::template dot<3>(row, w.cols, Tokens<3>(a, t), out); break;
      case 2: K::template dot<2>(row, w.cols, Tokens<2>(a, t), out); break;
      case 1: K::template dot<1>(row, w.cols, Tokens<1>(a, t), out); break;
      default: break;
    }
    for (std::int64_t i = 0; i < t1 - t; ++i) y[(t + i) * y_stride + r] = out[i];
  }
}

}  // namespace glmq::cpu::q8
