// IQ2_S × int8 activations with one scale per 256. Each group of 8 weights is a row of the 1024-entry grid
// (magnitudes 8, 25, 43) with its own sign byte; the signs are applied to the activations through a mask register.
#include "backend/cpu/q8_kernels.h"

#ifdef GLMQ_CPU_INT8_KERNELS
#include "backend/cpu/q8_kernel_util.h"
#include "quant/ggml_iq_tables.h"

namespace glmq::cpu {

namespace {

using namespace q8;

// Each 16 elements have their own 4-bit scale: 4 int32 lanes of a vpdpbusd result, chunks of 64 in pairs.
constexpr LanePattern kIq2sPairs[2] = {packed_pattern([](int v, int l) { return 4 * v + l / 4; }),
                                       packed_pattern([](int v, int l) { return 8 + 4 * v + l / 4; })};

// 82-byte super-blocks: d f16 @0, grid index low bytes @2, sign bytes @34, index high bits @66, scales @74.
// y = d·(0.5 + s)·0.25·grid·sign = d/8·(2s + 1)·grid·sign, so Σ y·x = d·dₓ/8·Σ_16 (2s + 1)·(grid·sign·qₓ).
struct Iq2S {
  static constexpr std::size_t kBytes = 82;
  struct Super {
    float d8;  // d/8 (exact: a power-of-two factor)
    __m512i grid[4], scale[2];
    __mmask64 neg[4];
    explicit Super(const std::uint8_t* b) : d8(f16(b) * 0.125f) {
      const __m256i high_shift = _mm256_set_epi32(2, 4, 6, 8, 2, 4, 6, 8);  // index bits 8-9 from qh bits 2l, 2l+1
      // The 16 scales 2s + 1 in element order (low nibble first) as int16.
      const __m128i s8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b + 74));
      const __m128i nib = _mm_unpacklo_epi8(_mm_and_si128(s8, _mm_set1_epi8(0x0F)), _mm_and_si128(_mm_srli_epi16(s8, 4), _mm_set1_epi8(0x0F)));
      const __m512i sc16 = _mm512_add_epi16(_mm512_slli_epi16(_mm512_cvtepu8_epi16(_mm256_zextsi128_si256(nib)), 1), _mm512_set1_epi16(1));
      for (int k = 0; k < 2; ++k) scale[k] = _mm512_permutexvar_epi16(load_pattern(kIq2sPairs[k]), sc16);
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
    __m512 accumulate(__m512 acc, const std::int8_t* a, const std::int16_t*, const std::int32_t*, float dx) const {
      __m512i p[4];
      for (int c = 0; c < 4; ++c) {
        const __m512i x = load512(a + 64 * c);
        p[c] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), grid[c], _mm512_mask_sub_epi8(x, neg[c], _mm512_setzero_si512(), x));
      }
      const __m512i isum = add_scaled(add_scaled(_mm512_setzero_si512(), p[0], p[1], scale[0]), p[2], p[3], scale[1]);
      return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d8 * dx), acc);
    }
  };
};

}  // namespace

void iq2_s_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
                float* y, std::int64_t y_stride) {
  for_rows<Blocks256<Iq2S>>(w, r0, r1, a, t0, t1, y, y_stride);
}

}  // namespace glmq::cpu
#endif
