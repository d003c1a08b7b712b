// Q8_0 × int8 activations with one scale per 32. vpdpbusd multiplies unsigned by signed bytes, so each weight byte
// goes in as |w| and its sign moves onto the activation (x·w = |w|·(sign(w)·x)).
#include "backend/cpu/q8_kernels.h"

#ifdef GLMQ_CPU_INT8_KERNELS
#include "backend/cpu/q8_kernel_util.h"

namespace glmq::cpu {

namespace {

using namespace q8;

// 34-byte blocks: d f16, 32 signed codes; activations natural. Two blocks per 64-byte vector, four per group.
struct Q8_0 {
  static constexpr std::size_t kBytes = 34;

  struct Four {
    // The 136 bytes of four blocks as loads at 0, 64 and 72 (the last ends at the fourth block's end); blocks 0, 1
    // are gathered from the first two, blocks 2, 3 from the last two, their scales from the first two.
    static constexpr ByteIndex kCodes[2] = {
        [] {
          ByteIndex x{};
          for (int i = 0; i < 64; ++i) x.at[i] = static_cast<std::uint8_t>(i < 32 ? 2 + i : 4 + i);  // 2..33, 36..67
          return x;
        }(),
        [] {
          ByteIndex x{};  // 70..101 at 6..37 of the load at 64; 104..135 at 32..63 of the load at 72
          for (int i = 0; i < 64; ++i) x.at[i] = static_cast<std::uint8_t>(i < 32 ? 6 + i : 64 + i);
          return x;
        }()};
    static constexpr LanePattern kScales = [] {
      LanePattern x{};  // bytes 0, 34 (words 0, 17 of the first load), 68, 102 (words 2, 19 of the second)
      x.lane[0] = 0;
      x.lane[1] = 17;
      x.lane[2] = 32 + 2;
      x.lane[3] = 32 + 19;
      return x;
    }();

    __m512i mag[2];
    __mmask64 neg[2];
    __m128 d;
    explicit Four(const std::uint8_t* b) {
      const __m512i first = load512(b), mid = load512(b + 64), last = load512(b + 72);
      d = four_f16(_mm512_permutex2var_epi16(first, load_pattern(kScales), mid));
      const __m512i c[2] = {_mm512_permutex2var_epi8(first, load_index(kCodes[0]), mid),
                            _mm512_permutex2var_epi8(mid, load_index(kCodes[1]), last)};
      for (int h = 0; h < 2; ++h) {
        mag[h] = _mm512_abs_epi8(c[h]);
        neg[h] = _mm512_movepi8_mask(c[h]);
      }
    }
    __m512 accumulate(__m512 acc, const std::int8_t* a, const std::int32_t*, __m128 dx) const {
      // Blocks 2h and 2h + 1 fill the low and high halves of product h.
      const __m512i pairs[2] = {_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                                _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2)};
      const __m512 s = _mm512_castps128_ps512(_mm_mul_ps(d, dx));
      for (int h = 0; h < 2; ++h) {
        const __m512i x = load512(a + 64 * h);
        const __m512i signed_x = _mm512_mask_sub_epi8(x, neg[h], _mm512_setzero_si512(), x);
        const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), mag[h], signed_x);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_permutexvar_ps(pairs[h], s), acc);
      }
      return acc;
    }
  };

  struct One {
    __m256i mag;
    __mmask32 neg;
    float d;
    explicit One(const std::uint8_t* b) {
      const __m256i c = load256(b + 2);
      mag = _mm256_abs_epi8(c);
      neg = _mm256_movepi8_mask(c);
      d = f16(b);
    }
    float dot(const std::int8_t* a, std::int32_t, float dx) const {
      const __m256i x = load256(a);
      const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), mag, _mm256_mask_sub_epi8(x, neg, _mm256_setzero_si256(), x));
      return d * dx * static_cast<float>(hsum4(_mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1))));
    }
  };
};

}  // namespace

void q8_0_rows(const WeightMatrix& w, std::int64_t r0, std::int64_t r1, const Q8Rows& a, std::int64_t t0, std::int64_t t1,
               float* y, std::int64_t y_stride) {
  for_rows<Blocks32<Q8_0>>(w, r0, r1, a, t0, t1, y, y_stride);
}

}  // namespace glmq::cpu
#endif
