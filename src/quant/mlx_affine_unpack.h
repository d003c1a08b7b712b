#pragma once
// Unpacking MLX affine codes to floats, inlined into the kernels that use it (one specialisation per width).
#include <cstdint>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace glmq {

// Codes [first, first + count) of a packed row as floats; first and count are multiples of 8.
template <int Bits>
inline void affine_unpack(const std::uint8_t* row, std::int64_t first, std::int64_t count, float* out) {
  if constexpr (Bits == 8) {
    const std::uint8_t* p = row + first;
    for (std::int64_t i = 0; i < count; ++i) out[i] = static_cast<float>(p[i]);
  } else if constexpr (Bits == 4) {
    const std::uint8_t* p = row + first / 2;
#if defined(__AVX2__)
    // 16 bytes → 32 codes: split nibbles, re-interleave them in element order, widen to float.
    const __m128i mask = _mm_set1_epi8(0x0f);
    std::int64_t k = 0;
    for (; k + 16 <= count / 2; k += 16) {
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + k));
      const __m128i lo = _mm_and_si128(b, mask), hi = _mm_and_si128(_mm_srli_epi16(b, 4), mask);
      const __m128i c0 = _mm_unpacklo_epi8(lo, hi), c1 = _mm_unpackhi_epi8(lo, hi);
      float* o = out + 2 * k;
      _mm256_storeu_ps(o, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c0)));
      _mm256_storeu_ps(o + 8, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(c0, 8))));
      _mm256_storeu_ps(o + 16, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c1)));
      _mm256_storeu_ps(o + 24, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(c1, 8))));
    }
    for (; k < count / 2; ++k) {
      out[2 * k] = static_cast<float>(p[k] & 0xfu);
      out[2 * k + 1] = static_cast<float>(p[k] >> 4);
    }
    return;
#endif
    for (std::int64_t i = 0; i < count / 2; ++i) {
      out[2 * i] = static_cast<float>(p[i] & 0xfu);
      out[2 * i + 1] = static_cast<float>(p[i] >> 4);
    }
  } else if constexpr (Bits == 2) {
    const std::uint8_t* p = row + first / 4;
    for (std::int64_t i = 0; i < count / 4; ++i) {
      out[4 * i] = static_cast<float>(p[i] & 3u);
      out[4 * i + 1] = static_cast<float>((p[i] >> 2) & 3u);
      out[4 * i + 2] = static_cast<float>((p[i] >> 4) & 3u);
      out[4 * i + 3] = static_cast<float>(p[i] >> 6);
    }
  } else {
    // 3, 5, 6 bits: 8 codes fill `Bits` bytes; gather them into one 64-bit word and shift them out.
    const std::uint8_t* p = row + first * Bits / 8;
    constexpr std::uint64_t mask = (1u << Bits) - 1u;
    for (std::int64_t k = 0; k < count / 8; ++k) {
      std::uint64_t v = 0;
      for (int b = 0; b < Bits; ++b) v |= static_cast<std::uint64_t>(p[k * Bits + b]) << (8 * b);
      for (int j = 0; j < 8; ++j) out[8 * k + j] = static_cast<float>((v >> (j * Bits)) & mask);
    }
  }
}


}  // namespace glmq
