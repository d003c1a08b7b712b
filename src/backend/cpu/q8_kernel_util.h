#pragma once
// Shared pieces of the integer kernels (q8_kernels_*.cpp); included only where GLMQ_CPU_INT8_KERNELS is set.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "backend/cpu/q8_kernels.h"

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
