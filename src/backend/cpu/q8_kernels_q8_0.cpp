// Q8_0 × int8 activations with one scale per 32. vpdpbusd multiplies unsigned by signed bytes, so each weight byte
// goes in as |w| and its sign moves onto the activation (x·w = |w|·(sign(w)·x)).
#include "backend/cpu/q8_kernels.h"

#ifdef GLMQ_CPU_INT8_KERNELS
#include "backend/cpu/q8_kernel_util.h"

namespace glmq::cpu {

namespace {

using namespace q8;

// 34-byte blocks: d f16, 32 signed codes. Two blocks per 64-byte vector, four per step.
struct Q8_0 {
  template <int NT>
  static void dot(const std::uint8_t* row, std::int64_t cols, const Tokens<NT>& tk, float* out) {
    const __m512i pairs[2] = {_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                              _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2)};
    const std::int64_t blocks = cols / 32, full = blocks / 4 * 4;
    __m512 acc[NT];
    float tail[NT];
    for (int i = 0; i < NT; ++i) {
      acc[i] = _mm512_setzero_ps();
      tail[i] = 0.0f;
    }
    for (std::int64_t g = 0; g < full; g += 4) {
      const std::uint8_t* b = row + g * 34;
      __m512i mag[2];
      __mmask64 neg[2];
      for (int h = 0; h < 2; ++h) {
        const __m512i c = _mm512_inserti64x4(_mm512_castsi256_si512(load256(b + 68 * h + 2)), load256(b + 68 * h + 36), 1);
        mag[h] = _mm512_abs_epi8(c);
        neg[h] = _mm512_movepi8_mask(c);
      }
      std::uint16_t dh[4];
      for (int k = 0; k < 4; ++k) std::memcpy(&dh[k], b + 34 * k, 2);
      const __m128 dw = _mm_cvtph_ps(_mm_set_epi16(0, 0, 0, 0, static_cast<short>(dh[3]), static_cast<short>(dh[2]),
                                                   static_cast<short>(dh[1]), static_cast<short>(dh[0])));
      for (int i = 0; i < NT; ++i) {
        const std::int8_t* a = tk.q[i] + g * 32;
        const __m512 s = _mm512_castps128_ps512(_mm_mul_ps(dw, _mm_loadu_ps(tk.d[i] + g)));
        for (int h = 0; h < 2; ++h) {
          const __m512i x = load512(a + 64 * h);
          const __m512i signed_x = _mm512_mask_sub_epi8(x, neg[h], _mm512_setzero_si512(), x);
          const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), mag[h], signed_x);
          acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_permutexvar_ps(pairs[h], s), acc[i]);
        }
      }
    }
    for (std::int64_t g = full; g < blocks; ++g) {  // rows whose length is not a multiple of 128
      const std::uint8_t* b = row + g * 34;
      const __m256i c = load256(b + 2);
      const __m256i mag = _mm256_abs_epi8(c);
      const __mmask32 neg = _mm256_movepi8_mask(c);
      const float dw = f16(b);
      for (int i = 0; i < NT; ++i) {
        const __m256i x = load256(tk.q[i] + g * 32);
        const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), mag, _mm256_mask_sub_epi8(x, neg, _mm256_setzero_si256(), x));
        const __m128i p4 = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
        const int dot = _mm_extract_epi32(p4, 0) + _mm_extract_epi32(p4, 1) + _mm_extract_epi32(p4, 2) + _mm_extract_epi32(p4, 3);
        tail[i] += dw * tk.d[i][g] * static_cast<float>(dot);
      }
    }
    for (int i = 0; i < NT; ++i) out[i] = _mm512_reduce_add_ps(acc[i]) + tail[i];
  }
};

}  // namespace

void q8_0_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
               float* y, std::int64_t y_stride) {
  for_rows<Q8_0>(w, r0, r1, a, t0, t1, y, y_stride);
}

}  // namespace glmq::cpu
#endif
