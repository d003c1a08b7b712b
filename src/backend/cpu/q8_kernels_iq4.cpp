// IQ4_XS × int8 activations. The 16 non-linear levels are looked up with vpshufb from a table shifted by +128 so
// they are unsigned (vpdpbusd multiplies unsigned by signed bytes); the shift adds 128·Σ qₓ per block, which is
// subtracted exactly in int32 from the activations' block sums. (IQ4_NL: q8_kernels_nibbles.cpp.)
#include "backend/cpu/q8_kernels.h"

#ifdef GLMQ_CPU_INT8_KERNELS
#include "backend/cpu/q8_kernel_util.h"

namespace glmq::cpu {

namespace {

using namespace q8;

// IQ4_XS: 136-byte super-blocks (d f16, 6-bit sub-block scales split over scales_h/scales_l, 8 × 16 code bytes laid out
// like IQ4_NL's); activations with one scale per 256 in Q8Order::NibbleGroups. y = d·(ls − 32)·level, so
// Σ y·x = d·dₓ·Σ_ib (ls_ib − 32)·(level·qₓ)_ib.
struct Iq4Xs {
  static constexpr std::size_t kBytes = 136;
  struct Super {
    float d;
    __m512i lo[2], hi[2], scale[2];
    explicit Super(const std::uint8_t* b) : d(f16(b)) {
      const __m512i m4 = _mm512_set1_epi8(0x0F), levels = shifted_iq4_levels();
      const __m512i per_block[2] = {_mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0),
                                    _mm512_set_epi32(7, 7, 7, 7, 6, 6, 6, 6, 5, 5, 5, 5, 4, 4, 4, 4)};
      const __m256i nibble_shift = _mm256_set_epi32(28, 24, 20, 16, 12, 8, 4, 0);
      const __m256i pair_shift = _mm256_set_epi32(14, 12, 10, 8, 6, 4, 2, 0);
      // ls − 32 per sub-block ib: bits 4ib..4ib+3 of scales_l (as one u32) and 2ib..2ib+1 of scales_h, in registers.
      std::uint16_t scales_h;
      std::uint32_t scales_l;
      std::memcpy(&scales_h, b + 2, 2);
      std::memcpy(&scales_l, b + 4, 4);
      const __m256i low = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(scales_l)), nibble_shift),
                                           _mm256_set1_epi32(0xF));
      const __m256i high = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(scales_h), pair_shift), _mm256_set1_epi32(3));
      const __m512i ls8 = _mm512_castsi256_si512(
          _mm256_sub_epi32(_mm256_or_si256(low, _mm256_slli_epi32(high, 4)), _mm256_set1_epi32(32)));
      for (int h = 0; h < 2; ++h) {
        const __m512i c = load512(b + 8 + 64 * h);
        lo[h] = _mm512_shuffle_epi8(levels, _mm512_and_si512(c, m4));
        hi[h] = _mm512_shuffle_epi8(levels, _mm512_and_si512(_mm512_srli_epi16(c, 4), m4));
        scale[h] = _mm512_permutexvar_epi32(per_block[h], ls8);
      }
    }
    __m512 accumulate(__m512 acc, const std::int8_t* a, const std::int16_t*, const std::int32_t* sum32, float dx) const {
      __m512i isum = _mm512_setzero_si512();
      for (int h = 0; h < 2; ++h) {
        __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo[h], load512(a + 128 * h));
        p = _mm512_dpbusd_epi32(p, hi[h], load512(a + 128 * h + 64));
        p = _mm512_sub_epi32(p, block_offsets<7>(sum32 + 4 * h));
        isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(p, scale[h]));
      }
      return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * dx), acc);
    }
  };
};

}  // namespace

void iq4_xs_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
                 float* y, std::int64_t y_stride) {
  for_rows<Blocks256<Iq4Xs>>(w, r0, r1, a, t0, t1, y, y_stride);
}

}  // namespace glmq::cpu
#endif
