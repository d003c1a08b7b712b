// The grid i-quants (IQ2_XXS, IQ2_S, IQ3_S) × int8 activations with one scale per 256, activations natural. Each
// group of 8 (IQ2) or 4 (IQ3_S) weights is a row of the type's grid of unsigned magnitudes (quant/ggml_iq_tables.h),
// looked up with gathers; every weight has its own sign bit, applied to the activations through a mask register
// (vpdpbusd multiplies unsigned by signed bytes, so the sign cannot stay with the weight).
#include "backend/cpu/q8_kernels.h"

#ifdef GLMQ_CPU_INT8_KERNELS
#include "backend/cpu/q8_kernel_util.h"
#include "quant/ggml_iq_tables.h"

namespace glmq::cpu {

namespace {

using namespace q8;

// A decoded super-block of any grid type: four 64-element chunks of magnitudes in natural order, their signs (bit e of
// neg[c]: element 64c + e is negative), scales for the chunk pairs (kSixteenPairs / kThirtyTwoPairs) and a float
// factor f, so Σ y·x = f·dₓ·Σ_sub scale·(grid·sign·qₓ).
struct SignedGrid {
  explicit SignedGrid(float factor) : f(factor) {}
  float f;
  __m512i grid[4], scale[2];
  __mmask64 neg[4];
  __m512 accumulate(__m512 acc, const std::int8_t* a, const std::int16_t*, const std::int32_t*, float dx) const {
    __m512i p[4];
    for (int c = 0; c < 4; ++c) {
      const __m512i x = load512(a + 64 * c);  // |qₓ| ≤ 127, so negating stays in int8
      p[c] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), grid[c], _mm512_mask_sub_epi8(x, neg[c], _mm512_setzero_si512(), x));
    }
    const __m512i isum = add_scaled(add_scaled(_mm512_setzero_si512(), p[0], p[1], scale[0]), p[2], p[3], scale[1]);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(f * dx), acc);
  }
};

// IQ2_XXS: 66-byte super-blocks: d f16 @0, then per 32 elements (sub-block ib) two u32 @2 + 8·ib: a0 = four grid
// indices (bytes), a1 = four 7-bit sign indices (bits 7l..7l+6) and the scale s (bits 28..31).
// y = d·(0.5 + s)·0.25·grid·sign = d/8·(2s + 1)·grid·sign.
struct Iq2Xxs {
  static constexpr std::size_t kBytes = 66;
  struct Super : SignedGrid {
    explicit Super(const std::uint8_t* b) : SignedGrid(f16(b) * 0.125f) {  // d/8: exact
      // Sub-block ib's a1 is the high half of 64-bit lane ib; its top nibble, narrowed, is int16 lane ib.
      const __m128i s = _mm512_cvtepi64_epi16(_mm512_srli_epi64(load512(b + 2), 60));
      const __m512i sc16 = _mm512_zextsi128_si512(_mm_add_epi16(_mm_slli_epi16(s, 1), _mm_set1_epi16(1)));
      for (int k = 0; k < 2; ++k) scale[k] = _mm512_permutexvar_epi16(load_pattern(kThirtyTwoPairs[k]), sc16);
      // Bytes 0..3 and 8..11 of a 16-byte pair of sub-blocks: the grid indices of both a0.
      const __m128i pick_a0 = _mm_set_epi8(-1, -1, -1, -1, -1, -1, -1, -1, 11, 10, 9, 8, 3, 2, 1, 0);
      for (int c = 0; c < 4; ++c) {  // 64 elements: sub-blocks 2c and 2c + 1, eight grid rows
        const std::uint8_t* pair = b + 2 + 16 * c;
        const __m256i idx = _mm256_cvtepu8_epi32(_mm_shuffle_epi8(load128(pair), pick_a0));
        grid[c] = _mm512_i32gather_epi64(idx, reinterpret_cast<const long long*>(ggml::kIq2xxsGrid), 8);
        // The eight sign indices, one per byte (bits 28..31, the scales, are left out), then each byte's parity as
        // its bit 7: kSignsIq2[i] is i with the bit that makes the number of negatives even.
        std::uint32_t a1[2];
        std::memcpy(&a1[0], pair + 4, 4);
        std::memcpy(&a1[1], pair + 12, 4);
        const std::uint64_t t = a1[0] | static_cast<std::uint64_t>(a1[1]) << 32;
        const std::uint64_t idx7 = (t & 0x0000007F0000007Full) | ((t << 1) & 0x00007F0000007F00ull) |
                                   ((t << 2) & 0x007F0000007F0000ull) | ((t << 3) & 0x7F0000007F000000ull);
        std::uint64_t parity = idx7 ^ (idx7 >> 4);  // bit 0 of each byte: the xor of its bits (bit 7 is clear)
        parity ^= parity >> 2;
        parity ^= parity >> 1;
        neg[c] = _cvtu64_mask64(idx7 | (parity & 0x0101010101010101ull) << 7);
      }
    }
  };
};

// IQ2_S: 82-byte super-blocks: d f16 @0, grid index low bytes @2, sign bytes @34, index high bits @66, scales @74
// (a nibble per 16 elements). y = d·(0.5 + s)·0.25·grid·sign = d/8·(2s + 1)·grid·sign.
struct Iq2S {
  static constexpr std::size_t kBytes = 82;
  struct Super : SignedGrid {
    explicit Super(const std::uint8_t* b) : SignedGrid(f16(b) * 0.125f) {  // d/8: exact
      const __m256i high_shift = _mm256_set_epi32(2, 4, 6, 8, 2, 4, 6, 8);  // index bits 8-9 from qh bits 2l, 2l+1
      // The 16 scales 2s + 1 in element order (low nibble first) as int16.
      const __m128i s8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b + 74));
      const __m128i nib = _mm_unpacklo_epi8(_mm_and_si128(s8, _mm_set1_epi8(0x0F)), _mm_and_si128(_mm_srli_epi16(s8, 4), _mm_set1_epi8(0x0F)));
      const __m512i sc16 = _mm512_add_epi16(_mm512_slli_epi16(_mm512_cvtepu8_epi16(_mm256_zextsi128_si256(nib)), 1), _mm512_set1_epi16(1));
      for (int k = 0; k < 2; ++k) scale[k] = _mm512_permutexvar_epi16(load_pattern(kSixteenPairs[k]), sc16);
      for (int c = 0; c < 4; ++c) {  // 64 elements: sub-blocks 2c and 2c + 1, eight grid rows
        const __m256i low = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b + 2 + 8 * c)));
        const __m256i qh = _mm256_set_m128i(_mm_set1_epi32(b[66 + 2 * c + 1]), _mm_set1_epi32(b[66 + 2 * c]));
        const __m256i high = _mm256_and_si256(_mm256_sllv_epi32(qh, high_shift), _mm256_set1_epi32(0x300));
        grid[c] = _mm512_i32gather_epi64(_mm256_or_si256(low, high), reinterpret_cast<const long long*>(ggml::kIq2sGrid), 8);
        std::uint64_t signs;
        std::memcpy(&signs, b + 34 + 8 * c, 8);
        neg[c] = _cvtu64_mask64(signs);
      }
    }
  };
};

// IQ3_S: 110-byte super-blocks: d f16 @0, grid index low bytes @2 (one per 4 elements), their 9th bits qh @66 (bit k of
// qh[ib] for index 8·ib + k), sign bits @74 (bit e for element e), scales @106 (a nibble per 32 elements, low
// first). y = d·(1 + 2s)·grid·sign.
struct Iq3S {
  static constexpr std::size_t kBytes = 110;
  struct Super : SignedGrid {
    explicit Super(const std::uint8_t* b) : SignedGrid(f16(b)) {
      std::uint32_t packed;
      std::memcpy(&packed, b + 106, 4);
      const __m128i s8 = _mm_cvtsi32_si128(static_cast<int>(packed)), m4 = _mm_set1_epi8(0x0F);
      const __m128i nib = _mm_unpacklo_epi8(_mm_and_si128(s8, m4), _mm_and_si128(_mm_srli_epi16(s8, 4), m4));
      const __m128i sc = _mm_add_epi16(_mm_slli_epi16(_mm_cvtepu8_epi16(nib), 1), _mm_set1_epi16(1));
      for (int k = 0; k < 2; ++k) scale[k] = _mm512_permutexvar_epi16(load_pattern(kThirtyTwoPairs[k]), _mm512_zextsi128_si512(sc));
      const __m512i ninth = _mm512_set1_epi32(256);
      for (int c = 0; c < 4; ++c) {  // 64 elements: sub-blocks 2c and 2c + 1, sixteen grid rows
        std::uint16_t high;  // qh[2c] and qh[2c + 1]: bit i for index 16c + i
        std::memcpy(&high, b + 66 + 2 * c, 2);
        __m512i idx = _mm512_cvtepu8_epi32(load128(b + 2 + 16 * c));
        idx = _mm512_mask_or_epi32(idx, _cvtu32_mask16(high), idx, ninth);
        grid[c] = _mm512_i32gather_epi32(idx, ggml::kIq3sGrid, 4);
        std::uint64_t signs;
        std::memcpy(&signs, b + 74 + 8 * c, 8);
        neg[c] = _cvtu64_mask64(signs);
      }
    }
  };
};

}  // namespace

void iq2_xxs_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
                  float* y, std::int64_t y_stride) {
  for_rows<Blocks256<Iq2Xxs>>(w, r0, r1, a, t0, t1, y, y_stride);
}

void iq2_s_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
                float* y, std::int64_t y_stride) {
  for_rows<Blocks256<Iq2S>>(w, r0, r1, a, t0, t1, y, y_stride);
}

void iq3_s_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
                float* y, std::int64_t y_stride) {
  for_rows<Blocks256<Iq3S>>(w, r0, r1, a, t0, t1, y, y_stride);
}

}  // namespace glmq::cpu
#endif
