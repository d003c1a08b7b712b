// IQ4_NL and IQ4_XS × int8 activations. The 16 non-linear levels are looked up with vpshufb from a table shifted
// by +128 so they are unsigned (vpdpbusd multiplies unsigned by signed bytes); the shift adds 128·Σ qₓ per block,
// which is subtracted exactly in int32 from the activations' block sums.
#include "backend/cpu/q8_kernels.h"

#ifdef GLMQ_CPU_INT8_KERNELS
#include "backend/cpu/q8_kernel_util.h"
#include "quant/ggml_iq_tables.h"

namespace glmq::cpu {

namespace {

using namespace q8;

inline __m512i shifted_levels() {
  alignas(16) std::uint8_t t[16];
  for (int i = 0; i < 16; ++i) t[i] = static_cast<std::uint8_t>(ggml::kValuesIq4nl[i] + 128);
  return _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(t)));
}

// 128·(Σ qₓ) of four 32-element blocks, placed in int32 lane 0 of each 128-bit lane (the block's lanes).
inline __m512i block_offsets(const std::int32_t* sum32) {
  const __m512i spread = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  return _mm512_slli_epi32(_mm512_maskz_permutexvar_epi32(0x1111, spread, _mm512_castsi128_si512(load128(sum32))), 7);
}

// IQ4_NL: 18-byte blocks (d f16, 16 code bytes: low nibbles elements 0..15, high 16..31); activations with one scale
// per 32 in Q8Order::NibbleGroups. Four blocks per step: their codes fill one 64-byte vector, one 128-bit lane each.
struct Iq4Nl {
  template <int NT>
  static void dot(const std::uint8_t* row, std::int64_t cols, const Tokens<NT>& tk, float* out) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), levels = shifted_levels();
    const __m512i per_block = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    const std::int64_t blocks = cols / 32, full = blocks / 4 * 4;
    __m512 acc[NT];
    float tail[NT];
    for (int i = 0; i < NT; ++i) {
      acc[i] = _mm512_setzero_ps();
      tail[i] = 0.0f;
    }
    for (std::int64_t g = 0; g < full; g += 4) {
      const std::uint8_t* b = row + g * 18;
      __m512i c = _mm512_castsi128_si512(load128(b + 2));
      c = _mm512_inserti32x4(c, load128(b + 20), 1);
      c = _mm512_inserti32x4(c, load128(b + 38), 2);
      c = _mm512_inserti32x4(c, load128(b + 56), 3);
      const __m512i lo = _mm512_shuffle_epi8(levels, _mm512_and_si512(c, m4));
      const __m512i hi = _mm512_shuffle_epi8(levels, _mm512_and_si512(_mm512_srli_epi16(c, 4), m4));
      std::uint16_t dh[4];
      for (int k = 0; k < 4; ++k) std::memcpy(&dh[k], b + 18 * k, 2);
      const __m128 dw = _mm_cvtph_ps(_mm_set_epi16(0, 0, 0, 0, static_cast<short>(dh[3]), static_cast<short>(dh[2]),
                                                   static_cast<short>(dh[1]), static_cast<short>(dh[0])));
      for (int i = 0; i < NT; ++i) {
        const std::int8_t* a = tk.q[i] + g * 32;
        __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, load512(a));
        p = _mm512_dpbusd_epi32(p, hi, load512(a + 64));
        p = _mm512_sub_epi32(p, block_offsets(tk.sum32[i] + g));
        const __m512 s = _mm512_permutexvar_ps(per_block, _mm512_castps128_ps512(_mm_mul_ps(dw, _mm_loadu_ps(tk.d[i] + g))));
        acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), s, acc[i]);
      }
    }
    const __m128i m4x = _mm_set1_epi8(0x0F), levels_x = _mm512_castsi512_si128(levels);
    for (std::int64_t g = full; g < blocks; ++g) {  // rows whose length is not a multiple of 128
      const std::uint8_t* b = row + g * 18;
      const __m128i c = load128(b + 2);
      const __m128i lo = _mm_shuffle_epi8(levels_x, _mm_and_si128(c, m4x));
      const __m128i hi = _mm_shuffle_epi8(levels_x, _mm_and_si128(_mm_srli_epi16(c, 4), m4x));
      const float dw = f16(b);
      for (int i = 0; i < NT; ++i) {
        const std::int8_t* a = tk.q[i] + g * 32;
        __m128i p = _mm_dpbusd_epi32(_mm_setzero_si128(), lo, load128(a));
        p = _mm_dpbusd_epi32(p, hi, load128(a + 16));
        const int dot = _mm_extract_epi32(p, 0) + _mm_extract_epi32(p, 1) + _mm_extract_epi32(p, 2) +
                        _mm_extract_epi32(p, 3) - 128 * tk.sum32[i][g];
        tail[i] += dw * tk.d[i][g] * static_cast<float>(dot);
      }
    }
    for (int i = 0; i < NT; ++i) out[i] = _mm512_reduce_add_ps(acc[i]) + tail[i];
  }
};

// IQ4_XS: 136-byte super-blocks (d f16, 6-bit sub-block scales split over scales_h/scales_l, 8 × 16 code bytes laid out
// like IQ4_NL's); activations with one scale per 256 in Q8Order::NibbleGroups. y = d·(ls − 32)·level, so
// Σ y·x = d·dₓ·Σ_ib (ls_ib − 32)·(level·qₓ)_ib.
struct Iq4Xs {
  template <int NT>
  static void dot(const std::uint8_t* row, std::int64_t cols, const Tokens<NT>& tk, float* out) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), levels = shifted_levels();
    const __m512i per_block[2] = {_mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0),
                                  _mm512_set_epi32(7, 7, 7, 7, 6, 6, 6, 6, 5, 5, 5, 5, 4, 4, 4, 4)};
    const __m256i nibble_shift = _mm256_set_epi32(28, 24, 20, 16, 12, 8, 4, 0);
    const __m256i pair_shift = _mm256_set_epi32(14, 12, 10, 8, 6, 4, 2, 0);
    __m512 acc[NT];
    for (int i = 0; i < NT; ++i) acc[i] = _mm512_setzero_ps();
    for (std::int64_t sb = 0; sb < cols / 256; ++sb) {
      const std::uint8_t* b = row + sb * 136;
      const float d = f16(b);
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
      __m512i lo[2], hi[2], scale[2];
      for (int h = 0; h < 2; ++h) {
        const __m512i c = load512(b + 8 + 64 * h);
        lo[h] = _mm512_shuffle_epi8(levels, _mm512_and_si512(c, m4));
        hi[h] = _mm512_shuffle_epi8(levels, _mm512_and_si512(_mm512_srli_epi16(c, 4), m4));
        scale[h] = _mm512_permutexvar_epi32(per_block[h], ls8);
      }
      for (int i = 0; i < NT; ++i) {
        const std::int8_t* a = tk.q[i] + sb * 256;
        __m512i isum = _mm512_setzero_si512();
        for (int h = 0; h < 2; ++h) {
          __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo[h], load512(a + 128 * h));
          p = _mm512_dpbusd_epi32(p, hi[h], load512(a + 128 * h + 64));
          p = _mm512_sub_epi32(p, block_offsets(tk.sum32[i] + sb * 8 + 4 * h));
          isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(p, scale[h]));
        }
        acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * tk.d[i][sb]), acc[i]);
      }
    }
    for (int i = 0; i < NT; ++i) out[i] = _mm512_reduce_add_ps(acc[i]);
  }
};

}  // namespace

void iq4_nl_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
                 float* y, std::int64_t y_stride) {
  for_rows<Iq4Nl>(w, r0, r1, a, t0, t1, y, y_stride);
}

void iq4_xs_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
                 float* y, std::int64_t y_stride) {
  for_rows<Iq4Xs>(w, r0, r1, a, t0, t1, y, y_stride);
}

}  // namespace glmq::cpu
#endif
